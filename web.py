"""The Tornado 6 gateway: HTTP in, Celery tasks out, results back, without blocking the loop.

    python web.py            # WEB_HOST, WEB_PORT, WEB_WAIT: see Settings

Several processes can serve one port (SO_REUSEPORT); supervisord starts one per core.
Importing this module wires nothing: ``make_app`` takes the producer and the target policy, and
``python web.py`` builds the real ones (``run``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import tornado.web
import uvloop
from celery import states
from tornado.httpserver import HTTPServer

import access_log
import celeryconfig as routes
import gateway_metrics
import openapi
import route_policy
import tcelery
from lifecycle import stop_requested

log = logging.getLogger('web')

MAX_INT = 2**62  # so that x + y stays within 64 bits, for a worker in any language
MAX_URI = 8 * 1024
MAX_HEADERS = 16 * 1024
TRUE, FALSE = {'1', 'true', 'yes', 'on'}, {'0', 'false', 'no', 'off', ''}
UNAVAILABLE = 'the task queue is unavailable and did not accept the task; retry later'
REQUEST_ID = re.compile(r'[A-Za-z0-9._:/+=@-]{1,128}', re.ASCII)  # what a client's X-Request-ID may be
# A made-up request id: a random per-process prefix and a counter, unique across processes and
# restarts, at a fraction of uuid4's cost (which reads the kernel's random source each time).
_REQUEST_PREFIX, _request_numbers = secrets.token_hex(8), itertools.count()


def new_request_id() -> str:
    return f'{_REQUEST_PREFIX}{next(_request_numbers):016x}'


@dataclass(frozen=True)
class Settings:
    host: str = '127.0.0.1'
    port: int = 8889
    wait: float = 10.0  # seconds a request waits for its result before answering 202
    resolve_timeout: float = 3.0
    access_log: bool = False  # a line per answered request; errors are logged either way
    log_format: str = 'text'  # or 'json': one JSON object per line
    # Refuse (503) a task whose queue would take longer than this to drain; None: half of wait;
    # 0: never refuse.
    max_backlog: float | None = None

    @property
    def longest_request(self) -> float:
        """Resolve, publish (tcelery bounds it at 5 s), subscribe and GET (2 s each), then wait."""
        return self.resolve_timeout + 5 + 2 * 2 + self.wait

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get('WEB_HOST', cls.host),
            port=int(os.environ.get('WEB_PORT', cls.port)),
            wait=float(os.environ.get('WEB_WAIT', cls.wait)),
            access_log=os.environ.get('WEB_ACCESS_LOG', '0').strip().lower() in TRUE,
            log_format=os.environ.get('LOG_FORMAT', cls.log_format).strip().lower(),
            max_backlog=float(backlog) if (backlog := os.environ.get('MAX_BACKLOG_SECONDS')) else None,
        )

    @property
    def backlog_limit(self) -> float:
        """Work queued beyond WEB_WAIT would end as 202s that nobody waits for; half of it leaves
        the other half for the task itself and for the error of the measured drain rate."""
        return self.wait / 2 if self.max_backlog is None else self.max_backlog


class InFlight:
    """Counts requests being handled, so a stopping process can let them finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        gateway_metrics.IN_FLIGHT.inc()
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        gateway_metrics.IN_FLIGHT.dec()
        if not self.count:
            self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


