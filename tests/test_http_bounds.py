"""No client can hold the gateway (issue 26's review): a body trickled in is cut off at
WEB_BODY_TIMEOUT, connections past WEB_MAX_CONNECTIONS are closed at once, and a body over the
limit is refused unread. A real web.py over sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from testbed.process import wait_for
from tests.processes import base_env, start_web

BODY_TIMEOUT, MAX_CONNECTIONS = 1.0, 20


@pytest.fixture(scope='module')
def bounded(idle_vhost, log_dir: Path) -> Iterator[str]:
    proc, url = start_web(base_env(BROKER_URL=idle_vhost.url, WEB_BODY_TIMEOUT=str(BODY_TIMEOUT),
                                   WEB_MAX_CONNECTIONS=str(MAX_CONNECTIONS)), log_dir, name='web-bounded')
    yield url
    proc.stop()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix('http://').split(':')
    return socket.create_connection((host, int(port)), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closed ``sock`` within ``seconds`` (it reads nothing more from it)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(65536) == b''
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_trickled_body_is_cut_off_at_the_body_timeout(bounded: str) -> None:
    with connect(bounded) as sock:
        sock.sendall(b'POST /checks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                     b'Content-Length: 100\r\n\r\n{"targets"')
        started = time.monotonic()
        assert closed_within(sock, BODY_TIMEOUT + 5)
        assert time.monotonic() - started < BODY_TIMEOUT + 3


def test_connections_past_the_cap_are_closed_at_once(bounded: str) -> None:
    with ExitStack() as held:
        idle = [held.enter_context(connect(bounded)) for _ in range(MAX_CONNECTIONS)]
        wait_for(lambda: closed_within(held.enter_context(connect(bounded)), 1.0), 10, 0.1,
                 'a connection past the cap closed')
        assert not closed_within(idle[0], 0.2)  # those within the cap stay open
    wait_for(lambda: requests.get(f'{bounded}/healthz', timeout=5).status_code in (200, 503), 10, 0.2,
             'answering again once they closed')


def test_a_body_over_the_limit_is_refused_unread(bounded: str) -> None:
    try:
        answer = requests.post(f'{bounded}/add', data=b'x' * (1 << 20), timeout=10)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        return  # closed without an answer: Tornado's refusal of a Content-Length over the limit
    assert answer.status_code in (400, 413), answer.status_code  # was 405, after reading 1 MiB
