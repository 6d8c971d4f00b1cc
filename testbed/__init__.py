"""Helpers that run the real system's processes, shared by tests/ and bench/: starting, waiting
for and stopping process groups (process), private RabbitMQ vhosts (vhosts) and nodes
(private_rabbit), /proc readings (procfs), the Celery worker command line (worker_command), and
the generated blocks of the docs (doc_blocks)."""
