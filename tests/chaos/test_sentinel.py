"""kill -9 of the Redis master under load: Sentinel promotes the replica, and everyone follows.

The gateway and the worker are given Celery's ``sentinel://`` URL and ``master_name``; neither is
restarted. Besides what every failover must hold (failover.py): after the promotion requests are
answered 200 with their result again, so the gateway's pub/sub follows the new master.
Requests waiting across the failover (WEB_WAIT=5) get their result from the new master, by
the re-subscription or by the refetch of pending keys that follows it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import routing
from testbed.process import wait_for
from testbed.vhosts import Vhost
from tests.chaos.failover import record_and_check, under_load
from tests.chaos.harness import SentinelGroup
from tests.chaos.tally import Tally
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path / 'redis') as group:
        yield group


def test_kill_the_redis_master(sentinels: SentinelGroup, vhost: Vhost, log_dir: Path, upstream: Upstream,
                               tally: Tally) -> None:
    env = base_env(BROKER_URL=vhost.url, RESULT_BACKEND=sentinels.url,
                   RESULT_BACKEND_MASTER_NAME=sentinels.name)
    worker = start_worker('check', env, log_dir, concurrency=8, name='chaos-worker-sentinel',
                          queues=(routing.QUEUE_OF[routing.HTTP_CHECK],))
    web, url = start_web(dict(env, WEB_WAIT='5'), log_dir, name='chaos-web-sentinel')
    promoted: list[float] = []
    try:
        def kill_master() -> None:
            sentinels.master.stop(signal.SIGKILL)
            wait_for(lambda: sentinels.master_port() == sentinels.replica.port, 30, 0.05, 'replica promoted')
            promoted.append(time.monotonic())
        def results_live_again(calls: list) -> bool:  # a 202 is accepted, but not a result
            return bool(promoted) and sum(c.status == 200 for c in calls if c.sent_at > promoted[0]) >= 10
        outcome = under_load(url, upstream, kill_master, back=results_live_again)
        health = requests.get(f'{url}/healthz', timeout=10).json()
        alive = web.popen.poll() is None and worker.popen.poll() is None
    finally:
        web.stop()
        worker.stop()
    after = [c for c in outcome.calls if c.sent_at > promoted[0]]
    record_and_check(outcome, tally, '11. Redis Sentinel: kill -9 of the master (replica promoted)',
                     f'promoted {promoted[0] - outcome.struck:.1f}s after the kill; '
                     f'{sum(c.status == 202 for c in outcome.calls)} answered 202')
    assert sum(c.status == 200 for c in after) >= 10, 'no result by pub/sub from the new master'
    assert health == {'broker': True, 'result_backend': True}
    assert alive  # nobody restarted them
