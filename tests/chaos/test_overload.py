"""Overload, short: many more clients than a small check worker can serve. The gateway admits
what the worker drains within MAX_BACKLOG_SECONDS and refuses the rest at once (503 with
Retry-After): accepted requests answer within WEB_WAIT, the queue stays bounded, no check runs
more than CHECK_EXPIRES after it was sent (the upstream timestamps each URL's first request),
every accepted task ends with a result or an explicit EXPIRED, none of their results is left in
Redis, and latency is back to normal soon after the load stops. `make bench` runs the long
version (`python -m bench --overload`: 1000 clients, 2 minutes)."""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

import redis
import requests

import routing
from testbed.process import wait_for
from testbed.vhosts import Vhost
from tests import REDIS_TEST_URL
from tests.chaos.harness import Load, collect
from tests.chaos.tally import Tally
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream

SECONDS = float(os.environ.get('OVERLOAD_SECONDS', '20'))
CLIENTS, WARM_UP_CLIENTS = 120, 40  # 40 already make a backlog: the gateway measures the rate
CONCURRENCY, UPSTREAM_MS = 5, 200  # the worker serves 5 / 0.2 s = 25 checks a second
WEB_WAIT, CHECK_EXPIRES = 3.0, 4.0  # MAX_BACKLOG_SECONDS defaults to WEB_WAIT / 2


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values or [0.0])[0]


def test_overload_is_refused_fast_and_what_is_accepted_stays_fresh(
        vhost: Vhost, log_dir: Path, upstream: Upstream, tally: Tally) -> None:
    env = base_env(BROKER_URL=vhost.url, WEB_WAIT=str(WEB_WAIT), CHECK_EXPIRES=str(CHECK_EXPIRES))
    worker = start_worker('check', env, log_dir, concurrency=CONCURRENCY, name='chaos-worker-overload')
    web, url = start_web(env, log_dir, name='chaos-web-overload')
    queue = routing.QUEUE_OF[routing.HTTP_CHECK]
    depths: list[int] = []
    sampling = threading.Event()

    def sample_depth() -> None:
        while not sampling.wait(0.5):
            depths.append(vhost.depth(queue))

    def one_check() -> float:
        started = time.monotonic()
        response = requests.get(f'{url}/check', params={'url': f'{upstream.url}/slow?ms={UPSTREAM_MS}'},
                                timeout=30)
        assert response.status_code == 200, response.text
        return time.monotonic() - started

    load = warm_up = None
    sampler = threading.Thread(target=sample_depth, daemon=True)
    try:
        normal = statistics.median(one_check() for _ in range(5))
        sampler.start()
        # Clients retry half a second after a refusal (a polite one would wait Retry-After).
        # A gateway admits everything until it has seen its workers' rate (a cold start), so the
        # load grows in two steps, as it would in production, rather than all at once.
        warm_up = Load(url, upstream, WARM_UP_CLIENTS, ms=UPSTREAM_MS, pause=0.0, error_pause=0.5)
        wait_for(lambda: sum(c.accepted for c in warm_up.since(0)) >= 100, 30, 0.1, 'warm-up')
        load = Load(url, upstream, CLIENTS - WARM_UP_CLIENTS, ms=UPSTREAM_MS, pause=0.0, error_pause=0.5)
        wait_for(lambda: time.monotonic() - load.calls[0].sent_at > SECONDS if load.calls else False,
                 SECONDS + 30, 0.2, 'the load ran')
        calls = warm_up.stop() + load.stop()
        load = warm_up = None
        stopped = time.monotonic()
        recovered = wait_for(lambda: one_check() < 2 * normal + 0.05, 30, 0.2, 'normal latency again')
        recovery_s = time.monotonic() - stopped
        sampling.set()
        collect(url, calls, timeout=60)
    finally:
        sampling.set()
        for running in (load, warm_up):
            if running is not None:
                running.stop()
        web.stop()
        worker.stop()

    accepted = [c for c in calls if c.accepted]
    refused = [c for c in calls if c.status == 503]
    expired = [c for c in accepted if c.final and c.final.get('failed', {}).get('status') == 'EXPIRED']
    late_202 = [c for c in accepted if c.status == 202]
    latency_p99 = percentile([c.latency for c in accepted], 99)
    runs_after = [upstream.first_seen[c.token] - c.sent_at for c in accepted
                  if c.token in upstream.first_seen]
    store = redis.Redis.from_url(REDIS_TEST_URL)
    left = sum(store.exists(f'celery-task-meta-{c.task_id}') for c in accepted)
    store.close()
    served = len(accepted) / SECONDS
    capacity = CONCURRENCY / UPSTREAM_MS * 1000
    row = tally.record_counts(
        f'12. overload {SECONDS:g}s, {CLIENTS} clients on a worker of ~{capacity:.0f}/s',
        len(calls), len(accepted), len(accepted) - len(expired) - sum(c.final is None for c in accepted),
        sum(c.final is None for c in accepted), 'n/a', len(refused),
        notes=(f'{served:.0f} accepted/s; accepted p99 {latency_p99:.2f} s (WEB_WAIT {WEB_WAIT:g}), '
               f'{len(late_202)} x 202, {len(expired)} expired; max queue depth {max(depths, default=0)}; '
               f'latest run {max(runs_after, default=0):.1f} s after sending '
               f'(CHECK_EXPIRES {CHECK_EXPIRES:g}); every 503 says overloaded, retry_after >= 1; '
               f'{left} results left in Redis; normal latency {recovery_s:.1f} s after the load'),
        depths=depths, latency_p99=latency_p99, recovery_s=recovery_s, normal_s=normal,
        recovered_s=recovered)

    odd = [(c.status, c.error) for c in calls if c.status not in (200, 202, 503)]
    assert not odd, odd[:10]
    assert row.lost == 0  # every accepted task has a result or an explicit EXPIRED
    assert refused and accepted, (len(refused), len(accepted))
    assert all(c.body.get('reason') == 'overloaded' and c.body['retry_after'] >= 1 for c in refused)
    assert latency_p99 <= WEB_WAIT + 0.5, latency_p99
    assert len(late_202) <= 0.01 * len(accepted) + 1, len(late_202)
    # A worker checks the expiry when a task arrives and when it hands it to its pool; a check
    # already in the pool may start up to the run time of the one ahead of it later.
    assert max(runs_after) <= CHECK_EXPIRES + UPSTREAM_MS / 1000, max(runs_after)
    # Bounded: what the worker drains in MAX_BACKLOG_SECONDS (~38), plus admissions between
    # two depth reads and the error of the measured rate.
    assert max(depths) <= capacity * WEB_WAIT + 10, depths
    assert left <= 0.01 * len(accepted) + 1, left
    assert recovery_s <= 10, recovery_s
