"""Admission control over real HTTP and RabbitMQ: a queue holding more than its workers drain in
MAX_BACKLOG_SECONDS makes the gateway answer 503 with Retry-After at once, publishing nothing,
and it admits again once a worker has drained the queue."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path

import requests
from kombu import Connection
from tornado.httpclient import AsyncHTTPClient

import routing
from testbed.process import wait_for
from testbed.vhosts import Vhost
from tests.processes import base_env, start_web, start_worker

BACKLOG = 150  # well over the 10 tasks admitted while no consume rate has been measured


def test_a_backlog_is_refused_fast_then_admitted_once_drained(log_dir: Path) -> None:
    import add_task

    vhost = Vhost('route_check_admission')
    env = base_env(BROKER_URL=vhost.url, WEB_WAIT='0.3', MAX_BACKLOG_SECONDS='1')
    web, url = start_web(env, log_dir, name='web-admission')
    worker = None
    queue = routing.QUEUE_OF[routing.ADD]
    try:
        with Connection(vhost.url) as conn:  # work no worker takes yet
            for _ in range(BACKLOG):
                add_task.add.apply_async(args=[1, 1], connection=conn)
        assert requests.get(f'{url}/add', timeout=10).status_code == 202  # before its first read
        refused = wait_for(lambda: [r for r in [requests.get(f'{url}/add', timeout=10)]
                                    if r.status_code == 503], 10, 0.1, 'the backlog refused')[0]
        body = refused.json()
        assert (body['reason'], body['queue']) == ('overloaded', queue)
        queued = vhost.depth(queue)  # the backlog and what was admitted before the first read
        assert BACKLOG < queued < BACKLOG + 20
        seen = re.search(rf'{queue} holds (\d+) waiting tasks \(no worker is taking them\)', body['error'])
        assert seen and BACKLOG <= int(seen[1]) <= queued, body  # as of the gateway's last read
        assert 1 <= int(refused.headers['Retry-After']) == body['retry_after'] <= 1
        assert requests.get(f'{url}/check', params={'url': 'http://127.0.0.1:9/'},
                            timeout=10).status_code == 202  # another queue is not refused
        started = time.monotonic()
        for _ in range(50):
            assert requests.get(f'{url}/add', timeout=10).status_code == 503
        assert (time.monotonic() - started) / 50 < 0.05  # per request, HTTP round trip included
        assert vhost.depth(queue) == queued  # nothing refused was published

        worker = start_worker('add', env, log_dir, concurrency=2, name='worker-admission')
        wait_for(lambda: requests.get(f'{url}/add', timeout=10).status_code == 200, 30, 0.2,
                 'admitted again once drained')
    finally:
        if worker is not None:
            worker.stop()
        web.stop()
        vhost.delete()


def test_a_load_the_workers_keep_up_with_is_never_refused(log_dir: Path) -> None:
    """Two gateways on one queue, 60 clients, workers that keep up: a queue holding a few dozen
    tasks while RabbitMQ's rate still reads 0/s, and each gateway seeing the other's publishes
    as growth, once refused about half of such a load (issue 16)."""
    vhost = Vhost('route_check_admission_ok')
    env = base_env(BROKER_URL=vhost.url, WEB_WAIT='2')
    webs = [start_web(env, log_dir, name=f'web-admission-{i}') for i in range(2)]
    worker = start_worker('add', env, log_dir, name='worker-admission-ok')
    codes: Counter[int] = Counter()

    async def client(url: str, until: float) -> None:
        http = AsyncHTTPClient()
        while time.monotonic() < until:
            response = await http.fetch(f'{url}/add', raise_error=False, request_timeout=10)
            codes[response.code] += 1

    async def load() -> None:
        until = time.monotonic() + 8
        await asyncio.gather(*(client(webs[i % 2][1], until) for i in range(60)))

    try:
        AsyncHTTPClient.configure(None, max_clients=60)
        asyncio.run(load())
    finally:
        worker.stop()
        for web, _ in webs:
            web.stop()
        vhost.delete()
    assert codes[200] > 500 and set(codes) == {200}, codes
