"""What every gateway handler shares: JSON answers and errors, request ids, argument parsing,
running a task and vetting its target, and the count of requests in flight."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import socket
from typing import Any

import tornado.web

import tcelery
from gateway import metrics
from gateway.settings import Settings
from probe.policy import Policy, TargetRefused, addresses_of, literal_addresses

MAX_INT = 2**62  # so that x + y stays within 64 bits, for a worker in any language
MAX_URI = 8 * 1024
MAX_HEADERS = 16 * 1024
UNAVAILABLE = 'the task queue is unavailable and did not accept the task; retry later'
RESULT_STORE_UNAVAILABLE = 'the result store is unavailable, retry later'
REQUEST_ID = re.compile(r'[A-Za-z0-9._:/+=@-]{1,128}', re.ASCII)  # what a client's X-Request-ID may be
# A made-up request id: a random per-process prefix and a counter, unique across processes and
# restarts, at a fraction of uuid4's cost (which reads the kernel's random source each time).
_REQUEST_PREFIX, _request_numbers = secrets.token_hex(8), itertools.count()


def new_request_id() -> str:
    return f'{_REQUEST_PREFIX}{next(_request_numbers):016x}'


class InFlight:
    """Counts requests being handled, so a stopping process can let them finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        metrics.IN_FLIGHT.inc()
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        metrics.IN_FLIGHT.dec()
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
        metrics.observe_request(self.endpoint, self.request.method or '', self.get_status(),
                                self.request.request_time())
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
                self.set_header('Allow', ', '.join(self.allowed_methods()))
            self.refusal = self._reason
            self.finish({'error': self._reason})

    def allowed_methods(self) -> list[str]:
        """The methods this handler defines (tornado's base class answers the rest with 405)."""
        base = tornado.web.RequestHandler
        return [method for method in self.SUPPORTED_METHODS
                if getattr(type(self), method.lower()) is not getattr(base, method.lower())]

    @property
    def web_settings(self) -> Settings:
        return self.application.settings['route_check']

    @property
    def producer(self) -> tcelery.NonBlockingProducer:
        return self.application.settings['producer']

    @property
    def policy(self) -> Policy:
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

    @property
    def task_headers(self) -> dict[str, str]:
        """Headers of the task's message: the worker logs the request id, Flower shows it."""
        return {'request_id': self.request_id or ''}

    async def result_of(self, task: str, args: list, kwargs: dict | None, wait: float,
                        queue: str | None = None) -> tcelery.TaskResult:
        """Send the task (to ``queue``, else its own) and wait for its result: ResultTimeout and
        ResultBackendUnavailable are the caller's to answer; a task that was not sent is a 503 here."""
        try:
            return await self.producer.apply_async(task, args, kwargs, timeout=wait,
                                                   headers=self.task_headers, queue=queue)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.Overloaded as exc:
            raise overloaded(exc) from None

    async def run_task(self, task: str, args: list, kwargs: dict | None = None,
                       queue: str | None = None) -> tcelery.TaskResult | None:
        """Run the task and return its result; or answer 202/503 and return None."""
        try:
            result = await self.result_of(task, args, kwargs, self.web_settings.wait, queue)
        except (tcelery.ResultTimeout, tcelery.ResultBackendUnavailable) as exc:
            metrics.RESULT_WAITS_ACCEPTED.labels(
                'timeout' if isinstance(exc, tcelery.ResultTimeout) else 'result_backend_unavailable').inc()
            self.accepted(exc.task_id)
            return None
        self.task_id = result.task_id
        self.producer.forget(result.task_id)  # delivered with this answer, 200 or 502
        if result.status != 'SUCCESS':
            raise ApiError(502, f'task {shown_status(result).lower()}', task_id=result.task_id,
                           detail=result.result)
        return result

    async def stored_result(self, task_id: str) -> tcelery.TaskResult:
        """What the result store knows of the task now; a 503 while it is unreachable."""
        try:
            return await self.producer.result(task_id)
        except tcelery.ResultBackendUnavailable:
            raise ApiError(503, RESULT_STORE_UNAVAILABLE) from None

    async def revoke(self, task_id: str) -> None:
        """Revoke the task (tcelery's revoke: Celery's broadcast, and REVOKED stored); a 503 when
        the broker or Redis cannot take it now."""
        try:
            await self.producer.revoke(task_id)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.ResultBackendUnavailable:
            raise ApiError(503, RESULT_STORE_UNAVAILABLE) from None

    def accepted(self, task_id: str) -> None:
        self.task_id = task_id
        location = self.reverse_url('result', task_id)
        self.set_status(202)
        self.set_header('Location', location)
        self.finish({'task_id': task_id, 'status': 'PENDING', 'location': location})

    async def vet(self, host: str, port: int) -> None:
        """Refuse a target before any task is sent; the worker checks again when it connects."""
        addresses = literal_addresses(host)
        if addresses is None:
            addresses = await self.resolve(host, port)
        try:
            self.policy.choose(host, addresses)
        except TargetRefused as exc:
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
        return addresses_of(infos)


def unavailable(exc: tcelery.BrokerUnavailable) -> ApiError:
    """The 503 of a task the broker did not accept, counted."""
    metrics.BROKER_UNAVAILABLE.inc()
    return ApiError(503, UNAVAILABLE, cause=str(exc))


def overloaded(exc: tcelery.Overloaded) -> ApiError:
    """Busy: the task was not sent; the client may retry after ``Retry-After`` seconds."""
    metrics.OVERLOADED.labels(exc.queue).inc()
    return ApiError(503, f'busy, not accepted: {exc}; retry in {exc.retry_after} s',
                    headers={'Retry-After': str(exc.retry_after)}, reason='overloaded', queue=exc.queue,
                    retry_after=exc.retry_after)


def shown_status(result: tcelery.TaskResult) -> str:
    """Celery's state, except that a task discarded for its age says EXPIRED."""
    return 'EXPIRED' if result.expired else result.status



class NotFoundHandler(ApiHandler):
    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, f'no such endpoint: {self.request.path[:100]}')


