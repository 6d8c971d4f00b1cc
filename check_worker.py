"""Route checks: does an HTTP(S) URL, or a host:port, answer, and how fast.

These tasks spend their time waiting on the network, so their queues are consumed by a
thread-pool worker (``-P threads``) with high concurrency; see README "Workers".
A target that refuses, times out or fails is a *result* with ``ok: false``, not a task failure:
the check did its job.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urljoin

import urllib3

import route_policy
import routing
from main import app
from route_policy import DEFAULT_TIMEOUT

BODY_CAP = 64 * 1024  # bytes read from a response at most
MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}

# CHECK_ALLOW, read once when the worker loads its tasks; the gateway builds its own.
ENV_POLICY = route_policy.Policy.from_env()


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _fetch(target: route_policy.HttpTarget, address: str, timeout: float) -> urllib3.BaseHTTPResponse:
    """GET from ``address``, the vetted one, while naming the host in Host and TLS SNI."""
    options: dict[str, Any] = {}
    pool_class: type[urllib3.HTTPConnectionPool] = urllib3.HTTPConnectionPool
    if target.scheme == 'https':
        pool_class = urllib3.HTTPSConnectionPool
        options = {'server_hostname': target.host, 'assert_hostname': target.host}
    pool = pool_class(address, target.port, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                      retries=False, maxsize=1, **options)
    try:
        return pool.urlopen('GET', target.path, headers={'Host': target.netloc, 'User-Agent': 'route_check'},
                            redirect=False, retries=False, preload_content=False, assert_same_host=False)
    finally:
        pool.close()


def _read_body(response: urllib3.BaseHTTPResponse, deadline: float) -> int:
    """Bytes read, up to BODY_CAP; a body still trickling in at the deadline is a timeout.

    read1 returns what has arrived, so the deadline is checked as the bytes come.
    """
    size = 0
    while size < BODY_CAP:
        chunk = response.read1(min(8192, BODY_CAP - size))
        if not chunk:
            break
        size += len(chunk)
        if time.perf_counter() > deadline:
            raise TimeoutError('timed out')
    return size


def http_check(url: str, follow_redirects: bool = False, timeout: float = DEFAULT_TIMEOUT,
               policy: route_policy.Policy | None = None) -> dict[str, Any]:
    """GET ``url`` and report ``{ok, status, latency_ms, bytes, error, url}``.

    ``timeout`` is for the whole check, redirects included: each hop gets what is left of it.
    Each redirect hop is parsed, resolved and vetted again, up to MAX_REDIRECTS.
    """
    policy = policy or ENV_POLICY
    result: dict[str, Any] = {'ok': False, 'status': None, 'latency_ms': None, 'bytes': 0,
                              'error': None, 'url': url}
    started = time.perf_counter()
    deadline = started + timeout
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            target = route_policy.parse_url(url)
            address = policy.choose(target.host, route_policy.resolve(target.host, target.port))
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError('timed out')
            response = _fetch(target, address, remaining)
            try:
                location = response.headers.get('Location')
                if follow_redirects and response.status in REDIRECT_STATUSES and location:
                    url = result['url'] = _next_hop(url, location)
                    continue
                size = _read_body(response, deadline)
            finally:
                response.release_conn()
                response.close()
            result.update(ok=200 <= response.status < 400, status=response.status, bytes=size)
            if not result['ok']:
                result['error'] = f'HTTP {response.status}'
            break
        else:
            result['error'] = f'more than {MAX_REDIRECTS} redirects'
    except route_policy.TargetRefused as exc:
        result['error'] = f'refused: {exc}'
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        result['error'] = _describe(exc)
    result['latency_ms'] = _elapsed_ms(started)
    return result


def _next_hop(url: str, location: str) -> str:
    try:
        return urljoin(url, location)
    except ValueError as exc:  # e.g. an unbalanced "[" in the Location's host
        raise route_policy.TargetRefused(f'redirect to a malformed URL: {exc}') from None


def tcp_check(host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
              policy: route_policy.Policy | None = None) -> dict[str, Any]:
    """Open a TCP connection to ``host:port`` and report ``{ok, latency_ms, error}``."""
    policy = policy or ENV_POLICY
    result: dict[str, Any] = {'ok': False, 'latency_ms': None, 'error': None}
    started = time.perf_counter()
    try:
        address = policy.choose(host, route_policy.resolve(host, port))
        with socket.create_connection((address, port), timeout=timeout):
            result['ok'] = True
    except route_policy.TargetRefused as exc:
        result['error'] = f'refused: {exc}'
    except OSError as exc:
        result['error'] = _describe(exc)
    result['latency_ms'] = _elapsed_ms(started)
    return result


def _describe(exc: BaseException) -> str:
    """A short reason, without urllib3's pool and object reprs."""
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return 'connection refused'
    # urllib3's NewConnectionError subclasses its ConnectTimeoutError for history's sake.
    timeouts = (TimeoutError, urllib3.exceptions.TimeoutError)
    new_connection = urllib3.exceptions.NewConnectionError
    if any(isinstance(e, timeouts) and not isinstance(e, new_connection) for e in chain):
        return 'timed out'
    return str(chain[-1]) or type(chain[-1]).__name__


def _timeout(value: float) -> float:
    return min(max(float(value), route_policy.MIN_TIMEOUT), route_policy.MAX_TIMEOUT)


# Idempotent by nature (a GET or a TCP connect), so a redelivery after a crash is harmless.
@app.task(expires=routing.CHECK_EXPIRES)
def check(url: str, follow_redirects: bool = False, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The HTTP(S) check of ``url``: see http_check."""
    return http_check(url, follow_redirects, _timeout(timeout))


@app.task(expires=routing.CHECK_EXPIRES)
def common_check(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """The TCP connect check of ``host:port`` (the seed's name): see tcp_check."""
    return tcp_check(host, int(port), _timeout(timeout))


@app.task(ignore_result=True, expires=routing.CHECK_EXPIRES)
def check_ignore_result(url: str, follow_redirects: bool = False,
                        timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """``check`` for callers that do not wait: it stores no result."""
    return http_check(url, follow_redirects, _timeout(timeout))
