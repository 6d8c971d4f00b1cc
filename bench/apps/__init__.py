"""The programs the bench starts and loads, each in a process of its own: the comparison
gateways (uWSGI + Flask, the FastAPI peer, the naive Tornado gateway, bare: the libraries alone,
the Tornado floor), the plain Celery client, the check worker's Celery app of the pool variants,
and the slow upstream every /check calls (with a variant that records how late each check came).
Each runs as `python -m bench.apps.<name>` (or under uWSGI, uvicorn, `celery -A`); none imports
the runner.
"""
