"""The Celery application, as in the seed: ``celery -A main worker``."""

import logging
import os

from celery import Celery, signals

app = Celery('route_check', include=['add_task', 'check_worker'])
app.config_from_object('celeryconfig')  # BROKER_URL and RESULT_BACKEND are read there
task_log = logging.getLogger('route_check.tasks')

# Celery's two lines per task ("received", "succeeded in") at INFO; TASK_LOG_LEVEL=INFO brings
# them back. Failures are logged at ERROR whatever this says; Flower shows every task. The one
# line naming a gateway request's id (below) stays: it is how a request is followed here.
TASK_LOG_LEVEL = os.environ.get('TASK_LOG_LEVEL', 'WARNING').upper()
PER_TASK_LOGGERS = ('celery.worker.strategy', 'celery.app.trace')


@signals.celeryd_init.connect
def _worker_settings(conf, **_) -> None:
    """Settings for workers only.

    No publisher confirms: workers publish only task events, which need no confirm. With confirms
    on, a pool thread of the thread-pool worker waits for a confirm that the consumer loop reads
    off the shared connection, holding the event lock forever: the worker stalls under load
    (bench/README.md). Clients (the gateway's own publisher, Python callers) keep confirms.

    One result backend (one Redis connection pool) for the whole worker instead of one per pool
    thread, or per task under a green pool, where every task would open a new Redis connection.
    Clients keep Celery's default: a backend per thread, whose result consumer is not shared."""
    conf.broker_transport_options = {**conf.broker_transport_options, 'confirm_publish': False}
    conf.result_backend_thread_safe = True


@signals.after_setup_logger.connect
def _per_task_log_level(**_) -> None:
    for name in PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(TASK_LOG_LEVEL)


@signals.task_prerun.connect
def _log_request_id(task_id: str, task, **_) -> None:
    """The gateway's X-Request-ID travels in the task's headers (``request_id``): name it in the
    worker's log, next to the task id, so a request can be followed from the gateway's log here.
    One line per task from the gateway, in place of Celery's two (TASK_LOG_LEVEL)."""
    request_id = getattr(task.request, 'request_id', None)
    if request_id:
        task_log.info('Task %s[%s] request_id=%s', task.name, task_id, request_id)