class ApiError(tornado.web.HTTPError):
    """An error whose message is meant for the client."""

    def __init__(self, status: int, message: str, cause: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(status, reason=None)
        self.message = message
        self.cause = cause  # for the log only
        self.headers = headers or {}
        self.extra = extra


class ApiHandler(tornado.web.RequestHandler):
    """JSON in every answer, errors included; never a traceback. Every answer carries the
    request's X-Request-ID."""

    endpoint = 'unmatched'  # the metrics' and the access log's name for the handler's URL
    _counted = False
    request_id: str | None = None
    task_id: str | None = None  # for the access log, once known
    refusal: str | None = None  # why the answer is an error, for the access log

    def set_default_headers(self) -> None:  # also after clear(), which an error answer calls
        if self.request_id is None:
            given = self.request.headers.get('X-Request-ID', '')
            self.request_id = given if REQUEST_ID.fullmatch(given) else new_request_id()
        self.set_header('X-Request-ID', self.request_id)

    def prepare(self) -> None:
        self.application.settings['in_flight'].enter()
        self._counted = True
        if len(self.request.uri or '') > MAX_URI:
            raise ApiError(414, f'request URI longer than {MAX_URI} bytes')
        if sum(len(k) + len(v) for k, v in self.request.headers.get_all()) > MAX_HEADERS:
            raise ApiError(431, f'request headers larger than {MAX_HEADERS} bytes')

    def on_finish(self) -> None:  # tornado calls it once the handler finished, client gone or not
        if self._counted:
            self._counted = False
            self.application.settings['in_flight'].leave()

    def compute_etag(self) -> None:
        """No ETag: an answer is a fresh result, never worth hashing for a conditional GET."""
        return None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get('exc_info', (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.refusal = exc.message if exc.cause is None else f'{exc.message} ({exc.cause})'
            for name, value in exc.headers.items():
                self.set_header(name, value)
            self.finish({'error': exc.message, **exc.extra})
        else:  # tornado's own 4xx (e.g. 405) or an unexpected 500: the reason phrase only
            if status_code == 405:  # RFC 9110: a 405 lists the methods there are
                self.set_header('Allow', 'GET')
            self.refusal = self._reason
            self.finish({'error': self._reason})

    @property
    def web_settings(self) -> Settings:
        return self.application.settings['route_check']

    @property
    def producer(self) -> tcelery.NonBlockingProducer:
        return self.application.settings['producer']

    @property
    def policy(self) -> route_policy.Policy:
        return self.application.settings['policy']

    def int_argument(self, name: str) -> int:
        raw = self.get_argument(name, '0').strip()  # missing means 0, as in the seed
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f'{name} must be an integer, got {raw[:50]!r}') from None
        if abs(value) > MAX_INT:
            raise ApiError(400, f'{name} must be between {-MAX_INT} and {MAX_INT}')
        return value

    def bool_argument(self, name: str) -> bool:
        raw = self.get_argument(name, '').strip().lower()
        if raw not in TRUE | FALSE:
            raise ApiError(400, f'{name} must be 1 or 0, got {raw[:20]!r}')
        return raw in TRUE

    def float_argument(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.get_argument(name, None)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ApiError(400, f'{name} must be a number, got {raw[:20]!r}') from None
        if not low <= value <= high:
            raise ApiError(400, f'{name} must be between {low:g} and {high:g}')
        return value

    @property
    def task_headers(self) -> dict[str, str]:
        """Headers of the task's message: the worker logs the request id, Flower shows it."""
        return {'request_id': self.request_id or ''}

    async def run_task(self, task: str, args: list) -> tcelery.TaskResult | None:
        """Run the task and return its result; or answer 202/503 and return None."""
        try:
            result = await self.producer.apply_async(task, args, timeout=self.web_settings.wait,
                                                     headers=self.task_headers)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.Overloaded as exc:
            raise overloaded(exc) from None
        except (tcelery.ResultTimeout, tcelery.ResultBackendUnavailable) as exc:
            gateway_metrics.RESULT_WAITS_ACCEPTED.labels(
                'timeout' if isinstance(exc, tcelery.ResultTimeout) else 'result_backend_unavailable').inc()
            self.accepted(exc.task_id)
            return None
        self.task_id = result.task_id
        self.producer.forget(result.task_id)  # delivered with this answer, 200 or 502
        if result.status != 'SUCCESS':
            raise ApiError(502, f'task {shown_status(result).lower()}', task_id=result.task_id,
                           detail=result.result)
        return result

    def accepted(self, task_id: str) -> None:
        self.task_id = task_id
        location = self.reverse_url('result', task_id)
        self.set_status(202)
        self.set_header('Location', location)
        self.finish({'task_id': task_id, 'status': 'PENDING', 'location': location})

    async def vet(self, host: str, port: int) -> None:
        """Refuse a target before any task is sent; the worker checks again when it connects."""
        addresses = route_policy.literal_addresses(host)
        if addresses is None:
            addresses = await self.resolve(host, port)
        try:
            self.policy.choose(host, addresses)
        except route_policy.TargetRefused as exc:
            raise ApiError(403, f'target refused: {exc}') from None

    async def resolve(self, host: str, port: int) -> list[str]:
        """The loop's resolver runs getaddrinfo in a thread: only names take that trip."""
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.web_settings.resolve_timeout)
        except TimeoutError:  # our resolver is slow or busy: not the client's fault
            raise ApiError(503, 'name resolution timed out; retry later') from None
        except (OSError, UnicodeError):
            raise ApiError(400, f'{host} does not resolve') from None
        return route_policy.addresses_of(infos)


def unavailable(exc: tcelery.BrokerUnavailable) -> ApiError:
    """The 503 of a task the broker did not accept, counted."""
    gateway_metrics.BROKER_UNAVAILABLE.inc()
    return ApiError(503, UNAVAILABLE, cause=str(exc))


class AddHandler(ApiHandler):
    endpoint = '/add'

    async def get(self) -> None:
        x, y = self.int_argument('x'), self.int_argument('y')
        result = await self.run_task(routes.ADD, [x, y])
        if result is not None:
            self.finish({'results': result.result})


class CheckHandler(ApiHandler):
    """``?url=`` for an HTTP(S) check, ``?host=&port=`` for a TCP connect check."""

    endpoint = '/check'

    async def get(self) -> None:
        url, host = self.get_argument('url', None), self.get_argument('host', None)
        ignore_result = self.bool_argument('ignore_result')
        timeout = self.float_argument('timeout', route_policy.DEFAULT_TIMEOUT, route_policy.MIN_TIMEOUT,
                                      route_policy.MAX_TIMEOUT)
        if (url is None) == (host is None):
            raise ApiError(400, 'give either url, or host and port')
        try:
            if url is not None:
                target = route_policy.parse_url(url)
                task = routes.HTTP_CHECK_NO_RESULT if ignore_result else routes.HTTP_CHECK
                args = [target.url, self.bool_argument('follow_redirects'), timeout]
                host, port = target.host, target.port
            else:
                if ignore_result:
                    raise ApiError(400, 'ignore_result applies to url checks only')
                host = route_policy.validate_host(host)
                port = route_policy.validate_port(self.get_argument('port', ''))
                task, args = routes.TCP_CHECK, [host, port, timeout]
        except route_policy.TargetRefused as exc:
            raise ApiError(400, str(exc)) from None
        await self.vet(host, port)
        if ignore_result:
            await self.send_only(task, args)
            return
        result = await self.run_task(task, args)
        if result is not None:
            self.finish({'task_id': result.task_id, **result.result})

    async def send_only(self, task: str, args: list) -> None:
        try:
            task_id = self.task_id = await self.producer.send(task, args, headers=self.task_headers)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.Overloaded as exc:
            raise overloaded(exc) from None
        # Fire and forget: the task stores no result, so there is nothing to poll.
        self.set_status(202)
        self.finish({'task_id': task_id, 'status': 'SENT'})


class ResultHandler(ApiHandler):
    endpoint = '/result/{task_id}'

    async def get(self, task_id: str) -> None:
        try:
            result = await self.producer.result(task_id)
        except tcelery.ResultBackendUnavailable:
            raise ApiError(503, 'the result store is unavailable, retry later') from None
        if result.status in states.READY_STATES:  # read once: a 202's result stays until then
            self.producer.forget(task_id)
        self.finish({'task_id': task_id, 'status': shown_status(result), 'result': result.result})


def overloaded(exc: tcelery.Overloaded) -> ApiError:
    """Busy: the task was not sent; the client may retry after ``Retry-After`` seconds."""
    gateway_metrics.OVERLOADED.labels(exc.queue).inc()
    return ApiError(503, f'busy, not accepted: {exc}; retry in {exc.retry_after} s',
                    headers={'Retry-After': str(exc.retry_after)}, reason='overloaded', queue=exc.queue,
                    retry_after=exc.retry_after)


def shown_status(result: tcelery.TaskResult) -> str:
    """Celery's state, except that a task discarded for its age says EXPIRED."""
    return 'EXPIRED' if result.expired else result.status


class HealthHandler(ApiHandler):
    endpoint = '/healthz'

    async def get(self) -> None:
        health = await self.producer.health()
        self.set_status(200 if all(health.values()) else 503)
        self.finish(health)


class MetricsHandler(ApiHandler):
    """Prometheus's text format, summed over the gateway's processes."""

    endpoint = '/metrics'

    def get(self) -> None:
        body, content_type = gateway_metrics.exposition()
        self.set_header('Content-Type', content_type)
        self.finish(body)


class OpenApiHandler(ApiHandler):
    """The API's contract, openapi.yaml, as JSON."""

    endpoint = '/openapi.json'

    def get(self) -> None:
        self.set_header('Content-Type', 'application/json')
        self.finish(openapi.document_json())


class NotFoundHandler(ApiHandler):
    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, f'no such endpoint: {self.request.path[:100]}')


urls = [
    (r'/add', AddHandler),
    (r'/check', CheckHandler),
    tornado.web.url(r'/result/([0-9a-fA-F-]{36})', ResultHandler, name='result'),
    (r'/healthz', HealthHandler),
    (r'/metrics', MetricsHandler),
    (r'/openapi.json', OpenApiHandler),
]


def make_app(settings: Settings, producer: tcelery.NonBlockingProducer,
             policy: route_policy.Policy) -> tornado.web.Application:
    """The gateway, sending tasks through ``producer`` to targets ``policy`` allows."""
    return tornado.web.Application(urls, default_handler_class=NotFoundHandler, route_check=settings,
                                   producer=producer, policy=policy, in_flight=InFlight(),
                                   log_function=access_log.request_logger(settings.access_log))


async def serve(settings: Settings, producer: tcelery.NonBlockingProducer,
                policy: route_policy.Policy) -> None:
    app = make_app(settings, producer, policy)
    server = HTTPServer(app, max_header_size=64 * 1024, idle_connection_timeout=60)
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
    await producer.close()


def run() -> None:
    """``python web.py``: the Celery app of main.py, its tasks, and the environment's policy."""
    from main import app

    # The tasks' own options (ignore_result) go into their messages, as Celery's apply_async does.
    app.loader.import_default_modules()
    settings = Settings.from_env()
    access_log.configure(settings.log_format)
    producer = tcelery.setup_nonblocking_producer(
        celery_app=app, observer=gateway_metrics.MetricsObserver(),
        max_backlog=settings.backlog_limit or None, management_url=os.environ.get('RABBITMQ_API'))
    # uvloop: ~5% less CPU per request than asyncio's own loop (make bench).
    uvloop.run(serve(settings, producer, route_policy.Policy.from_env()))


if __name__ == '__main__':
    run()
