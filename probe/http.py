"""The HTTP(S) check: one request per hop, to the vetted address, timed phase by phase.

The phases are blackbox_exporter's, summed over redirect hops: ``resolve`` (the name's lookup),
``connect`` (TCP), ``tls`` (the handshake), ``processing`` (request written to the response's first
byte), ``transfer`` (first byte to the end of the body, or of the 64 KiB read at most). Every hop
is parsed, resolved and vetted again, and connected to by the address vetted (no rebinding), with
the target's host in Host and in TLS's SNI. The response is parsed by httptools (llhttp).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urljoin

import httptools

from probe import resolve, tls
from probe.failures import describe
from probe.options import CheckOptions
from probe.policy import HttpTarget, Policy, TargetRefused, parse_url

BODY_CAP = 64 * 1024  # bytes read from a response at most
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PHASES = ('resolve', 'connect', 'tls', 'processing', 'transfer')
USER_AGENT = 'route_check'


class _Response(asyncio.Protocol):
    """One response, read until its end, the body cap, or (with ``head_only``) its headers."""

    def __init__(self, keep_body: bool, head_only: bool) -> None:
        loop = asyncio.get_running_loop()
        self.first_byte: asyncio.Future[float] = loop.create_future()
        self.done: asyncio.Future[float] = loop.create_future()
        self.parser = httptools.HttpResponseParser(self)
        self.keep_body, self.head_only = keep_body, head_only
        self.status = 0
        self.location: str | None = None
        self.content_length = -1
        self.size = 0
        self.body = bytearray()
        self.headers_complete = False
        self._header_name = b''

    # asyncio.Protocol
    def data_received(self, data: bytes) -> None:
        if not self.first_byte.done():
            self.first_byte.set_result(time.perf_counter())
        if self.done.done():
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._end(ConnectionError(f'malformed HTTP response: {exc}'))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first_byte.done():
            self.first_byte.set_exception(exc or ConnectionError('closed before answering'))
            self.first_byte.exception()  # marked retrieved: the check may be gone already
        if self.headers_complete and (self.content_length < 0 or self.size >= self.content_length):
            self._end()  # a body delimited by the connection's close
        else:
            self._end(exc or ConnectionError('connection closed in the middle of the response'))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b'location':
            self.location = value.decode('latin-1')
        elif name == b'content-length' and value.strip().isdigit():
            self.content_length = int(value)

    def on_headers_complete(self) -> None:
        self.headers_complete = True
        self.status = self.parser.get_status_code()
        if self.head_only:
            self._end()

    def on_body(self, body: bytes) -> None:
        room = BODY_CAP - self.size
        taken = body[:room]
        self.size += len(taken)
        if self.keep_body:
            self.body += taken
        if self.size >= BODY_CAP:
            self._end()

    def on_message_complete(self) -> None:
        self._end()

    def _end(self, exc: Exception | None = None) -> None:
        if self.done.done():
            return
        if exc is None:
            self.done.set_result(time.perf_counter())
        else:
            self.done.set_exception(exc)
            self.done.exception()  # marked retrieved: a check that failed on first_byte never awaits it


def _request(method: str, target: HttpTarget) -> bytes:
    return (f'{method} {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nUser-Agent: {USER_AGENT}\r\n'
            'Accept: */*\r\nConnection: close\r\n\r\n').encode('latin-1')


def _next_hop(url: str, location: str) -> str:
    try:
        return urljoin(url, location)
    except ValueError as exc:  # e.g. an unbalanced "[" in the Location's host
        raise TargetRefused(f'redirect to a malformed URL: {exc}') from None


async def check(url: str, options: CheckOptions, policy: Policy) -> dict[str, Any]:
    """Request ``url`` and report ``{ok, status, latency_ms, bytes, error, url, ...}``: see README."""
    started = time.perf_counter()
    phases = dict.fromkeys(PHASES, 0.0)
    result: dict[str, Any] = {'ok': False, 'status': None, 'latency_ms': None, 'bytes': 0, 'error': None,
                              'url': url, 'redirects': 0, 'phases_ms': phases}
    try:
        async with asyncio.timeout(options.timeout):
            await _hops(url, options, policy, result, phases)
    except TargetRefused as exc:
        result['error'] = f'refused: {exc}'
    except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
        result['error'] = describe(exc)
    result['latency_ms'] = round((time.perf_counter() - started) * 1000, 2)
    for name, seconds in phases.items():
        phases[name] = round(seconds * 1000, 3)
    return result


async def _hops(url: str, options: CheckOptions, policy: Policy, result: dict[str, Any],
                phases: dict[str, float]) -> None:
    loop = asyncio.get_running_loop()
    for hop in range(MAX_REDIRECTS + 1):
        target = parse_url(url)
        began = time.perf_counter()
        address = await resolve.vetted_address(target.host, target.port, options, policy)
        connecting = time.perf_counter()
        phases['resolve'] += connecting - began
        if hop == 0:
            result['dns_lookup_ms'] = round((connecting - began) * 1000, 3)
        result.update(address=address, ip_protocol=resolve.ip_protocol(address), ssl=target.scheme == 'https')
        transport, response = await loop.create_connection(
            lambda: _Response(options.reads_body, options.method == 'HEAD'), address, target.port)
        try:
            sending = time.perf_counter()
            phases['connect'] += sending - connecting
            if target.scheme == 'https':
                transport = await loop.start_tls(transport, response, tls.client_context(options),
                                                 server_hostname=options.server_name or target.host)
                handshaken = time.perf_counter()
                phases['tls'] += handshaken - sending
                sending = handshaken
                result['tls'] = tls.facts(transport.get_extra_info('ssl_object'))
            transport.write(_request(options.method, target))
            first_byte = await response.first_byte
            phases['processing'] += first_byte - sending
            ended = await response.done
            phases['transfer'] += ended - first_byte
        finally:
            transport.abort()
        result.update(status=response.status, http_version=response.parser.get_http_version(),
                      content_length=response.content_length, bytes=response.size)
        if options.follow_redirects and response.status in REDIRECT_STATUSES and response.location:
            url = result['url'] = _next_hop(url, response.location)
            if hop < MAX_REDIRECTS:
                result['redirects'] += 1
            continue
        _judge(result, response, options)
        return
    result['error'] = f'more than {MAX_REDIRECTS} redirects'


def _judge(result: dict[str, Any], response: _Response, options: CheckOptions) -> None:
    """``ok`` and, when not, ``error``: the status, TLS and body rules, in blackbox's order."""
    error = None
    if not options.status_is_valid(response.status):
        error = f'HTTP {response.status}'
    elif options.fail_if_ssl and result['ssl']:
        error = 'the final hop used TLS (fail_if_ssl)'
    elif options.fail_if_not_ssl and not result['ssl']:
        error = 'the final hop did not use TLS (fail_if_not_ssl)'
    elif options.reads_body and (why := options.body_failure(bytes(response.body))):
        error = why
        result['failed_due_to_regex'] = True
    if options.reads_body:
        result.setdefault('failed_due_to_regex', False)
    result.update(ok=error is None, error=error)
