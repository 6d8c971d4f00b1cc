"""Test-only helpers over testbed/: the test environment, and workers and gateways started
the way supervisord.conf starts them."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

import routing
from testbed.process import Proc, child_env, free_port, wait_for
from testbed.worker_command import worker_argv
from tests import REDIS_TEST_URL


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of the processes a test starts: the test Redis DB, loopback targets allowed."""
    return child_env(**{'RESULT_BACKEND': REDIS_TEST_URL, 'CHECK_ALLOW': '127.0.0.0/8', **overrides})


def start_worker(kind: str, env: dict[str, str], log_dir: Path, concurrency: int | None = None,
                 name: str | None = None, queues: tuple[str, ...] | None = None,
                 pool: str | None = None, node: str | None = None) -> Proc:
    """A worker as supervisord.conf runs it: prefork for 'add', a thread pool for 'check'.
    ``node`` is its Celery node name (``check.east@t1`` puts a check worker at location east);
    by default a unique one, at no location."""
    if kind == 'add':
        default_pool, default_concurrency, default_queues = 'prefork', 2, routing.ADD_WORKER_QUEUES
    else:
        default_pool, default_concurrency, default_queues = 'threads', 60, routing.CHECK_WORKER_QUEUES
    name = name or f'worker-{kind}'
    argv = worker_argv(node or f'{name}-{uuid.uuid4().hex[:6]}', pool or default_pool,
                       concurrency or default_concurrency, queues or default_queues)
    proc = Proc(name, argv, env, log_dir)
    proc.wait_log('ready.')
    return proc


def start_web(env: dict[str, str], log_dir: Path, name: str = 'web') -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(name, [sys.executable, 'web.py'], dict(env, WEB_PORT=str(port)), log_dir)
    proc.wait_log('listening on', timeout=30)
    return proc, f'http://127.0.0.1:{port}'


def gateway_metric(base_url: str, name: str, **labels: str) -> float:
    """The gateway's own /metrics: the sum of ``name``'s samples that carry ``labels``."""
    text = requests.get(f'{base_url}/metrics', timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def promtool(*args: str) -> str:
    done = subprocess.run(['promtool', *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@contextmanager
def prometheus_server(config: dict, home: Path, log_dir: Path) -> Iterator[str]:
    """Debian's Prometheus with ``config`` (checked by promtool first) on a free loopback port."""
    path = home / 'prometheus.yml'
    path.write_text(yaml.safe_dump(config))
    promtool('check', 'config', str(path))
    port = free_port()
    argv = ['prometheus', f'--config.file={path}', f'--storage.tsdb.path={home / "data"}',
            f'--web.listen-address=127.0.0.1:{port}']
    proc = Proc('prometheus', argv, {'PATH': '/usr/bin:/bin'}, log_dir)
    url = f'http://127.0.0.1:{port}'
    try:
        wait_for(lambda: requests.get(f'{url}/-/ready', timeout=2).ok, 60, 0.2, 'Prometheus ready')
        yield url
    finally:
        proc.stop()


def promql(prometheus: str, query: str) -> float | None:
    """The value of a scalar-like PromQL query now, or None when it has no sample."""
    answer = requests.get(f'{prometheus}/api/v1/query', params={'query': query}, timeout=5).json()
    assert answer['status'] == 'success', answer
    result = answer['data']['result']
    return float(result[0]['value'][1]) if result else None
