"""The routes table: every task by the name Celery gives it (module.function), its queue, which
worker consumes which queues, where a check worker is, and how long a task is worth running.
celeryconfig.py builds Celery's queues and routes from it; the gateway, tests and bench read task
and queue names from here."""

import os
import re

ADD = 'add_task.add'
HTTP_CHECK = 'check_worker.check'
TCP_CHECK = 'check_worker.common_check'  # the seed's name for it
HTTP_CHECK_NO_RESULT = 'check_worker.check_ignore_result'
CHECK_MANY = 'check_worker.check_many'  # a chunk of a bulk request's checks, run concurrently
QUEUE_OF = {
    ADD: 'add_queue',
    TCP_CHECK: 'common_check',
    HTTP_CHECK: 'route_check',
    HTTP_CHECK_NO_RESULT: 'route_check_ignore_result',
    CHECK_MANY: 'route_check_bulk',
}
# What each worker of supervisord.conf consumes: CPU work (prefork) apart from network waits (threads).
ADD_WORKER_QUEUES = (QUEUE_OF[ADD], 'default')
CHECK_WORKER_QUEUES = (QUEUE_OF[HTTP_CHECK], QUEUE_OF[TCP_CHECK], QUEUE_OF[HTTP_CHECK_NO_RESULT],
                       QUEUE_OF[CHECK_MANY])
ALL_QUEUES = ADD_WORKER_QUEUES + CHECK_WORKER_QUEUES

# Locations. A check worker named ``check.<location>@<host>`` (supervisord.conf: LOCATION) also
# consumes one queue per located task for its location, e.g. ``route_check.east``: the gateway
# sends a check there to run it from that place. Several machines may serve one location and
# share its queues. A check worker named without a location is at its host's short name.
CHECK_NODE = 'check'
LOCATED = (HTTP_CHECK, TCP_CHECK, CHECK_MANY)
LOCATION_NAME = re.compile(r'[A-Za-z0-9_-]{1,64}', re.ASCII)


def located_queue(task: str, location: str) -> str:
    """The queue of ``task`` at ``location``."""
    return f'{QUEUE_OF[task]}.{location}'


def located_queues(location: str) -> tuple[str, ...]:
    return tuple(located_queue(task, location) for task in LOCATED)


def location_of(node: str) -> str | None:
    """The location of a check worker by its node name, or None when it is no check worker."""
    name, _, host = node.partition('@')
    role, dot, location = name.partition('.')
    if role != CHECK_NODE:
        return None
    return location if dot else host.split('.')[0]


# Seconds after sending that a task is no longer worth running: a worker discards it (state
# REVOKED, reason "expired") instead of reporting a route's state from minutes ago as now.
CHECK_EXPIRES = float(os.environ.get('CHECK_EXPIRES', 60))
ADD_EXPIRES = float(os.environ.get('ADD_EXPIRES', 30))
