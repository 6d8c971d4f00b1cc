"""`python -m bench.experiments.pools`: the check worker's variants side by side, behind the same gateway.

Every variant runs at once (its own vhost, its own web.py x N and check worker); each client
count loads them one after the other, round after round, so the shared machine's drift falls on
all of them alike. The figure that matters is the worker's CPU per check (from /proc), since
qps on a busy 2-core machine moves with everything else running. Output: results/pools.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import routing
from bench import load, stacks
from bench.__main__ import RESULTS, shared_services
from bench.apps.upstream import HIGH
from bench.load import CPUS

# name -> (pool, concurrency (None: --concurrency's), settings changed from celeryconfig and
# main.py, environment). broker_heartbeat=0 for gevent: Celery 5.7's green-pool loop waits up to
# 0.1 s on the event connection after every message it reads while AMQP heartbeats are on:
# ~10 tasks/s.
GEVENT = {'broker_heartbeat': 0}
NO_EVENTS = {'worker_send_task_events': False}
BEFORE = {'result_backend_thread_safe': False}  # what main.py's worker settings changed
TASK_LOGS = {'TASK_LOG_LEVEL': 'INFO'}
NO_CHECK = {'BENCH_NO_CHECK': '1'}  # Celery's own per-task cost: the task waits instead of checking
VARIANTS: dict[str, tuple[str, int | None, dict, dict]] = {
    'threads': ('threads', None, {}, {}),
    'threads-no-events': ('threads', None, NO_EVENTS, {}),
    'threads-no-check': ('threads', None, {}, NO_CHECK),
    'threads-no-check-no-events': ('threads', None, NO_EVENTS, NO_CHECK),
    'threads-c100': ('threads', 100, {}, {}),  # supervisord's CHECK_CONCURRENCY
    'threads-task-logs': ('threads', None, {}, TASK_LOGS),
    'threads-backend-per-thread': ('threads', None, BEFORE, {}),
    'threads-before': ('threads', None, BEFORE, TASK_LOGS),
    'gevent': ('gevent', None, GEVENT, {}),
    'gevent-no-events': ('gevent', None, {**GEVENT, **NO_EVENTS}, {}),
    'gevent-backend-per-task': ('gevent', None, {**GEVENT, **BEFORE}, {}),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.experiments.pools', description=__doc__)
    parser.add_argument(
        '--variants',
        default='threads,threads-no-events,gevent,gevent-no-events',
        help='comma-separated, of: ' + ', '.join(VARIANTS),
    )
    parser.add_argument('--clients', default='60,120,240', help='client counts')
    parser.add_argument('--rounds', type=int, default=2, help='times each variant is measured at each count')
    parser.add_argument('--concurrency', type=int, default=500, help="the check worker's -c")
    parser.add_argument('--warmup', type=float, default=3.0)
    parser.add_argument('--duration', type=float, default=15.0)
    parser.add_argument('--redis-url', default='redis://127.0.0.1:6379/2')
    parser.add_argument('--out', type=Path, default=RESULTS)
    return parser.parse_args()


@contextmanager
def variant_stack(raw: Path, options: argparse.Namespace, name: str) -> Iterator[stacks.Stack]:
    pool, concurrency, conf, variables = VARIANTS[name]
    with ExitStack() as stack:
        vhost, env = stack.enter_context(stacks.isolated(raw, options.redis_url))
        env.update(variables, BENCH_WORKER_CONF=json.dumps(conf))
        worker = stacks.celery_worker(
            stack,
            f'pool-{name}',
            env,
            raw,
            pool,
            concurrency or options.concurrency,
            routing.CHECK_WORKER_QUEUES,
            app='bench.apps.worker_app',
        )
        webs, url = stacks.web_processes(
            stack, f'pool-web-{name}', [sys.executable, 'web.py'], env, raw, CPUS
        )
        yield stacks.Stack(url, {'web': [p.pid for p in webs], 'worker': [worker.pid]}, vhost)


def per_request_ms(cpu_pct: float, qps: float) -> float:
    """CPU milliseconds per answered request, from a component's % of one core and the qps."""
    return cpu_pct * 10 / qps if qps else float('nan')


def main() -> None:
    options = parse_args()
    raw = options.out / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    names = [n.strip() for n in options.variants.split(',')]
    rows = []
    with ExitStack() as stack:
        upstream_url, upstream_pid = stack.enter_context(stacks.upstream(raw))
        path = '/check?url=' + urllib.parse.quote(upstream_url, safe='')
        running = {name: stack.enter_context(variant_stack(raw, options, name)) for name in names}
        services = shared_services()
        for clients in (int(n) for n in options.clients.split(',')):
            for round_ in range(options.rounds):
                for name, target in running.items():
                    print(f'{name} at {clients} clients, round {round_ + 1}', flush=True)

                    def drain(target: stacks.Stack = target) -> None:
                        target.drain(path, fast_s=HIGH * 2)

                    drain()
                    run = load.measure(
                        target.url + path,
                        clients,
                        options.warmup,
                        options.duration,
                        {**target.groups, 'upstream': [upstream_pid], **services},
                        raw / f'pools-{clients}-{round_}.log',
                        drain,
                    )
                    rows.append((name, clients, round_, run))
    write(options, rows)


def write(options: argparse.Namespace, rows: list) -> None:
    lines = [
        '# Check worker variants, side by side',
        '',
        f'`python -m bench.experiments.pools --variants {options.variants} --clients {options.clients} '
        f'--rounds '
        f'{options.rounds} --concurrency {options.concurrency} --warmup {options.warmup:g} --duration '
        f'{options.duration:g}`: N = {CPUS} web.py in front of each worker (-l info), no Flower. '
        'ms/check: CPU milliseconds per answered check, from the % of one core and the qps.',
        '',
        '| variant | clients | round | qps | p50 ms | p99 ms | errors | machine busy '
        '| worker ms/check | web ms/check | rabbitmq ms/check | redis ms/check |',
        '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    ]
    for name, clients, round_, run in rows:
        ms = {k: per_request_ms(v, run.qps) for k, v in run.cpu_pct.items()}
        lines.append(
            f'| {name} | {clients} | {round_ + 1} | {run.qps:.1f} | {run.latency_ms["p50"]:.0f} '
            f'| {run.latency_ms["p99"]:.0f} | {run.errors} | {run.machine_busy_pct:.0f}% '
            f'| {ms["worker"]:.2f} | {ms["web"]:.2f} | {ms["rabbitmq"]:.2f} | {ms["redis"]:.2f} |'
        )
    text = '\n'.join(lines) + '\n'
    (options.out / 'pools.md').write_text(text)
    print(text)


if __name__ == '__main__':
    main()
