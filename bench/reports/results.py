"""results.md and results.json of a run (its rows, targets, machine and versions), and its plots."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from bench.apps.upstream import MEAN
from bench.load import CPUS, WRK
from bench.reports.bulk import table
from bench.reports.rows import STACKS, Row, find_row
from bench.reports.targets import targets
from testbed import blackbox

RESULTS = Path(__file__).parent.parent / 'results'  # bench/results/: where a run writes by default


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
    found['blackbox_exporter'] = _version([blackbox.BINARY, '--version']).split(' (')[0].split('version ')[-1]
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
        'Stack total: web (uWSGI for a, which does the check itself; blackbox_exporter for its row) '
        '+ worker + rabbitmq + redis; '
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


COMPONENTS = ('web', 'uwsgi', 'exporter', 'worker', 'upstream', 'rabbitmq', 'redis')


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
        f'| {r.endpoint} | {r.stack} | {r.clients} | {ms("web", "uwsgi", "exporter")} | {ms("worker")} '
        f'| {ms("rabbitmq")} | {ms("redis")} | {total} | {ms("upstream")} | {memory} |'
    )


def write(out: Path, options: argparse.Namespace, rows: list[Row], memory: dict, bulk: dict) -> None:
    from bench.reports import plots  # matplotlib loads only once there is something to draw

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
                'bulk': bulk,
            },
            indent=1,
        )
        + '\n'
    )
    markdown = _markdown(options, rows, goals, memory, env)
    (out / 'results.md').write_text(markdown + '\n'.join(['', *table(bulk), '']))
    plots.draw(out, rows)
