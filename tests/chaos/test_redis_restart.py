"""A Redis (result backend) restart under load, on a private redis-server (never the shared one).

What must hold: requests waiting for a result when Redis goes away either get it or a 202 with
the task id; requests during the outage are still accepted (202: the broker is fine); the
gateway reconnects by itself; every accepted task's result is obtainable afterwards through
GET /result/<id>.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import routing
from testbed.process import wait_for
from testbed.vhosts import Vhost
from tests.chaos.harness import Load, PrivateRedis, collect, fire, stop_all
from tests.chaos.tally import Tally
from tests.processes import base_env, gateway_metric, start_web, start_worker
from tests.upstream import Upstream

WAITING = 50
WEB_WAIT = 3.0


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with PrivateRedis(tmp_path / 'redis') as server:
        yield server


def test_redis_restart_under_load(redis_server: PrivateRedis, vhost: Vhost, log_dir: Path,
                                  upstream: Upstream, tally: Tally) -> None:
    # TASK_LOG_LEVEL=INFO: the per-task log lines count the received tasks that never finished.
    env = base_env(BROKER_URL=vhost.url, RESULT_BACKEND=redis_server.url, TASK_LOG_LEVEL='INFO')
    worker = start_worker('check', env, log_dir, concurrency=8, name='chaos-worker-redis',
                          queues=(routing.QUEUE_OF[routing.HTTP_CHECK],))
    web, url = start_web(dict(env, WEB_WAIT=str(WEB_WAIT)), log_dir, name='chaos-web-redis')
    load = None
    try:
        load = Load(url, upstream, 4, ms=50)
        wait_for(lambda: sum(c.status == 200 for c in load.since(0)) >= 10, 30, 0.05, 'steady load')
        with ThreadPoolExecutor(WAITING) as pool:
            # Requests that are waiting for their result (1.5 s checks) when Redis goes away.
            waiting = fire(pool, url, upstream, WAITING, ms=1500)
            wait_for(lambda: upstream.busy() >= 8, 20, 0.01, 'checks in flight')
            down_at = time.monotonic()
            redis_server.stop()
            stopped_at = time.monotonic()
            wait_for(lambda: len(load.since(stopped_at)) >= 40, 30, 0.05, 'requests during the outage')
            # The gateway's metrics: the result subscription is down, and the waits end in 202s.
            assert gateway_metric(url, 'route_check_result_backend_connected') == 0
            assert gateway_metric(url, 'route_check_result_wait_accepted_total') > 0
            redis_server.start()
            up_at = time.monotonic()
            recovered = True
            try:
                wait_for(lambda: sum(c.status == 200 for c in load.since(up_at)) >= 12, 30, 0.05,
                         'results delivered live again')
            except AssertionError:
                recovered = False
            waited = [f.result() for f in waiting]
        calls = load.stop()
        load = None
        health = requests.get(f'{url}/healthz', timeout=5).json()
        subscribed = gateway_metric(url, 'route_check_result_backend_connected')
        everything = waited + calls
        collect(url, everything, timeout=60 if recovered else 15)
        alive = web.popen.poll() is None and worker.popen.poll() is None
        stuck = worker.log().count(' received') - worker.log().count(' succeeded in ')
    finally:
        stop_all(load, web, worker)

    during = [c for c in calls if stopped_at <= c.sent_at <= up_at]
    max_latency = max(c.latency for c in everything)
    dup = sum(max(0, upstream.token_count(c.token) - 1) for c in everything if c.accepted)
    statuses = sorted({c.status for c in everything}, key=str)
    row = tally.record(
        '4. Redis restart under load (private redis)', everything, duplicated=dup,
        notes=(f'redis down {up_at - down_at:.1f}s; {len(during)} requests during the outage '
               f'({sum(c.status == 202 for c in during)} got 202); statuses {statuses}; '
               f'max latency {max_latency:.2f}s'
               + ('' if recovered else f'; FAILED: worker stopped consuming, {stuck} tasks never acked')),
        max_latency=max_latency)
    assert recovered, (
        f'no result after Redis came back: the worker stopped consuming ({stuck} received tasks never '
        'finished). With -P threads and acks_late, a task whose result cannot be stored is neither acked '
        'nor rejected; once every prefetch slot is held so, nothing is delivered to the worker. '
        'Workaround: result_backend_always_retry = True in celeryconfig.py (see docs/reliability.md)')
    # 200 or 202 with a task id, or a refusal by admission control: while the workers cannot
    # store results they take no new tasks, so the queue fills and the gateway says busy.
    odd = [(c.status, c.error, c.body) for c in everything
           if not c.accepted and c.body.get('reason') != 'overloaded']
    assert not odd, odd  # nothing else (no other 5xx, no hang)
    assert row.lost == 0, [c.task_id for c in everything if c.accepted and c.final is None]
    assert all(c.final.get('ok') is True for c in everything if c.accepted)
    assert during, 'the outage was not observed'
    assert max_latency < WEB_WAIT + 3, max_latency
    assert health == {'broker': True, 'result_backend': True}
    assert subscribed == 1
    assert alive
