"""Admission control over real HTTP and RabbitMQ: a queue holding more than its workers drain in
MAX_BACKLOG_SECONDS makes the gateway answer 503 with Retry-After at once, publishing nothing,
and it admits again once a worker has drained the queue."""

from __future__ import annotations

import re
import time
from pathlib import Path

import requests
from kombu import Connection

import celeryconfig as routes
from support.process import wait_for
from support.rabbit import Vhost
from tests.support import base_env, start_web, start_worker

BACKLOG = 150  # well over the 10 tasks admitted while no consume rate has been measured


def test_a_backlog_is_refused_fast_then_admitted_once_drained(log_dir: Path) -> None:
    import add_task

    vhost = Vhost('route_check_admission')
    env = base_env(BROKER_URL=vhost.url, WEB_WAIT='0.3', MAX_BACKLOG_SECONDS='1')
    web, url = start_web(env, log_dir, name='web-admission')
    worker = None
    queue = routes.QUEUE_OF[routes.ADD]
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
