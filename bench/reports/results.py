"""The results: rows, targets, versions, and results.md / results.json / PNG plots."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from bench.load import CPUS, WRK, Run
from bench.upstream import MEAN

STACKS = {
    'a': 'a. uWSGI + Flask (10 processes x 3 threads)',
    'b': 'b. web.py + prefork check worker -c 10 (seed)',
    'c': 'c. N x web.py + thread check worker (ours)',
    'ours': 'web.py (ours)',
    'c-quorum': 'c on a 3-node RabbitMQ cluster, quorum queues',
    'ours-quorum': 'web.py (ours), 3-node RabbitMQ cluster, quorum queues',
    'naive': 'naive Tornado (apply_async + run_in_executor(get))',
    'plain': 'plain Celery client, threads (ceiling)',
    'fastapi': 'FastAPI + uvicorn --workers N, Celery client in the thread pool (peer)',
    'floor': 'floor: N x Tornado answering after the same wait, nothing behind it',
    'bare': 'bare: N x Tornado + as_task_v2 + aio-pika + redis.asyncio, nothing else',
}
# What web.py's CPU per request is compared with in the Targets table (same endpoint, same run).
REFERENCES = {'floor': 'Tornado alone, the floor', 'bare': 'the libraries alone, bare'}
THREAD_LIMIT_QPS = 30 / MEAN  # stack a: 30 threads, each busy for one upstream call at a time
# CPU per request: the stack's own components; the upstream is what is checked, not the stack.
STACK_COMPONENTS = ('web', 'uwsgi', 'worker', 'rabbitmq', 'redis')


@dataclass
class Row:
    endpoint: str
    stack: str
    clients: int
    qps: float
    per_min: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    ok: int
    errors: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    bound_qps: float | None  # /check: clients / mean upstream latency
    client_cpu_pct: float  # wrk (or the plain client), % of one core
    machine_busy_pct: float
    cpu_pct: dict[str, float]
    note: str = ''  # why a run has no figures
    redis_memory: tuple[int, int] | None = None  # Redis used_memory before and after, bytes

    @classmethod
    def stalled(cls, endpoint: str, stack: str, clients: int, why: str) -> Row:
        bound = round(clients / MEAN, 1) if endpoint == '/check' else None
        return cls(
            endpoint,
            stack,
            clients,
            0.0,
            0,
            0.0,
            0.0,
            0.0,
            0,
            0,
            {},
            {},
            bound,
            0.0,
            0.0,
            {},
            note=f'not measured: stack stalled ({why})',
        )

    @classmethod
    def of(cls, endpoint: str, stack: str, run: Run) -> Row:
        return cls(
            endpoint=endpoint,
            stack=stack,
            clients=run.clients,
            qps=round(run.qps, 1),
            per_min=round(run.qps * 60),
            p50_ms=round(run.latency_ms['p50'], 2),
            p90_ms=round(run.latency_ms['p90'], 2),
            p99_ms=round(run.latency_ms['p99'], 2),
            ok=run.ok,
            errors=run.errors,
            statuses=run.statuses,
            socket_errors=run.socket_errors,
            bound_qps=round(run.clients / MEAN, 1) if endpoint == '/check' else None,
            client_cpu_pct=round(run.client_cpu_pct, 1),
            machine_busy_pct=round(run.machine_busy_pct, 1),
            cpu_pct=run.cpu_pct,
            redis_memory=run.redis_memory,
        )

    def cpu_ms(self, component: str) -> float | None:
        """CPU milliseconds a component spent per answered request (% of one core / qps)."""
        if component not in self.cpu_pct or not self.qps:
            return None
        return self.cpu_pct[component] * 10 / self.qps

    @property
    def stack_cpu_ms(self) -> float | None:
        parts = [self.cpu_ms(c) for c in STACK_COMPONENTS if c in self.cpu_pct]
        return sum(p for p in parts if p is not None) if parts and self.qps else None


def find_row(rows: list[Row], endpoint: str, stack: str, clients: int) -> Row | None:
    return next((r for r in rows if (r.endpoint, r.stack, r.clients) == (endpoint, stack, clients)), None)


def references(rows: list[Row], row: Row, component: str) -> str:
    """The floor's and bare's CPU per request beside web.py's, from the same run: what Tornado
    alone and the libraries alone cost for the same request."""
    if component != 'web':
        return ''
    found = [(key, find_row(rows, row.endpoint, key, row.clients)) for key in REFERENCES]
    shown = [f'{REFERENCES[key]}: {ref.cpu_ms("web"):.2f} ms' for key, ref in found
             if ref and ref.cpu_ms('web')]
    return f' ({"; ".join(shown)})' if shown else ''


def targets(rows: list[Row], options: argparse.Namespace, memory: dict) -> list[dict]:
    """Each target of issue 10: the measured figure, and pass or miss."""
    out: list[dict] = []

    def target(name: str, measured: str, passed: bool) -> None:
        out.append({'target': name, 'measured': measured, 'pass': passed})

    def versus(name: str, ours: Row | None, peer: Row | None, factor: float) -> None:
        if ours and peer:
            ratio = ours.qps / max(peer.qps, 0.1)
            target(name, f'{ratio:.2f} x ({ours.qps} vs {peer.qps} qps)', ratio >= factor)

    def of_bound(name: str, row: Row | None, share: float) -> None:
        if row and row.bound_qps:
            target(
                name,
                f'{row.qps / row.bound_qps:.0%} ({row.qps} of {row.bound_qps} qps)',
                row.qps >= share * row.bound_qps,
            )

    n = options.clients
    c = find_row(rows, '/check', 'c', n)
    ours = find_row(rows, '/add', 'ours', n)
    for name, row, component, limit in (('web CPU per /check', c, 'web', 1.2),
                                        ('web CPU per /add', ours, 'web', 1.0),
                                        ('worker CPU per /check', c, 'worker', 2.0)):
        ms = row.cpu_ms(component) if row else None
        if ms is not None:
            measured = f'{ms:.2f} ms' + references(rows, row, component)
            target(f'{name} at {n} <= {limit} ms', measured, ms <= limit)
    of_bound(f'/check at {n}: c >= 95% of bound', c, 0.95)
    versus(f'/check at {n}: c >= 1.9 x a', c, find_row(rows, '/check', 'a', n), 1.9)
    c2 = find_row(rows, '/check', 'c', 2 * n)
    of_bound(f'/check at {2 * n}: c >= 85% of bound', c2, 0.85)
    versus(f'/check at {2 * n}: c >= 1.4 x FastAPI', c2, find_row(rows, '/check', 'fastapi', 2 * n), 1.4)
    versus(f'/add at {n}: ours >= 1.5 x FastAPI', ours, find_row(rows, '/add', 'fastapi', n), 1.5)
    versus(f'/add at {n}: ours >= 2 x naive', ours, find_row(rows, '/add', 'naive', n), 2.0)
    if c and c.stack_cpu_ms is not None:
        parts = ', '.join(f'{k} {c.cpu_ms(k):.2f}' for k in STACK_COMPONENTS if c.cpu_ms(k) is not None)
        target(
            f'stack CPU per /check at {n} <= 4.0 ms',
            f'{c.stack_cpu_ms:.2f} ms ({parts})',
            c.stack_cpu_ms <= 4.0,
        )
    single, plain = find_row(rows, '/add', 'ours', 1), find_row(rows, '/add', 'plain', 1)
    if single and plain:
        added = single.p50_ms - plain.p50_ms
        target(
            '/add at 1 client: ours adds <= 1 ms p50 over the plain client',
            f'{added:+.2f} ms ({single.p50_ms} vs {plain.p50_ms} ms)',
            added <= 1.0,
        )
    if memory:
        growth = memory['max_growth_kib'] / 1024
        target(
            f'web RSS growth <= 5 MB over {memory["requests"]} /add',
            f'{growth:.1f} MiB (worst process)',
            growth <= 5.0,
        )
    if memory and 'results_left' in memory:  # issue 16: results delivered with a 200 are deleted
        left = memory['results_left'] / max(memory['requests'], 1)
        target(
            f'results left in Redis after {memory["requests"]} /add <= 1%',
            f'{memory["results_left"]} ({left:.2%})',
            left <= 0.01,
        )
    return out


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return 'unknown'


def versions() -> dict[str, str]:
    found = {'python': platform.python_version()}
    packages = (
        'celery',
        'kombu',
        'tornado',
        'aio-pika',
        'redis',
        'pyuwsgi',
        'flask',
        'requests',
        'fastapi',
        'uvicorn',
    )
    for name in packages:
        found['redis-py' if name == 'redis' else name] = metadata.version(name)
    found['wrk'] = _version([WRK, '-v']).split(' [')[0].removeprefix('wrk ')
    found['rabbitmq'] = _version(['rabbitmqctl', '-q', 'version'])
    found['redis-server'] = _version(['redis-server', '--version'])
    return found


def machine() -> dict[str, object]:
    model = next(
        (
            line.split(':', 1)[1].strip()
            for line in Path('/proc/cpuinfo').read_text().splitlines()
            if line.startswith('model name')
        ),
        platform.processor(),
    )
    return {'cpus': CPUS, 'cpu_model': model, 'kernel': platform.release()}


def _markdown(
    options: argparse.Namespace, rows: list[Row], goals: list[dict], memory: dict, env: dict
) -> str:
    lines = [
        '# route_check benchmark results',
        '',
        f'`python -m bench` on {env["machine"]["cpus"]} CPUs ({env["machine"]["cpu_model"]}); '
        f'{options.warmup:g} s warm-up + {options.duration:g} s measured per run; upstream answers after '
        f'a uniform 200-400 ms (mean {MEAN * 1000:.0f} ms). qps counts HTTP 200 answers only.',
        '',
        '| endpoint | stack | clients | qps | per min | bound | % of bound | p50 ms | p90 ms | p99 ms '
        '| errors | load tool CPU | machine busy | note |',
        '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
    ]
    for r in rows:
        bound = f'{r.bound_qps:g}' if r.bound_qps else ''
        share = f'{r.qps / r.bound_qps:.0%}' if r.bound_qps else ''
        lines.append(
            f'| {r.endpoint} | {STACKS[r.stack]} | {r.clients} | {r.qps:g} | {r.per_min} | {bound} '
            f'| {share} | {r.p50_ms:g} | {r.p90_ms:g} | {r.p99_ms:g} | {r.errors} '
            f'| {r.client_cpu_pct:.0f}% | {r.machine_busy_pct:.0f}% | {r.note} |'
        )
    lines += [
        '',
        'Errors: any answer but 200 (a 202 means no result within WEB_WAIT) and socket errors. '
        'Load tool CPU: wrk (or the plain client) in % of one core. Machine busy: all CPUs.',
        '',
        '## Targets',
        '',
        '| target | measured | result |',
        '|---|---|---|',
    ]
    lines += [f'| {g["target"]} | {g["measured"]} | {"pass" if g["pass"] else "**miss**"} |' for g in goals]
    lines += _replication(rows, options.clients)
    if memory:
        lines += [
            '',
            f'RSS over {memory["requests"]} /add requests at {options.clients} clients '
            f'({memory["qps"]} qps, {memory["errors"]} errors), KiB before -> after: '
            + ', '.join(f'pid {pid}: {v["before"]} -> {v["after"]}' for pid, v in memory['rss_kib'].items()),
        ]
    lines += [
        '',
        '## CPU by component (% of one core, during the measured run)',
        '',
        '| endpoint | stack | clients | ' + ' | '.join(COMPONENTS) + ' |',
        '|---|---|--:|' + '--:|' * len(COMPONENTS),
    ]
    for r in rows:
        lines.append(
            f'| {r.endpoint} | {r.stack} | {r.clients} | '
            + ' | '.join(f'{r.cpu_pct[c]:.0f}' if c in r.cpu_pct else '' for c in COMPONENTS)
            + ' |'
        )
    lines += [
        '',
        '## CPU per request (ms, from the CPU % above and the qps)',
        '',
        'Stack total: web (uWSGI for a, which does the check itself) + worker + rabbitmq + redis; '
        'the upstream is what is checked, not part of the stack. Redis used_memory is the whole '
        "server's, before -> after the measured run (other sessions' databases count too).",
        '',
        '| endpoint | stack | clients | web | worker | rabbitmq | redis | stack total | upstream '
        '| redis used_memory MiB |',
        '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ]
    lines += [_cpu_ms_line(r) for r in rows if r.qps]
    lines += [
        '',
        '## Versions',
        '',
        ', '.join(f'{k} {v}' for k, v in env['versions'].items()),
        '',
        '![/check throughput](check_throughput.png)',
        '',
        '![/check latency](check_latency.png)',
        '',
        '![/add](add.png)',
        '',
    ]
    return '\n'.join(lines)


COMPONENTS = ('web', 'uwsgi', 'worker', 'upstream', 'rabbitmq', 'redis')


def _replication(rows: list[Row], n: int) -> list[str]:
    """What the 3-node quorum cluster costs against the single node (``--cluster``), if both ran."""
    lines = []
    for endpoint, one, three in (('/check', 'c', 'c-quorum'), ('/add', 'ours', 'ours-quorum')):
        on_one, on_three = find_row(rows, endpoint, one, n), find_row(rows, endpoint, three, n)
        if on_one and on_three:
            ratio = on_three.qps / max(on_one.qps, 0.1)
            lines.append(
                f'| {endpoint} | {n} | {on_one.qps:g} | {on_three.qps:g} | {ratio:.0%} '
                f'| {on_one.p50_ms:g} | {on_three.p50_ms:g} |'
            )
    if not lines:
        return []
    return [
        '',
        '## Replication cost (`--cluster`)',
        '',
        '| endpoint | clients | qps, one node | qps, 3-node quorum | ratio | p50 ms, one | p50 ms, 3-node |',
        '|---|--:|--:|--:|--:|--:|--:|',
        *lines,
    ]


def _cpu_ms_line(r: Row) -> str:
    def ms(*components: str) -> str:
        found = [r.cpu_ms(c) for c in components if r.cpu_ms(c) is not None]
        return f'{sum(found):.2f}' if found else ''

    memory = ''
    if r.redis_memory:
        memory = ' -> '.join(f'{value / 2**20:.1f}' for value in r.redis_memory)
    total = f'{r.stack_cpu_ms:.2f}' if r.stack_cpu_ms is not None else ''
    return (
        f'| {r.endpoint} | {r.stack} | {r.clients} | {ms("web", "uwsgi")} | {ms("worker")} '
        f'| {ms("rabbitmq")} | {ms("redis")} | {total} | {ms("upstream")} | {memory} |'
    )


def write(out: Path, options: argparse.Namespace, rows: list[Row], memory: dict) -> None:
    from bench import plots  # matplotlib loads only once there is something to draw

    env = {'machine': machine(), 'versions': versions()}
    goals = targets(rows, options, memory)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()}
    (out / 'results.json').write_text(
        json.dumps(
            {
                'settings': settings,
                **env,
                'upstream_mean_s': MEAN,
                'rows': [asdict(r) for r in rows],
                'targets': goals,
                'memory': memory,
            },
            indent=1,
        )
        + '\n'
    )
    (out / 'results.md').write_text(_markdown(options, rows, goals, memory, env))
    plots.draw(out, rows)
