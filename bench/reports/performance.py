"""docs/performance.md's generated block (`performance`), from the rows `make bench` measured.

python -m bench.reports.performance      # rewrite the block from bench/results/results.json
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.apps.upstream import MEAN
from bench.reports.bulk import table
from bench.reports.results import RESULTS
from bench.reports.rows import STACKS, Row, find_row
from testbed.doc_blocks import replace_block
from testbed.process import ROOT

PERFORMANCE_DOC = ROOT / 'docs' / 'performance.md'
# The committed run of make bench before issue 10's work on the gateway and the worker.
BEFORE = RESULTS / 'before-issue10.json'
LOCATION_STACKS = ('one-check', 'from-all')
CPU_ROWS = (('/check', 'c'), ('/check', 'fastapi'), ('/check', 'bare'), ('/check', 'floor'), ('/add', 'ours'),
            ('/add', 'naive'), ('/add', 'fastapi'))


def _rows(path: Path) -> list[Row]:
    return [Row(**row) for row in json.loads(path.read_text())['rows']]


def cpu_table(rows: list[Row], before: list[Row], clients: int) -> list[str]:
    """CPU milliseconds per answered request, by component, before issue 10 and in this run."""
    lines = [f'| CPU ms per request, {clients} clients | run | web | worker | rabbitmq | redis | stack |',
             '|---|---|--:|--:|--:|--:|--:|']
    for endpoint, stack in CPU_ROWS:
        for when, source in (('before', before), ('now', rows)):
            row = find_row(source, endpoint, stack, clients)
            if row is None or not row.stack_cpu_ms:
                continue
            parts = (row.cpu_ms(c) for c in ('web', 'worker', 'rabbitmq', 'redis'))
            cells = ' | '.join('' if ms is None else f'{ms:.2f}' for ms in parts)
            lines.append(f'| {endpoint} {STACKS[stack]} | {when} | {cells} | {row.stack_cpu_ms:.2f} |')
    return lines


def probe_table(rows: list[Row]) -> list[str]:
    """Single probes through our /probe (the whole stack) beside blackbox_exporter's (its process)."""
    probes = [r for r in rows if r.endpoint == '/probe' and r.qps and r.stack_cpu_ms]
    if not probes:
        return []
    lines = ['| `/probe` of the slow upstream | clients | answers/s | p50 ms | CPU ms per probe |',
             '|---|--:|--:|--:|--:|']
    lines += [f'| {STACKS[r.stack]} | {r.clients} | {r.qps:g} | {r.p50_ms:g} | {r.stack_cpu_ms:.2f} |'
              for r in probes]
    lines.append('')
    for clients in sorted({r.clients for r in probes}):
        ours = find_row(probes, '/probe', 'probe', clients)
        theirs = find_row(probes, '/probe', 'blackbox', clients)
        if ours and theirs:
            lines.append(f'- at {clients} clients our stack answers {ours.qps / theirs.qps:.2f} x '
                         f"blackbox_exporter's probes per second and spends "
                         f'{ours.stack_cpu_ms / theirs.stack_cpu_ms:.1f} x its CPU per probe.')
    return lines


def fan_out_table(rows: list[Row]) -> list[str]:
    """/check from=all over two locations against one check on the same stack."""
    one, both = (next((r for r in rows if r.stack == key and r.qps and r.stack_cpu_ms), None)
                 for key in LOCATION_STACKS)
    if not (one and both):
        return []
    header = (f'| /check, {one.clients} clients, two locations | requests/s | p50 ms | p99 ms '
              '| CPU ms per request |')
    return [header,
            '|---|--:|--:|--:|--:|',
            *(f'| {STACKS[r.stack]} | {r.qps:g} | {r.p50_ms:g} | {r.p99_ms:g} | {r.stack_cpu_ms:.2f} |'
              for r in (one, both)),
            '',
            f'- from=all (two checks) costs {both.stack_cpu_ms / one.stack_cpu_ms:.2f} x the CPU of one '
            f'check (two single checks: 2 x) and adds {both.p50_ms - one.p50_ms:+.0f} ms to its p50.']


def summary(rows: list[Row], memory: dict) -> str:
    check = [r for r in rows if r.endpoint == '/check' and r.stack not in LOCATION_STACKS]
    clients = sorted({r.clients for r in check})
    qps = {(r.stack, r.clients): r.qps for r in check}
    lines = [
        '| `/check` of the slow upstream | ' + ' | '.join(f'{n} clients' for n in clients) + ' |',
        '|---|' + '--:|' * len(clients),
    ]
    for stack in sorted({r.stack for r in check}):
        lines.append(
            f'| {STACKS[stack]} | '
            + ' | '.join(f'{qps[stack, n]:g}' if (stack, n) in qps else '' for n in clients)
            + ' |'
        )
    lines += [f'| bound: clients / {MEAN:g} s | ' + ' | '.join(f'{n / MEAN:.0f}' for n in clients) + ' |', '']
    first = clients[0] if clients else None
    if ('a', first) in qps and ('c', first) in qps and qps['a', first]:
        lines.append(f'- c is {qps["c", first] / qps["a", first]:.2f} x a at {first} clients (qps).')
    add = {(r.stack, r.clients): r.qps for r in rows if r.endpoint == '/add'}
    add_clients = max((n for stack, n in add if stack == 'ours'), default=None)
    if add_clients is not None:
        plain = max((q for (stack, _n), q in add.items() if stack == 'plain'), default=0)
        lines.append(
            f'- `/add` at {add_clients} clients: {add["ours", add_clients]:g} qps through our gateway, '
            f'{add.get(("naive", add_clients), 0):g} through a naive Tornado gateway, {plain:g} for '
            f'a plain Celery client (its best thread count).'
        )
    if memory:
        lines.append(
            f'- web process RSS growth: {memory["max_growth_kib"] / 1024:+.1f} MiB over '
            f'{memory["requests"]} `/add` requests (worst process).'
        )
    lines += ['', *probe_table(rows), '', *fan_out_table(rows)]
    return '\n'.join(lines)


def update(rows: list[Row], memory: dict, goals: list[dict], clients: int, bulk: dict) -> None:
    """Rewrite docs/performance.md's block: throughput, issue 10's targets, CPU per request, and
    bulk checks beside blackbox_exporter with issue 25's targets."""
    text = [summary(rows, memory), '', '| target (issue 10) | measured | |', '|---|---|---|']
    text += [f'| {g["target"]} | {g["measured"]} | {"pass" if g["pass"] else "**miss**"} |' for g in goals]
    text += ['', *cpu_table(rows, _rows(BEFORE), clients), '', *table(bulk)]
    replace_block('performance', '\n'.join(text), PERFORMANCE_DOC)


def main() -> None:
    results = json.loads((RESULTS / 'results.json').read_text())
    update([Row(**row) for row in results['rows']], results.get('memory') or {}, results['targets'],
           results['settings']['clients'], results.get('bulk') or {})


if __name__ == '__main__':
    main()
