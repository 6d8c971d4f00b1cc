"""`python -m bench --overload`: the system stays bounded under sustained load and under overload.

1. Sustained: ``--sustained-minutes`` (10) of /check at 60 clients against the shipped stack (c):
   Redis ``used_memory`` and the bench database's key count each minute, the queue depth every
   second, p99 latency per minute.
2. Overload: ``--overload-clients`` (1000) on /check for ``--overload-seconds`` (120) against a
   check worker that serves ~200/s (60 threads on the 200-400 ms upstream): statuses, latency of
   the accepted requests, the queue depth, how late a check ran after its request was sent (the
   upstream, bench/apps/timed_upstream.py, reads the send time from the URL), and how long after
   the load single requests answer at normal latency again.

The clients are asyncio connections in this process, not wrk: a refused client waits as its
``Retry-After`` says, as a well-behaved client does (wrk would retry at once, thousands of
times a second), and each answer's latency is kept with its status. Results go to
``overload.json`` and ``overload.md`` in the results directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import redis

import routing
from bench import stacks
from testbed.process import Proc, child_env, free_port

CAPACITY_THREADS = 60  # threads of the overload worker: 60 / 0.3 s mean = ~200 checks a second


# ----------------------------------------------------------------------------- the clients


@dataclass
class Answer:
    sent: float  # monotonic
    latency: float
    status: int  # 0: no answer (connection error)
    retry_after: float = 0.0


@dataclass
class Clients:
    """``count`` keep-alive HTTP/1.1 connections, each sending one request after the other."""

    host: str
    port: int
    target: str  # the upstream URL the /check requests name
    count: int
    answers: list[Answer] = field(default_factory=list)
    stopping: bool = False

    def path(self) -> str:
        url = f'{self.target}?sent={time.time():.3f}'
        return '/check?url=' + urllib.parse.quote(url, safe='')

    async def request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Answer:
        started = time.monotonic()
        writer.write(f'GET {self.path()} HTTP/1.1\r\nHost: {self.host}\r\n\r\n'.encode())
        head = await reader.readuntil(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(':') for line in lines[1:] if line)
        }
        await reader.readexactly(int(headers.get('content-length', '0')))
        return Answer(
            started,
            time.monotonic() - started,
            int(lines[0].split()[1]),
            float(headers.get('retry-after', '0')),
        )

    async def client(self) -> None:
        connection = None
        while not self.stopping:
            try:
                if connection is None:
                    connection = await asyncio.open_connection(self.host, self.port)
                answer = await asyncio.wait_for(self.request(*connection), 30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                answer = Answer(time.monotonic(), 0.0, 0)
                if connection is not None:
                    connection[1].close()
                connection = None
                await asyncio.sleep(0.5)
            self.answers.append(answer)
            if answer.retry_after:
                await asyncio.sleep(answer.retry_after)
        if connection is not None:
            connection[1].close()

    async def run(self, seconds: float, every: float, on_tick) -> None:
        tasks = [asyncio.create_task(self.client()) for _ in range(self.count)]
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            await asyncio.sleep(min(every, seconds - (time.monotonic() - started)))
            on_tick(time.monotonic() - started)
        self.stopping = True
        await asyncio.gather(*tasks)


# ----------------------------------------------------------------------------- measuring


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1]


class DepthSampler:
    """The check queue's depth every second, in a thread (kombu, as the tests read it)."""

    def __init__(self, vhost) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(vhost,), daemon=True)
        self._thread.start()

    def _run(self, vhost) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(vhost.depth(routing.QUEUE_OF[routing.HTTP_CHECK]))

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(10)
        return self.samples


def single_latency(clients: Clients) -> float:
    async def once() -> float:
        reader, writer = await asyncio.open_connection(clients.host, clients.port)
        try:
            answer = await clients.request(reader, writer)
        finally:
            writer.close()
        if answer.status != 200:
            raise RuntimeError(f'answered {answer.status}')
        return answer.latency

    return asyncio.run(once())


def upstream_stats(url: str) -> dict:
    with urllib.request.urlopen(url + 'stats', timeout=10) as response:
        return json.loads(response.read())


def sustained(
    options: argparse.Namespace, stack: stacks.Stack, upstream_url: str, store: redis.Redis
) -> dict:
    base = urllib.parse.urlsplit(stack.url)
    clients = Clients(base.hostname, base.port, upstream_url, options.clients)
    minutes: list[dict] = []
    depth = DepthSampler(stack.vhost)
    memory = [store.info('memory')['used_memory']]
    print(f'sustained: {options.sustained_minutes:g} min at {options.clients} clients', flush=True)

    def tick(elapsed: float) -> None:
        since = time.monotonic() - 60
        last = [a for a in clients.answers if a.sent >= since]
        minutes.append(
            {
                'minute': round(elapsed / 60),
                'requests': len(last),
                'statuses': dict(Counter(str(a.status) for a in last)),
                'p50_ms': round(pct([a.latency for a in last], 50) * 1000, 1),
                'p99_ms': round(pct([a.latency for a in last], 99) * 1000, 1),
                'used_memory': store.info('memory')['used_memory'],
                'keys': store.dbsize(),
                'max_depth': max(depth.samples[-60:], default=0),
            }
        )
        print(f'  {minutes[-1]}', flush=True)

    asyncio.run(clients.run(options.sustained_minutes * 60, 60, tick))
    depths = depth.stop()
    memory.append(store.info('memory')['used_memory'])
    return {
        'clients': options.clients,
        'minutes': minutes,
        'used_memory': memory,
        'max_depth': max(depths, default=0),
        'requests': len(clients.answers),
        'statuses': dict(Counter(str(a.status) for a in clients.answers)),
    }


