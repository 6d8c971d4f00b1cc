"""The Celery application, as in the seed: ``celery -A main worker``."""

from celery import Celery, signals

app = Celery('route_check', include=['add_task', 'check_worker'])
app.config_from_object('celeryconfig')  # BROKER_URL and RESULT_BACKEND are read there


@signals.celeryd_init.connect
def _no_publisher_confirms_in_workers(conf, **_) -> None:
    """Workers publish without confirms; clients (the gateway, Python callers) keep them.

    Workers publish only task events, which need no confirm. With confirms on, a pool thread of
    the thread-pool worker would wait for a confirm that the consumer loop reads off the shared
    connection, holding the event lock forever, and the worker would stall under load
    (bench/README.md)."""
    conf.broker_transport_options = {**conf.broker_transport_options, 'confirm_publish': False}
