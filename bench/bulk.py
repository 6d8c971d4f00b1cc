"""Bulk checks beside blackbox_exporter: 1000 routes in one ``POST /checks`` against 1000 ``/probe``
requests to the exporter at the same concurrency (all at once), and the CPU each side's processes
spend on them, side by side in one run. Issue 25's targets are judged here (``goals``).

The client (this process) is not counted on either side: the figures are the servers'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from bench import stacks, sysstat
from bench.reports.bulk import BULK, STACK
from testbed import procfs

REPEATS, QUICK_REPEATS = 5, 2  # requests of BULK checks per measured run
RSS_REQUESTS, QUICK_RSS_REQUESTS = 100, 10
HTTP_DEADLINE_S = 1.5  # issue 25: the whole request of 1000 HTTP checks of the slow upstream


@dataclass
class BulkRun:
    """``checks`` checks of one kind, in requests of BULK (ours) or batches of BULK probes (theirs)."""

    key: str  # ours, ours-from-all or blackbox
    kind: str  # tcp or http
    checks: int
    ok: int
    wall_s: list[float]  # each request (ours) or batch of probes (theirs), first byte sent to last read
    cpu_s: dict[str, float]  # per component over the whole run

    @property
    def cpu_ms_per_check(self) -> float:
        return sum(self.cpu_s.get(part, 0.0) for part in STACK) / self.checks * 1000

    @property
    def worst_s(self) -> float:
        return max(self.wall_s)


def post_checks(base: str, targets: list[dict], where: str | None = None) -> tuple[float, int]:
    """One POST /checks: (seconds it took, checks that came back ok or failed, not pending)."""
    body = {'targets': targets, **({'from': where} if where else {})}
    request = urllib.request.Request(f'{base}/checks', data=json.dumps(body).encode(), method='POST',
                                     headers={'Content-Type': 'application/json'})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as answer:
        summary = json.load(answer)['summary']
    return time.monotonic() - started, sum(summary[k] for k in ('ok', 'failed', 'partial'))


def probe_batch(base: str, paths: list[str]) -> tuple[float, int]:
    """Every path at once (one connection each, as Prometheus scrapes): (seconds, answers 200)."""

    async def fetch_all() -> int:
        client = AsyncHTTPClient(force_instance=True, max_clients=len(paths))
        try:
            answers = await asyncio.gather(*(client.fetch(base + path, raise_error=False, request_timeout=30)
                                             for path in paths))
        finally:
            client.close()
        return sum(answer.code == 200 and b'probe_success 1' in answer.body for answer in answers)

    started = time.monotonic()
    ok = asyncio.run(fetch_all())
    return time.monotonic() - started, ok


def measured(key: str, kind: str, groups: sysstat.Groups, repeats: int,
             once: Callable[[], tuple[float, int]]) -> BulkRun:
    once()  # warm-up: connections, the loop's first chunk, the exporter's first probes
    before = sysstat.cpu_snapshot(groups)
    walls, ok = [], 0
    for _ in range(repeats):
        wall, good = once()
        walls.append(round(wall, 3))
        ok += good
    used = sysstat.cpu_used(before, sysstat.cpu_snapshot(groups))
    return BulkRun(key, kind, repeats * BULK, ok, walls, {k: round(v, 3) for k, v in used.items()})


def plan(upstream_url: str, port: int) -> dict[str, tuple[list[dict], list[str]]]:
    """Per kind, our targets and the exporter's /probe paths for the same BULK checks."""
    tcp_target = f'127.0.0.1:{port}'
    return {
        'tcp': ([{'host': '127.0.0.1', 'port': port}] * BULK,
                ['/probe?' + urllib.parse.urlencode({'module': 'tcp_connect', 'target': tcp_target})] * BULK),
        'http': ([{'url': upstream_url}] * BULK,
                 ['/probe?' + urllib.parse.urlencode({'module': 'http_2xx', 'target': upstream_url})] * BULK),
    }