def overload(options: argparse.Namespace, stack: stacks.Stack, upstream_url: str) -> dict:
    base = urllib.parse.urlsplit(stack.url)
    clients = Clients(base.hostname, base.port, upstream_url, options.overload_clients)
    normal = statistics.median(single_latency(clients) for _ in range(5))
    upstream_stats(upstream_url)  # reset
    depth = DepthSampler(stack.vhost)
    print(f'overload: {options.overload_clients} clients for {options.overload_seconds:g} s', flush=True)
    asyncio.run(
        clients.run(
            options.overload_seconds,
            10,
            lambda e: print(
                f'  {e:.0f} s: {len(clients.answers)} answers, depth {depth.samples[-1:]}', flush=True
            ),
        )
    )
    stopped = time.monotonic()
    while single_latency(clients) > 2 * normal + 0.05 and time.monotonic() - stopped < 120:
        time.sleep(0.2)
    recovery = time.monotonic() - stopped
    depths = depth.stop()
    late = upstream_stats(upstream_url)
    accepted = [a for a in clients.answers if a.status in (200, 202)]
    refused = [a for a in clients.answers if a.status == 503]
    return {
        'clients': options.overload_clients,
        'seconds': options.overload_seconds,
        'statuses': dict(Counter(str(a.status) for a in clients.answers)),
        'accepted_per_s': round(len(accepted) / options.overload_seconds, 1),
        'accepted_p50_ms': round(pct([a.latency for a in accepted], 50) * 1000, 1),
        'accepted_p99_ms': round(pct([a.latency for a in accepted], 99) * 1000, 1),
        'refused_p99_ms': round(pct([a.latency for a in refused], 99) * 1000, 2),
        'refused_with_retry_after': sum(a.retry_after >= 1 for a in refused),
        'max_depth': max(depths, default=0),
        'upstream_lateness': late,
        'normal_ms': round(normal * 1000, 1),
        'recovery_s': round(recovery, 1),
    }


def markdown(result: dict) -> str:
    s, o = result.get('sustained'), result.get('overload')
    lines = ['# Bounded under load (`python -m bench --overload`)', '']
    if s:
        memory = s['used_memory']
        lines += [
            f'## Sustained: {len(s["minutes"])} min of /check at {s["clients"]} clients',
            '',
            f'Redis used_memory {memory[0] / 2**20:.1f} -> {memory[-1] / 2**20:.1f} MiB '
            f'({(memory[-1] - memory[0]) / 2**20:+.1f}); max queue depth {s["max_depth"]}; '
            f'{s["requests"]} requests {s["statuses"]}',
            '',
            '| minute | requests | p50 ms | p99 ms | used_memory MiB | keys in the bench DB | max depth |',
            '|--:|--:|--:|--:|--:|--:|--:|',
        ]
        lines += [
            f'| {m["minute"]} | {m["requests"]} | {m["p50_ms"]} | {m["p99_ms"]} | '
            f'{m["used_memory"] / 2**20:.1f} | {m["keys"]} | {m["max_depth"]} |'
            for m in s['minutes']
        ]
        lines.append('')
    if o:
        lines += [
            f'## Overload: {o["clients"]} clients on /check for {o["seconds"]:g} s, a worker of ~200/s',
            '',
            '| measure | value |',
            '|---|--:|',
        ]
        lines += [f'| {k} | {v} |' for k, v in o.items() if k not in ('clients', 'seconds')]
    return '\n'.join(lines) + '\n'


def logs(raw: Path, name: str) -> Path:
    path = raw / name
    path.mkdir(exist_ok=True)
    for old in path.glob('*.log'):
        old.unlink()
    return path


def run(options: argparse.Namespace) -> None:
    raw = options.out / 'raw'
    result: dict = {}
    store = redis.Redis.from_url(options.redis_url)
    with ExitStack() as stack:
        port = free_port()
        stack.enter_context(
            stacks.running(
                Proc(
                    'timed-upstream',
                    [sys.executable, '-m', 'bench.apps.timed_upstream', '--port', str(port)],
                    child_env(),
                    raw,
                )
            )
        )
        upstream_url = f'http://127.0.0.1:{port}/'
        stacks.wait_http(upstream_url)
        # Each stack logs into a directory of its own: a process waits for its log's
        # 'listening on', which an earlier stack's log of the same name already holds.
        if options.sustained_minutes:
            with stacks.celery_gateway(
                logs(raw, 'sustained'), options.redis_url, 'shipped', options.web_processes,
                options.check_concurrency,
            ) as shipped:
                result['sustained'] = sustained(options, shipped, upstream_url, store)
        if options.overload_seconds:
            with stacks.celery_gateway(
                logs(raw, 'overload'), options.redis_url, 'shipped', options.web_processes, CAPACITY_THREADS
            ) as limited:
                result['overload'] = overload(options, limited, upstream_url)
    store.close()
    (options.out / 'overload.json').write_text(json.dumps(result, indent=2))
    (options.out / 'overload.md').write_text(markdown(result))
    print(markdown(result))
