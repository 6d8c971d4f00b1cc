"""The bulk checks' table (bench/bulk.py's runs and issue 25's targets), for results.md and
docs/performance.md."""

from __future__ import annotations

BULK = 1000
STACK = ('web', 'worker', 'rabbitmq', 'redis', 'exporter')  # what a check costs, on either side
LABELS = {
    'ours': 'POST /checks: N x web.py, the check worker, RabbitMQ, Redis (ours)',
    'blackbox': 'blackbox_exporter: 1000 /probe requests at once, its one process',
    'ours-from-all': 'POST /checks from=all, 2 locations: two checks per route, CPU per route',
}


def table(bulk: dict) -> list[str]:
    """The runs, CPU per check by component, and the targets."""
    if not bulk or not bulk.get('runs'):
        return []
    lines = [f'| {BULK} checks | kind | done ok | request s (worst) | CPU ms per check | by component |',
             '|---|---|--:|--:|--:|---|']
    for r in bulk['runs']:
        parts = ', '.join(f'{k} {v / r["checks"] * 1000:.3f}' for k, v in r['cpu_s'].items()
                          if k in STACK and v)
        lines.append(f'| {LABELS[r["key"]]} | {r["kind"]} | {r["ok"]} of {r["checks"]} '
                     f'| {max(r["wall_s"]):.2f} | {r["cpu_ms_per_check"]:.3f} | {parts} |')
    lines += ['', '| target (issue 25) | measured | |', '|---|---|---|']
    lines += [f'| {g["target"]} | {g["measured"]} | {"pass" if g["pass"] else "**miss**"} |'
              for g in bulk['goals']]
    return lines
