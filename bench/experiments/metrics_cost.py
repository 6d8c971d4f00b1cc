"""What the gateway's metrics cost: CPU per /add request of this tree's web.py (metrics in
multiprocess mode, as supervisord runs it) against a baseline tree's (a git ref; by default the
last commit before the gateway had metrics and request ids), both loaded at once behind one
worker, so that both see the same machine, broker and worker.

    python -m bench.experiments.metrics_cost [--baseline REF] [--clients 60] [--duration 15] [--rounds 3]

Later changes to the gateway count in the difference too: pass a newer baseline that lacks only
what is to be measured.

The clients are split between the two gateways. CPU comes from /proc (user + system) of each
web.py process; requests are wrk's 200 answers. The figure is the median over the rounds of
(ours / baseline - 1) CPU per request. /add is the cheapest request, so it shows the largest share.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import routing
from bench import stacks, sysstat
from bench.load import CPUS, wrk
from testbed.process import ROOT, Proc, free_port

BEFORE_METRICS = 'f35015e'  # main just before the gateway had metrics (issue 14)


def baseline_tree(ref: str, dest: Path) -> Path:
    """The tracked files of ``ref``, without touching the work tree or git's worktree list."""
    archive = subprocess.run(['git', 'archive', ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', str(dest)], input=archive, check=True)
    return dest


def gateway(stack: ExitStack, name: str, tree: Path, env: dict[str, str], log_dir: Path) -> tuple[Proc, str]:
    port = free_port()
    proc = stack.enter_context(stacks.running(
        Proc(name, [sys.executable, 'web.py'], dict(env, WEB_PORT=str(port)), log_dir, cwd=tree)))
    proc.wait_log('listening on', timeout=30)
    return proc, f'http://127.0.0.1:{port}/add?x=1&y=2'


def one_round(urls: dict[str, str], pids: dict[str, int], clients: int, duration: float,
              log_dir: Path, tag: str) -> dict[str, tuple[float, int]]:
    """(CPU seconds, 200 answers) per gateway, loaded at the same time."""
    groups = {name: [pid] for name, pid in pids.items()}
    before = sysstat.cpu_snapshot(groups)
    with ThreadPoolExecutor(len(urls)) as pool:
        runs = {name: pool.submit(wrk, url, clients // len(urls), duration, log_dir / f'{name}-{tag}.log')
                for name, url in urls.items()}
        summaries = {name: run.result()[0] for name, run in runs.items()}
    used = sysstat.cpu_used(before, sysstat.cpu_snapshot(groups))
    return {name: (used[name], summaries[name]['statuses'].get('200', 0)) for name in urls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--baseline', default=BEFORE_METRICS, help='git ref of the tree without metrics')
    parser.add_argument('--clients', type=int, default=60, help='wrk connections, split between the two')
    parser.add_argument('--duration', type=float, default=15.0)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--redis-url', default='redis://127.0.0.1:6379/2')
    options = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix='metrics-cost-') as tmp:
        log_dir = Path(tmp) / 'logs'
        log_dir.mkdir()
        (Path(tmp) / 'metrics').mkdir()
        base = baseline_tree(options.baseline, Path(tmp))
        vhost, env = stack.enter_context(stacks.isolated(log_dir, options.redis_url))
        stacks.celery_worker(stack, 'worker-add', env, log_dir, 'prefork', CPUS, routing.ADD_WORKER_QUEUES)
        ours, ours_url = gateway(stack, 'ours', ROOT, dict(env, PROMETHEUS_MULTIPROC_DIR=f'{tmp}/metrics'),
                                 log_dir)
        theirs, base_url = gateway(stack, 'baseline', base, env, log_dir)
        urls, pids = {'ours': ours_url, 'baseline': base_url}, {'ours': ours.pid, 'baseline': theirs.pid}
        one_round(urls, pids, options.clients, 3, log_dir, 'warmup')
        costs = []
        for n in range(options.rounds):
            result = one_round(urls, pids, options.clients, options.duration, log_dir, str(n))
            per_request = {name: cpu / max(ok, 1) * 1e6 for name, (cpu, ok) in result.items()}
            costs.append(per_request['ours'] / per_request['baseline'] - 1)
            print(f'round {n + 1}: ' + ', '.join(
                f'{name} {ok / options.duration:.1f} qps {per_request[name]:.0f} µs CPU/request'
                for name, (_, ok) in result.items()) + f': metrics cost {costs[-1]:+.1%}', flush=True)
        print(f'median cost of metrics: {statistics.median(costs):+.1%} CPU per request ({options.clients} '
              f'clients, {options.rounds} x {options.duration:g} s, baseline {options.baseline})')


if __name__ == '__main__':
    main()
