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
}
THREAD_LIMIT_QPS = 30 / MEAN  # stack a: 30 threads, each busy for one upstream call at a time


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
        )


def _find(rows: list[Row], endpoint: str, stack: str, clients: int) -> Row | None:
    return next((r for r in rows if (r.endpoint, r.stack, r.clients) == (endpoint, stack, clients)), None)


def targets(rows: list[Row], options: argparse.Namespace, memory: dict) -> list[dict]:
    """Each target of the issue: the measured figure, and pass or miss."""
    out: list[dict] = []

    def target(name: str, measured: str, passed: bool) -> None:
        out.append({'target': name, 'measured': measured, 'pass': passed})

    n = options.clients
    a, c = _find(rows, '/check', 'a', n), _find(rows, '/check', 'c', n)
    if a and c and c.bound_qps:
        target(
            f'/check at {n}: c >= 95% of bound',
            f'{c.qps / c.bound_qps:.0%} ({c.qps} of {c.bound_qps} qps)',
            c.qps >= 0.95 * c.bound_qps,
        )
        target(
            f'/check at {n}: c >= 1.9 x a',
            f'{c.qps / a.qps:.2f} x ({c.qps} vs {a.qps} qps)',
            c.qps >= 1.9 * a.qps,
        )
    sweep = sorted({r.clients for r in rows if r.endpoint == '/check' and r.stack == 'c'})
    kept = [r for r in rows if r.endpoint == '/check' and r.stack == 'c' and r.clients <= 240 and r.bound_qps]
    if kept:
        worst = min(kept, key=lambda r: r.qps / r.bound_qps)
        target(
            'sweep: c >= 80% of bound up to 240 clients',
            ', '.join(f'{r.clients}: {r.qps / r.bound_qps:.0%}' for r in kept),
            worst.qps >= 0.8 * worst.bound_qps,
        )
    flat = [r for r in rows if r.endpoint == '/check' and r.stack == 'a' and r.clients in sweep]
    if len(flat) > 1:
        low, high = min(r.qps for r in flat), max(r.qps for r in flat)
        # "Flat at its thread limit": within 15% across the sweep and never above 30 threads / 0.3 s.
        target(
            f'sweep: a flat at its thread limit ({THREAD_LIMIT_QPS:.0f} qps)',
            f'{low}-{high} qps over {len(flat)} client counts',
            high <= 1.15 * low and high <= 1.05 * THREAD_LIMIT_QPS,
        )
    ours, naive = _find(rows, '/add', 'ours', n), _find(rows, '/add', 'naive', n)
    plain = _find(rows, '/add', 'plain', options.plain_threads)
    if ours and plain:
        target(
            f'/add at {n}: ours >= 90% of plain client',
            f'{ours.qps / plain.qps:.0%} ({ours.qps} vs {plain.qps} qps)',
            ours.qps >= 0.9 * plain.qps,
        )
    if ours and naive:
        target(
            f'/add at {n}: ours >= 2 x naive',
            f'{ours.qps / max(naive.qps, 0.1):.2f} x ({ours.qps} vs {naive.qps} qps)',
            ours.qps >= 2 * naive.qps,
        )
    single = _find(rows, '/add', 'ours', 1)
    if single:
        target('/add at 1 client: p50 <= 2 ms', f'{single.p50_ms} ms', single.p50_ms <= 2.0)
    if memory:
        growth = memory['max_growth_kib'] / 1024
        target(
            f'web RSS growth <= 5 MB over {memory["requests"]} /add',
            f'{growth:.1f} MiB (worst process)',
            growth <= 5.0,
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
    for name in ('celery', 'kombu', 'tornado', 'aio-pika', 'redis', 'pyuwsgi', 'flask', 'requests'):
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
        on_one, on_three = _find(rows, endpoint, one, n), _find(rows, endpoint, three, n)
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
