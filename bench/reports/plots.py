"""PNG plots of the results (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from bench.apps.upstream import MEAN  # noqa: E402
from bench.reports.rows import STACKS, Row  # noqa: E402

THREAD_LIMIT_QPS = 30 / MEAN  # stack a: 30 threads, each busy for one upstream call at a time
COLORS = {
    'a': 'tab:red',
    'b': 'tab:orange',
    'c': 'tab:blue',
    'ours': 'tab:blue',
    'c-quorum': 'tab:purple',
    'ours-quorum': 'tab:purple',
    'naive': 'tab:red',
    'plain': 'tab:gray',
    'fastapi': 'tab:green',
    'bare': 'tab:olive',
    'floor': 'tab:brown',
}


def _series(rows: list[Row], endpoint: str, stack: str) -> list[Row]:
    """The measured runs of one stack (a stalled one has no figures to draw)."""
    return sorted(
        (r for r in rows if r.endpoint == endpoint and r.stack == stack and not r.note),
        key=lambda r: r.clients,
    )


def _check_throughput(out: Path, rows: list[Row]) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    clients = sorted({r.clients for r in rows if r.endpoint == '/check'})
    ax.plot(
        clients,
        [n / MEAN for n in clients],
        'k--',
        label='bound = clients / 0.3 s',
    )
    ax.axhline(THREAD_LIMIT_QPS, color='tab:red', ls=':', lw=1, label='a: 30 threads / 0.3 s')
    for stack in ('a', 'b', 'c', 'fastapi'):
        series = _series(rows, '/check', stack)
        if series:
            ax.plot(
                [r.clients for r in series],
                [r.qps for r in series],
                'o-',
                color=COLORS[stack],
                label=STACKS[stack],
            )
            for r in series:
                ax.annotate(
                    f'{r.qps:.0f}',
                    (r.clients, r.qps),
                    textcoords='offset points',
                    xytext=(4, -12),
                    fontsize=8,
                    color=COLORS[stack],
                )
    for r in rows:
        if r.endpoint == '/check' and r.note:
            ax.plot(r.clients, 0, 'x', color=COLORS[r.stack], ms=10, mew=2)
            ax.annotate(
                f'{r.stack} stalled',
                (r.clients, 0),
                textcoords='offset points',
                xytext=(-20, 8),
                fontsize=8,
                color=COLORS[r.stack],
            )
    ax.set(
        xscale='log',
        xlabel='concurrent clients (wrk connections)',
        ylabel='answers/s (HTTP 200)',
        title='/check of a 200-400 ms upstream',
    )
    ax.set_xticks(clients, [str(c) for c in clients])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'check_throughput.png', dpi=100)
    plt.close(fig)


def _check_latency(out: Path, rows: list[Row]) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    for stack in ('a', 'c', 'fastapi'):
        series = _series(rows, '/check', stack)
        for key, style in (('p50_ms', 'o-'), ('p90_ms', 's--'), ('p99_ms', '^:')):
            ax.plot(
                [r.clients for r in series],
                [getattr(r, key) for r in series],
                style,
                color=COLORS[stack],
                label=f'{stack} {key[:3]}',
            )
    clients = sorted({r.clients for r in rows if r.endpoint == '/check'})
    ax.set(
        xscale='log',
        yscale='log',
        xlabel='concurrent clients',
        ylabel='latency (ms)',
        title='/check latency percentiles: a (uWSGI + Flask), c (ours), FastAPI',
    )
    ax.set_xticks(clients, [str(c) for c in clients])
    ticks = [100, 200, 500, 1000, 2000, 5000, 10000]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(out / 'check_latency.png', dpi=100)
    plt.close(fig)


def _add(out: Path, rows: list[Row]) -> None:
    adds = [r for r in rows if r.endpoint == '/add']
    busy = [r for r in adds if r.clients > 1]
    single = [r for r in adds if r.clients == 1]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5))
    names = [f'{r.stack}\n({r.clients} {"threads" if r.stack == "plain" else "clients"})' for r in busy]
    bars = left.bar(names, [r.qps for r in busy], color=[COLORS[r.stack] for r in busy])
    left.bar_label(bars, fmt='%.0f')
    left.set(ylabel='answers/s', title='/add throughput')
    x = range(len(single))
    width = 0.35
    for offset, key in ((-width / 2, 'p50_ms'), (width / 2, 'p99_ms')):
        bars = right.bar([i + offset for i in x], [getattr(r, key) for r in single], width, label=key[:3])
        right.bar_label(bars, fmt='%.1f', fontsize=8)
    plain = next((r for r in single if r.stack == 'plain'), None)
    if plain:
        right.axhline(plain.p50_ms + 1.0, color='k', ls=':', lw=1, label='target p50: plain + 1 ms')
    right.set_xticks(list(x), [r.stack for r in single])
    right.set_ylim(0, max([r.p99_ms for r in single] + [2.0]) * 1.35)  # room for the legend
    right.set(ylabel='ms', title='/add latency, 1 client')
    right.legend(ncol=3, loc='upper center', fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'add.png', dpi=100)
    plt.close(fig)


def draw(out: Path, rows: list[Row]) -> None:
    if any(r.endpoint == '/check' for r in rows):
        _check_throughput(out, rows)
        _check_latency(out, rows)
    if any(r.endpoint == '/add' for r in rows):
        _add(out, rows)
