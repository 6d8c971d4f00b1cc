"""Soak: sustained load for SOAK_SECONDS (default 30; run a few minutes locally), zero lost, and
the web process's RSS and open file descriptors flat."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import redis

from testbed.process import wait_for
from testbed.procfs import open_fds, rss_kib
from testbed.vhosts import Vhost
from tests import REDIS_TEST_URL
from tests.chaos.harness import Load, collect, stop_all
from tests.chaos.tally import Tally
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream

SOAK_SECONDS = float(os.environ.get('SOAK_SECONDS', '30'))
CLIENTS = 8


def test_soak(vhost: Vhost, log_dir: Path, upstream: Upstream, tally: Tally) -> None:
    env = base_env(BROKER_URL=vhost.url)
    worker = start_worker('check', env, log_dir, concurrency=20, name='chaos-worker-soak')
    web, url = start_web(dict(env, WEB_WAIT='3'), log_dir, name='chaos-web-soak')
    samples: list[tuple[float, int, int]] = []
    ticker = threading.Event()
    load = None
    try:
        load = Load(url, upstream, CLIENTS, ms=0, pause=0.0)
        # Warm up: connections, pools and caches reach their working size before the baseline.
        wait_for(lambda: sum(c.accepted for c in load.since(0)) >= 200, 60, 0.05, 'warm-up')
        started = time.monotonic()
        while time.monotonic() - started < SOAK_SECONDS:
            samples.append((time.monotonic() - started, rss_kib(web.pid), open_fds(web.pid)))
            ticker.wait(1.0)  # the sampling period (nothing to synchronise with)
        calls = load.stop()
        load = None
        samples.append((time.monotonic() - started, rss_kib(web.pid), open_fds(web.pid)))
        collect(url, calls, timeout=60)
    finally:
        stop_all(load, web, worker)

    head, tail = samples[:3], samples[-3:]
    rss_start, rss_end = statistics.median(s[1] for s in head), statistics.median(s[1] for s in tail)
    fds_start, fds_end = max(s[2] for s in head), max(s[2] for s in tail)
    rate = len(calls) / (samples[-1][0] or 1)
    store = redis.Redis.from_url(REDIS_TEST_URL)  # delivered results are deleted: Redis stays flat
    left = sum(store.exists(f'celery-task-meta-{c.task_id}') for c in calls if c.accepted)
    store.close()
    dup = sum(max(0, upstream.token_count(c.token) - 1) for c in calls if c.accepted)
    row = tally.record(
        f'7. soak {SOAK_SECONDS:g}s, {CLIENTS} clients', calls, duplicated=dup,
        notes=(f'{rate:.0f} req/s; web RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MiB '
               f'(max {max(s[1] for s in samples) / 1024:.1f}); open fds {fds_start} -> {fds_end}; '
               f'{left} results left in Redis'),
        rss_kib=[rss_start, rss_end], fds=[fds_start, fds_end], samples=samples)
    odd = [(c.status, c.error) for c in calls if not c.accepted]
    assert not odd, odd[:20]
    assert row.lost == 0
    assert dup == 0
    assert len(calls) >= 50
    # Flat: a slow leak of even a few KiB per request would show over thousands of requests.
    assert rss_end - rss_start < max(8 * 1024, 0.15 * rss_start), (rss_start, rss_end)
    assert fds_end - fds_start <= 5, (fds_start, fds_end)
    assert left <= 0.01 * len(calls), left
