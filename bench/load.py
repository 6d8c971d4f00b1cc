"""Load: wrk (or the plain Celery client) with a warm-up, then a measured run, together with
the CPU every component used meanwhile.

The load tool's own CPU time comes from wait4()'s rusage, so it is exact; the servers' from
/proc before and after.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import sysstat

WRK = '/usr/bin/wrk'
LUA = Path(__file__).with_name('wrk_summary.lua')
# Past every server-side wait (web.py answers 202 after WEB_WAIT = 10 s), so slow answers are
# measured as slow, not dropped as wrk timeouts.
TIMEOUT_S = 15
CPUS = os.cpu_count() or 1


@dataclass
class Run:
    """One measured run at one client count."""

    clients: int
    duration_s: float
    ok: int  # successful answers: HTTP 200 (or a completed call for the plain client)
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]  # p50, p90, p99
    client_cpu_pct: float  # the load tool, in % of one core
    machine_busy_pct: float  # all CPUs, 100 = every core busy for the whole run
    cpu_pct: dict[str, float]  # per component, in % of one core
    redis_memory: tuple[int, int] | None = None  # Redis used_memory before and after, bytes

    @property
    def qps(self) -> float:
        return self.ok / self.duration_s

    @property
    def errors(self) -> int:
        """Every request that did not get a 200: other statuses (202 = no result in time) and
        socket errors (connect, read, write, timeout; 'status' repeats the non-2xx count)."""
        return sum(n for status, n in self.statuses.items() if status != '200') + sum(
            n for kind, n in self.socket_errors.items() if kind != 'status'
        )


def run_json(argv: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[dict, float]:
    """Run a program that ends its output with a JSON line; return it and the program's CPU
    seconds (user + system)."""
    with open(log, 'w') as out:
        out.write(' '.join(argv) + '\n')
        out.flush()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C included: never leave it running
            proc.kill()
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    lines = log.read_text().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith('{'):
        raise RuntimeError(f'{argv[0]} failed ({proc.returncode}), see {log}')
    return json.loads(lines[-1]), usage.ru_utime + usage.ru_stime


def wrk(url: str, clients: int, duration: float, log: Path) -> tuple[dict, float]:
    threads = str(min(clients, CPUS))
    argv = [
        WRK,
        '-t',
        threads,
        '-c',
        str(clients),
        '-d',
        f'{math.ceil(duration)}s',
        '--timeout',
        f'{TIMEOUT_S}s',
    ]
    return run_json([*argv, '--latency', '-s', str(LUA), url], log)


def _accounted(
    groups: sysstat.Groups, load: Callable[[], tuple[dict, float]], redis_url: str | None
) -> tuple[dict, float, dict]:
    """Run ``load``; return its summary, its CPU in % of a core, and the machine and component CPU
    (and Redis's used_memory before and after, given ``redis_url``)."""
    memory_before = sysstat.redis_used_memory(redis_url) if redis_url else None
    before, busy_before, started = sysstat.cpu_snapshot(groups), sysstat.machine_jiffies(), time.monotonic()
    summary, client_cpu = load()
    wall = time.monotonic() - started
    after, busy_after = sysstat.cpu_snapshot(groups), sysstat.machine_jiffies()
    usage = {name: round(used / wall * 100, 1) for name, used in sysstat.cpu_used(before, after).items()}
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * 100
    extra: dict = {'machine_busy_pct': busy, 'cpu_pct': usage}
    if redis_url:
        extra['redis_memory'] = (memory_before, sysstat.redis_used_memory(redis_url))
    return summary, client_cpu / wall * 100, extra


def measure(
    url: str,
    clients: int,
    warmup: float,
    duration: float,
    groups: sysstat.Groups,
    log: Path,
    drain: Callable[[], None],
    redis_url: str | None = None,
) -> Run:
    """Warm up, let the server finish what the warm-up left (answers nobody reads would only
    slow the measured run), then measure."""
    if warmup > 0:
        wrk(url, clients, warmup, log.with_suffix('.warmup.log'))
        drain()
    summary, client_pct, usage = _accounted(groups, lambda: wrk(url, clients, duration, log), redis_url)
    latency = summary['latency_us']
    return Run(
        clients=clients,
        duration_s=summary['duration_us'] / 1e6,
        ok=summary['statuses'].get('200', 0),
        statuses=summary['statuses'],
        socket_errors=summary['errors'],
        latency_ms={k: latency[k] / 1000 for k in ('p50', 'p90', 'p99')},
        client_cpu_pct=client_pct,
        **usage,
    )


def measure_plain(
    env: dict[str, str],
    threads: int,
    warmup: float,
    duration: float,
    groups: sysstat.Groups,
    log: Path,
    redis_url: str | None = None,
) -> Run:
    """The plain client's run; its warm-up happens inside it, so CPU shares cover both."""
    argv = [
        sys.executable,
        '-m',
        'bench.apps.plain_client',
        '--threads',
        str(threads),
        '--warmup',
        str(warmup),
        '--duration',
        str(duration),
    ]
    summary, client_pct, usage = _accounted(groups, lambda: run_json(argv, log, env), redis_url)
    return Run(
        clients=threads,
        duration_s=summary['duration_s'],
        ok=summary['requests'],
        statuses={'200': summary['requests']},
        socket_errors={'failed': summary['errors']},
        latency_ms=summary['latency_ms'],
        client_cpu_pct=client_pct,
        **usage,
    )
