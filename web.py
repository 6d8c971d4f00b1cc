"""The Tornado 6 gateway: HTTP in, Celery tasks out, results back, without blocking the loop.

    python web.py            # WEB_HOST, WEB_PORT, WEB_WAIT: see Settings

Several processes can serve one port (SO_REUSEPORT); supervisord starts one per core.
Importing this module wires nothing: ``make_app`` takes the producer and the target policy, and
``python web.py`` builds the real ones (``run``).
"""

from __future__ import annotations

import asyncio
import logging
import os

import tornado.web
import uvloop

import tcelery
from common.http import bounded_server
from common.lifecycle import stop_requested
from gateway import access_log, metrics
from gateway.base import InFlight, NotFoundHandler
from gateway.bulk import ChecksHandler
from gateway.handlers import AddHandler, CheckHandler, ResultHandler
from gateway.locations import LocationsHandler
from gateway.ops import HealthHandler, MetricsHandler, OpenApiHandler
from gateway.probe import ProbeHandler
from gateway.settings import Settings
from gateway.task_api import (
    ApplyAsyncHandler,
    ApplyHandler,
    TaskResultHandler,
    TaskRevokeHandler,
    TasksHandler,
    check_settings,
)
from probe import modules
from probe.policy import Policy
from tcelery.workers import LiveWorkers

log = logging.getLogger('web')

urls = [
    (r'/add', AddHandler),
    (r'/check', CheckHandler),
    (r'/checks', ChecksHandler),
    (r'/probe', ProbeHandler),
    (r'/locations', LocationsHandler),
    tornado.web.url(r'/result/([0-9a-fA-F-]{36})', ResultHandler, name='result'),
    (r'/healthz', HealthHandler),
    (r'/metrics', MetricsHandler),
    (r'/openapi.json', OpenApiHandler),
    # tornado-celery's API, for the tasks of TASK_API_TASKS (gateway/task_api.py)
    (r'/', TasksHandler),
    (r'/apply-async/([^/]{1,200})/', ApplyAsyncHandler),
    (r'/apply/([^/]{1,200})/', ApplyHandler),
    (r'/tasks/result/([0-9a-fA-F-]{36})/', TaskResultHandler),
    (r'/tasks/revoke/([0-9a-fA-F-]{36})/', TaskRevokeHandler),
]


def make_app(settings: Settings, producer: tcelery.NonBlockingProducer, policy: Policy,
             workers: LiveWorkers) -> tornado.web.Application:
    """The gateway, sending tasks through ``producer`` to targets ``policy`` allows, at the
    locations of the live ``workers``. A bad probe modules file (settings.probe_config) stops it
    here, naming the key."""
    check_settings(settings, producer.app)  # TASK_API_TASKS and its token
    return tornado.web.Application(urls, default_handler_class=NotFoundHandler, route_check=settings,
                                   producer=producer, policy=policy, workers=workers, in_flight=InFlight(),
                                   probe_modules=modules.load(settings.probe_config),
                                   log_function=access_log.request_logger(settings.access_log))


async def serve(settings: Settings, producer: tcelery.NonBlockingProducer,
                policy: Policy) -> None:
    workers = LiveWorkers(producer.app)
    workers.start()
    app = make_app(settings, producer, policy, workers)
    # Bodies of 64 KiB at most (POST /checks allows its own), each read within its deadline.
    server = bounded_server(app, max_header_size=64 * 1024, body_timeout=settings.body_timeout,
                            max_connections=settings.max_connections)
    server.listen(settings.port, address=settings.host, reuse_port=True)
    log.info('listening on http://%s:%d (pid %d)', settings.host, settings.port, os.getpid())
    await stop_requested()
    # Stop taking connections, let requests in flight finish, then close the broker and Redis
    # connections. Idle keep-alive connections just close with us.
    server.stop()
    in_flight: InFlight = app.settings['in_flight']
    log.info('stopping: %d request(s) in flight', in_flight.count)
    try:
        await asyncio.wait_for(in_flight.idle(), settings.longest_request)
    except TimeoutError:
        log.warning('stopping with %d request(s) still in flight', in_flight.count)
    await workers.close()
    await producer.close()


def run() -> None:
    """``python web.py``: the Celery app of main.py, its tasks, and the environment's policy."""
    from main import app

    # The tasks' own options (ignore_result) go into their messages, as Celery's apply_async does.
    app.loader.import_default_modules()
    settings = Settings.from_env()
    access_log.configure(settings.log_format)
    producer = tcelery.setup_nonblocking_producer(
        celery_app=app, observer=metrics.MetricsObserver(),
        max_backlog=settings.backlog_limit or None, management_url=settings.management_url)
    # uvloop: ~5% less CPU per request than asyncio's own loop (make bench).
    uvloop.run(serve(settings, producer, Policy.from_env()))


if __name__ == '__main__':
    run()
