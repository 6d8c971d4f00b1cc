"""Issue 10's targets: each one's measured figure from a run's rows, and pass or miss."""

from __future__ import annotations

import argparse

from bench.reports.rows import STACK_COMPONENTS, Row, find_row

# What web.py's CPU per request is compared with in the Targets table (same endpoint, same run).
REFERENCES = {'floor': 'Tornado alone, the floor', 'bare': 'the libraries alone, bare'}


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
