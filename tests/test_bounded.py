"""Bounded state over real HTTP, RabbitMQ, Redis and workers: delivered results are deleted from
Redis, undelivered ones carry RESULT_TTL, and a check that waited past CHECK_EXPIRES is discarded
by the worker and reported EXPIRED. (Admission control: tests/test_admission.py.)"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

import celeryconfig
import routing
from testbed.process import wait_for
from testbed.vhosts import Vhost
from tests import REDIS_TEST_URL
from tests.chaos.harness import PrivateRedis
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream


@pytest.fixture(scope='module')
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_TEST_URL)
    yield client
    client.close()


def key(task_id: str) -> str:
    return f'celery-task-meta-{task_id}'


def test_delivered_results_are_deleted_undelivered_ones_kept_until_read(
        web: str, upstream: Upstream, store: redis.Redis) -> None:
    answered = requests.get(f'{web}/check', params={'url': f'{upstream.url}/ok'}, timeout=15)
    assert answered.status_code == 200
    wait_for(lambda: not store.exists(key(answered.json()['task_id'])), 5, 0.05, 'delivered result deleted')

    # Longer than the gateway's WEB_WAIT (3 s): a 202, whose result must wait for its reader.
    late = requests.get(f'{web}/check', params={'url': f'{upstream.url}/slow?ms=3500'}, timeout=15)
    assert late.status_code == 202
    task_id = late.json()['task_id']
    wait_for(lambda: store.exists(key(task_id)), 15, 0.1, 'result of the 202 stored')
    assert 0 < store.ttl(key(task_id)) <= celeryconfig.result_expires
    time.sleep(0.5)  # long enough for a wrongly scheduled delete to have happened
    assert store.exists(key(task_id))
    body = requests.get(f'{web}/result/{task_id}', timeout=5).json()
    assert body['status'] == 'SUCCESS' and body['result']['ok'] is True
    wait_for(lambda: not store.exists(key(task_id)), 5, 0.05, 'result deleted once read')


def test_a_check_older_than_check_expires_is_discarded_and_expired(
        log_dir: Path, upstream: Upstream, store: redis.Redis) -> None:
    vhost = Vhost('route_check_expires')
    env = base_env(BROKER_URL=vhost.url, CHECK_EXPIRES='1', WEB_WAIT='0.3')
    web, url = start_web(env, log_dir, name='web-expires')
    worker = None
    try:
        kept = requests.get(f'{url}/check', params={'url': f'{upstream.url}/ok?t=expiring'}, timeout=10)
        dropped = requests.get(f'{url}/check', params={'url': f'{upstream.url}/ok?t=expiring-nr',
                                                       'ignore_result': 1}, timeout=10)
        sent = time.monotonic()
        assert (kept.status_code, dropped.status_code) == (202, 202)
        assert vhost.depth(routing.QUEUE_OF[routing.HTTP_CHECK]) == 1
        # No worker yet: both wait in their queues until past their expiry time.
        wait_for(lambda: time.monotonic() > sent + 1.2, 5, 0.05, 'CHECK_EXPIRES passed')
        worker = start_worker('check', env, log_dir, concurrency=4, name='worker-expires')
        task_id = kept.json()['task_id']
        body = wait_for(lambda: (b := requests.get(f'{url}/result/{task_id}', timeout=5).json())
                        ['status'] != 'PENDING' and b, 30, 0.1, 'expired task reported')
        assert body['status'] == 'EXPIRED'
        wait_for(lambda: vhost.depth(routing.QUEUE_OF[routing.HTTP_CHECK_NO_RESULT]) == 0, 15, 0.1)
        worker.wait_log(f'Discarding revoked task: {routing.HTTP_CHECK_NO_RESULT}', timeout=15)
        assert upstream.token_count('expiring') == upstream.token_count('expiring-nr') == 0
        assert not store.exists(key(dropped.json()['task_id']))  # fire and forget stores nothing
        wait_for(lambda: not store.exists(key(task_id)), 5, 0.05, 'expired result deleted once read')
    finally:
        if worker is not None:
            worker.stop()
        web.stop()
        vhost.delete()


class RedisFromConfigFile(PrivateRedis):
    """A private Redis run as Debian's systemd unit runs it: from a config file, which is what
    CONFIG REWRITE writes back to."""

    def argv(self) -> list[str]:
        conf = self.base / 'redis.conf'
        if not conf.exists():
            conf.write_text(f'port {self.port}\nbind 127.0.0.1\ndir {self.base}\nsave ""\nappendonly no\n')
        return ['redis-server', str(conf)]


def test_the_redis_guard_bounds_a_redis_and_survives_its_restart(tmp_path: Path) -> None:
    """scripts/redis_guard.sh, as services.sh runs it on a machine with systemd: there Redis runs
    from a config file, and a bound set only at runtime would be gone after the next restart."""
    bound = {'maxmemory': str(64 * 2**20), 'maxmemory-policy': 'volatile-ttl'}
    with RedisFromConfigFile(tmp_path) as server:
        subprocess.run(['bash', 'scripts/redis_guard.sh', str(server.port)], check=True,
                       env={**os.environ, 'REDIS_MAXMEMORY': '64mb'})
        assert {k: server.command('CONFIG', 'GET', k)[k] for k in bound} == bound
        server.stop()
        server.start()
        assert {k: server.command('CONFIG', 'GET', k)[k] for k in bound} == bound
