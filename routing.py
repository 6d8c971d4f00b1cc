"""The routes table: every task by the name Celery gives it (module.function), its queue, which
worker consumes which queues, and how long a task is worth running. celeryconfig.py builds Celery's
queues and routes from it; the gateway, tests and bench read task and queue names from here."""

import os

ADD = 'add_task.add'
HTTP_CHECK = 'check_worker.check'
TCP_CHECK = 'check_worker.common_check'  # the seed's name for it
HTTP_CHECK_NO_RESULT = 'check_worker.check_ignore_result'
QUEUE_OF = {
    ADD: 'add_queue',
    TCP_CHECK: 'common_check',
    HTTP_CHECK: 'route_check',
    HTTP_CHECK_NO_RESULT: 'route_check_ignore_result',
}
# What each worker of supervisord.conf consumes: CPU work (prefork) apart from network waits (threads).
ADD_WORKER_QUEUES = (QUEUE_OF[ADD], 'default')
CHECK_WORKER_QUEUES = (QUEUE_OF[HTTP_CHECK], QUEUE_OF[TCP_CHECK], QUEUE_OF[HTTP_CHECK_NO_RESULT])
ALL_QUEUES = ADD_WORKER_QUEUES + CHECK_WORKER_QUEUES

# Seconds after sending that a task is no longer worth running: a worker discards it (state
# REVOKED, reason "expired") instead of reporting a route's state from minutes ago as now.
CHECK_EXPIRES = float(os.environ.get('CHECK_EXPIRES', 60))
ADD_EXPIRES = float(os.environ.get('ADD_EXPIRES', 30))
