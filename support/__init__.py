"""Helpers that run the real system's processes, shared by tests/ and bench/: starting, waiting
for and stopping process groups (process), private RabbitMQ vhosts (rabbit), and the Celery
worker command line (worker)."""
