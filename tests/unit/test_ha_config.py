"""High-availability settings, read as Celery reads them (pure logic; the real path is in
tests/chaos/test_cluster.py and tests/chaos/test_sentinel.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from celery import Celery

from tcelery.publisher import broker_urls
from tcelery.result_store import celery_backend, result_redis
from testbed.process import ROOT
from tests.processes import base_env


def test_broker_urls_split_as_celery_does() -> None:
    assert broker_urls('amqp://u:p@n1//;amqp://u:p@n2//; amqp://u:p@n3// ') == [
        'amqp://u:p@n1//', 'amqp://u:p@n2//', 'amqp://u:p@n3//']
    assert broker_urls('amqp://guest:guest@127.0.0.1:5672//') == ['amqp://guest:guest@127.0.0.1:5672//']
    with pytest.raises(ValueError):
        broker_urls(' ; ')


def _app(**transport_options: object) -> Celery:
    app = Celery('ha_config_test', set_as_current=False)
    app.conf.result_backend_transport_options = transport_options
    return app


def test_a_sentinel_url_gives_a_client_of_the_master() -> None:
    url = 'sentinel://:secret@127.0.0.1:26379/3;sentinel://:secret@127.0.0.2:26380/3'
    client = result_redis(celery_backend(_app(master_name='rcmaster'), url), timeout=1.5)
    pool = client.connection_pool
    assert pool.service_name == 'rcmaster'
    assert [(s.connection_pool.connection_kwargs['host'], s.connection_pool.connection_kwargs['port'])
            for s in pool.sentinel_manager.sentinels] == [('127.0.0.1', 26379), ('127.0.0.2', 26380)]
    assert pool.connection_kwargs['db'] == 3
    assert pool.connection_kwargs['password'] == 'secret'  # the master's password, as Celery uses it
    assert pool.connection_kwargs['socket_timeout'] == 1.5


def test_a_sentinel_url_without_master_name_is_refused() -> None:
    with pytest.raises(ValueError, match='master_name'):
        result_redis(celery_backend(_app(), 'sentinel://127.0.0.1:26379/0'), timeout=1)


def test_a_redis_url_gives_a_plain_client() -> None:
    client = result_redis(celery_backend(_app(), 'redis://127.0.0.1:6390/4'), timeout=1)
    assert client.connection_pool.connection_kwargs['port'] == 6390
    assert client.connection_pool.connection_kwargs['db'] == 4


def _queue_arguments(queue_type: str | None) -> subprocess.CompletedProcess:
    env = base_env()
    env.pop('QUEUE_TYPE', None)
    if queue_type is not None:
        env['QUEUE_TYPE'] = queue_type
    return subprocess.run([sys.executable, '-c', 'import celeryconfig as c; print(sorted('
                           '{str(q.queue_arguments) for q in c.task_queues}))'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(('queue_type', 'printed'), [
    (None, "['None']"),  # classic: no argument, equivalent to queues declared before the setting
    ('classic', "['None']"),
    ('quorum', "[\"{'x-queue-type': 'quorum'}\"]"),
])
def test_queue_type_applies_to_every_task_queue(queue_type: str | None, printed: str) -> None:
    done = _queue_arguments(queue_type)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == printed


def test_an_unknown_queue_type_is_refused() -> None:
    done = _queue_arguments('mirrored')
    assert done.returncode != 0 and 'QUEUE_TYPE must be classic or quorum' in done.stderr
