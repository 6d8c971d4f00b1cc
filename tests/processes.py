"""Test-only helpers over testbed/: the test environment, and workers and gateways started
the way supervisord.conf starts them."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

import routing
from testbed.process import Proc, child_env, free_port
from testbed.worker_command import worker_argv
from tests import REDIS_TEST_URL


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of the processes a test starts: the test Redis DB, loopback targets allowed."""
    return child_env(**{'RESULT_BACKEND': REDIS_TEST_URL, 'CHECK_ALLOW': '127.0.0.0/8', **overrides})


def start_worker(kind: str, env: dict[str, str], log_dir: Path, concurrency: int | None = None,
                 name: str | None = None, queues: tuple[str, ...] | None = None,
                 pool: str | None = None) -> Proc:
    """A worker as supervisord.conf runs it: prefork for 'add', a thread pool for 'check'."""
    if kind == 'add':
        default_pool, default_concurrency, default_queues = 'prefork', 2, routing.ADD_WORKER_QUEUES
    else:
        default_pool, default_concurrency, default_queues = 'threads', 60, routing.CHECK_WORKER_QUEUES
    name = name or f'worker-{kind}'
    argv = worker_argv(f'{name}-{uuid.uuid4().hex[:6]}', pool or default_pool,
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