def run(options: argparse.Namespace, raw: Path, upstream_url: str, shared: sysstat.Groups) -> dict:
    """Every bulk run, the RSS over RSS_REQUESTS bulk requests, and issue 25's targets."""
    repeats = QUICK_REPEATS if options.quick else REPEATS
    port = urllib.parse.urlsplit(upstream_url).port or 80
    kinds = plan(upstream_url, port)
    runs: list[BulkRun] = []
    rss: dict = {}
    ours_cm: AbstractContextManager[stacks.Stack] = stacks.celery_gateway(
        raw, options.redis_url, 'shipped', options.web_processes, options.check_concurrency)
    with ours_cm as ours:
        stacks.wait_http(f'{ours.url}/healthz')  # its logs may hold an earlier stack's "listening"
        groups = {**ours.groups, **shared}
        for kind, (targets, _) in kinds.items():
            print(f'POST /checks: {BULK} {kind} checks x {repeats}', flush=True)
            runs.append(measured('ours', kind, groups, repeats,
                                 lambda targets=targets: post_checks(ours.url, targets)))
        rss = rss_run(ours, kinds['tcp'][0], QUICK_RSS_REQUESTS if options.quick else RSS_REQUESTS)
    with stacks.blackbox(raw) as theirs:
        for kind, (_, paths) in kinds.items():
            print(f'blackbox_exporter: {BULK} {kind} probes at once x {repeats}', flush=True)
            runs.append(measured('blackbox', kind, theirs.groups, repeats,
                                 lambda paths=paths: probe_batch(theirs.url, paths)))
    located = stacks.two_locations(raw, options.redis_url, options.web_processes, options.check_concurrency)
    with located as both:
        targets = kinds['http'][0]
        print(f'POST /checks from=all: {BULK} http checks x 2 locations x {repeats}', flush=True)
        runs.append(measured('ours-from-all', 'http', {**both.groups, **shared}, repeats,
                             lambda: post_checks(both.url, targets, 'all')))
    return {'runs': [asdict(r) | {'cpu_ms_per_check': round(r.cpu_ms_per_check, 3)} for r in runs],
            'rss': rss, 'goals': goals(runs, rss)}


def rss_run(stack: stacks.Stack, targets: list[dict], requests: int) -> dict:
    """RSS of each web process and of the worker before and after ``requests`` bulk requests."""
    pids = {**{f'web {pid}': pid for pid in stack.web_pids},
            **{f'worker {pid}': pid for pid in stack.groups['worker']}}
    print(f'POST /checks x {requests} for RSS', flush=True)
    before = {name: procfs.rss_kib(pid) for name, pid in pids.items()}
    for _ in range(requests):
        post_checks(stack.url, targets)
    after = {name: procfs.rss_kib(pid) for name, pid in pids.items()}
    return {'requests': requests, 'rss_kib': {name: {'before': before[name], 'after': after[name]}
                                              for name in pids},
            'max_growth_kib': max(after[name] - before[name] for name in pids)}


def goals(runs: list[BulkRun], rss: dict) -> list[dict]:
    """Issue 25's targets: CPU per check against blackbox's per probe; the HTTP request's time."""
    found = {(r.key, r.kind): r for r in runs}
    out = []
    for kind in ('tcp', 'http'):
        ours, theirs = found.get(('ours', kind)), found.get(('blackbox', kind))
        if ours and theirs:
            ratio = ours.cpu_ms_per_check / theirs.cpu_ms_per_check
            out.append({'target': f'{BULK} {kind} checks: CPU per check <= blackbox_exporter\'s per probe',
                        'measured': f'{ratio:.2f} x ({ours.cpu_ms_per_check:.3f} vs '
                                    f'{theirs.cpu_ms_per_check:.3f} ms)',
                        'pass': ratio <= 1.0})
    if http := found.get(('ours', 'http')):
        out.append({'target': f'{BULK} http checks of the slow upstream in <= {HTTP_DEADLINE_S} s',
                    'measured': f'{http.worst_s:.2f} s (worst of {len(http.wall_s)})',
                    'pass': http.worst_s <= HTTP_DEADLINE_S})
    if rss:
        growth = rss['max_growth_kib'] / 1024
        out.append({'target': f'web and worker RSS flat over {rss["requests"]} bulk requests (<= 5 MiB)',
                    'measured': f'{growth:+.1f} MiB (worst process)', 'pass': growth <= 5.0})
    return out
