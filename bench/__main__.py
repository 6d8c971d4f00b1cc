"""`python -m bench [--quick] [--only check|add] ...`: bring each stack up, load it, tear it down,
and write bench/results/ (results.md, results.json, PNG plots); raw logs go to results/raw/.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import urllib.parse
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from types import FrameType

from bench import bulk, load, overload, stacks, sysstat
from bench.apps.upstream import HIGH
from bench.load import CPUS
from bench.reports import performance, results, targets
from bench.reports.rows import Row
from testbed import procfs
from testbed.process import VENV_BIN

RESULTS = Path(__file__).with_name('results')
ADD_PATH = '/add?x=1&y=2'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__)
    parser.add_argument('--warmup', type=float, help='seconds of warm-up before each run (3; quick: 1)')
    parser.add_argument('--duration', type=float, help='measured seconds of each run (15; quick: 4)')
    parser.add_argument('--quick', action='store_true', help='short runs: a smoke test, not results')
    parser.add_argument('--clients', type=int, default=60, help='clients of the main comparison (seed: 60)')
    parser.add_argument('--sweep', default='60,120,240,480', help='client counts of the /check sweep')
    parser.add_argument('--only', choices=('check', 'probe', 'locations', 'bulk', 'add'),
                        help='run one part only')
    parser.add_argument(
        '--cluster',
        action='store_true',
        help='also /check (c) and /add (ours) at --clients on a 3-node quorum cluster; with --only, '
        'its single-node counterpart runs next to it',
    )
    parser.add_argument('--web-processes', type=int, default=CPUS, help='web.py processes of c and /add')
    parser.add_argument('--check-concurrency', type=int, default=500, help="threads of c's check worker")
    parser.add_argument('--plain-threads', type=int, default=8, help='threads of the plain Celery client')
    parser.add_argument(
        '--rss-requests', type=int, help='/add requests for the RSS check (100000; quick: 10000)'
    )
    parser.add_argument('--redis-url', default='redis://127.0.0.1:6379/2', help='a Redis database of its own')
    parser.add_argument('--out', type=Path, default=RESULTS)
    parser.add_argument('--overload', action='store_true',
                        help='only the bounded-under-load runs: sustained, then overload (bench/overload.py)')
    parser.add_argument('--sustained-minutes', type=float, help='of the sustained run (10; quick: 1)')
    parser.add_argument('--overload-clients', type=int, default=1000, help='clients of the overload run')
    parser.add_argument('--overload-seconds', type=float, help='of the overload run (120; quick: 20)')
    options = parser.parse_args()
    for name, full, quick in (
        ('warmup', 3.0, 1.0),
        ('duration', 15.0, 4.0),
        ('rss_requests', 100_000, 10_000),
        ('sustained_minutes', 10.0, 1.0),
        ('overload_seconds', 120.0, 20.0),
    ):
        if getattr(options, name) is None:
            setattr(options, name, quick if options.quick else full)
    return options


def cluster_runs(options: argparse.Namespace, raw: Path, upstream_url: str, upstream_pid: int) -> list[Row]:
    """The 3-node quorum cluster at --clients: what replication costs against the single node."""
    check_path = '/check?url=' + urllib.parse.quote(upstream_url, safe='')
    rows = []
    with stacks.quorum_cluster(
        raw, options.redis_url, options.web_processes, options.check_concurrency
    ) as cluster:
        for endpoint, key, stack, path, fast_s in (
            ('/check', 'c-quorum', cluster.check, check_path, HIGH * 2),
            ('/add', 'ours-quorum', cluster.add, ADD_PATH, 0.5),
        ):
            if options.only == ('add' if endpoint == '/check' else 'check'):
                continue
            print(f'{endpoint} {key} at {options.clients} clients', flush=True)

            def drain(stack: stacks.Stack = stack, path: str = path, fast_s: float = fast_s) -> None:
                stack.drain(path, fast_s=fast_s)

            drain()
            groups = {**stack.groups, 'upstream': [upstream_pid], 'redis': sysstat.listener_pid(6379)}
            run = load.measure(
                stack.url + path,
                options.clients,
                options.warmup,
                options.duration,
                groups,
                raw / f'{endpoint[1:]}-{key}-{options.clients}.log',
                drain,
            )
            rows.append(Row.of(endpoint, key, run))
    return rows


def shared_services() -> sysstat.Groups:
    """The shared broker and result store, whose CPU is part of every Celery request's cost."""
    return {'rabbitmq': sysstat.listener_pid(5672), 'redis': sysstat.listener_pid(6379)}


def check_runs(options: argparse.Namespace, raw: Path, upstream_url: str, upstream_pid: int) -> list[Row]:
    path = '/check?url=' + urllib.parse.quote(upstream_url, safe='')
    sweep = [int(n) for n in options.sweep.split(',')]

    def celery_stack(kind: str, web_count: int) -> AbstractContextManager[stacks.Stack]:
        return stacks.celery_gateway(raw, options.redis_url, kind, web_count, options.check_concurrency)

    plan: list[tuple[str, AbstractContextManager[stacks.Stack], list[int]]] = [
        ('a', stacks.uwsgi_flask(raw), sweep),
        ('b', celery_stack('seed', 1), [options.clients]),
        ('c', celery_stack('shipped', options.web_processes), sweep),
        ('fastapi', celery_stack('fastapi', options.web_processes), sweep),
        ('bare', celery_stack('bare', options.web_processes), sweep),
        ('floor', stacks.tornado_floor(raw, options.web_processes), sweep),
    ]
    rows = []
    for key, stack_cm, client_counts in plan:
        with stack_cm as stack:
            groups = {**stack.groups, 'upstream': [upstream_pid], **shared_services()}

            def drain(stack: stacks.Stack = stack) -> None:
                stack.drain(path, fast_s=HIGH * 2)

            for index, clients in enumerate(client_counts):
                print(f'/check {key} at {clients} clients', flush=True)
                try:
                    drain()
                    run = load.measure(
                        stack.url + path,
                        clients,
                        options.warmup,
                        options.duration,
                        groups,
                        raw / f'check-{key}-{clients}.log',
                        drain,
                        options.redis_url,
                    )
                except stacks.Stalled as exc:
                    # A result too: record it, keep the evidence, go on with the next stack.
                    print(f'  stalled: {exc}', flush=True)
                    dump_stacks(stack.groups, raw / f'stalled-{key}-{clients}.txt')
                    rows += [Row.stalled('/check', key, n, str(exc)) for n in client_counts[index:]]
                    break
                rows.append(Row.of('/check', key, run))
    return rows


def probe_runs(options: argparse.Namespace, raw: Path, upstream_url: str, upstream_pid: int) -> list[Row]:
    """Single probes of the slow upstream: our /probe (the whole stack: web.py, the check worker,
    RabbitMQ, Redis) beside blackbox_exporter's /probe (its one process), same module file."""
    path = '/probe?' + urllib.parse.urlencode({'module': 'http_2xx', 'target': upstream_url})
    sweep = [int(n) for n in options.sweep.split(',')]
    client_counts = sorted({options.clients, max(sweep)})
    plan: list[tuple[str, AbstractContextManager[stacks.Stack], sysstat.Groups]] = [
        ('probe', stacks.celery_gateway(raw, options.redis_url, 'shipped', options.web_processes,
                                        options.check_concurrency), shared_services()),
        ('blackbox', stacks.blackbox(raw), {}),
    ]
    rows = []
    for key, stack_cm, services in plan:
        with stack_cm as stack:
            groups = {**stack.groups, 'upstream': [upstream_pid], **services}

            def drain(stack: stacks.Stack = stack) -> None:
                stack.drain(path, fast_s=HIGH * 2)

            for clients in client_counts:
                print(f'/probe {key} at {clients} clients', flush=True)
                drain()
                run = load.measure(stack.url + path, clients, options.warmup, options.duration, groups,
                                   raw / f'probe-{key}-{clients}.log', drain, options.redis_url)
                rows.append(Row.of('/probe', key, run))
    return rows


def location_runs(options: argparse.Namespace, raw: Path, upstream_url: str, upstream_pid: int) -> list[Row]:
    """/check from=all over two locations beside a single /check, on one stack (two check workers,
    east and west): what the fan-out costs in CPU and latency against two single checks."""
    single = '/check?url=' + urllib.parse.quote(upstream_url, safe='')
    rows = []
    located = stacks.two_locations(raw, options.redis_url, options.web_processes, options.check_concurrency)
    with located as stack:
        groups = {**stack.groups, 'upstream': [upstream_pid], **shared_services()}
        for key, path in (('one-check', single), ('from-all', f'{single}&from=all')):

            def drain(path: str = path) -> None:
                stack.drain(path, fast_s=HIGH * 2)

            print(f'/check {key} at {options.clients} clients', flush=True)
            drain()
            run = load.measure(stack.url + path, options.clients, options.warmup, options.duration, groups,
                               raw / f'check-{key}-{options.clients}.log', drain, options.redis_url)
            rows.append(Row.of('/check', key, run))
    return rows


def dump_stacks(groups: sysstat.Groups, path: Path) -> None:
    """Every thread's Python stack of the stack's processes (py-spy dump), to see where it hangs."""
    with open(path, 'w') as out:
        for name, pids in groups.items():
            for pid in pids:
                out.write(f'== {name} {pid}\n')
                out.flush()
                subprocess.run(
                    [str(VENV_BIN / 'py-spy'), 'dump', '-p', str(pid)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                    check=False,
                )


def add_runs(options: argparse.Namespace, raw: Path) -> tuple[list[Row], dict]:
    rows = []
    with stacks.add_gateways(raw, options.redis_url, options.web_processes) as add:
        services = shared_services()

        def measure(key: str, stack: stacks.Stack, clients: int) -> load.Run:
            stack.drain(ADD_PATH, fast_s=0.5)
            print(f'/add {key} at {clients} clients', flush=True)
            run = load.measure(
                stack.url + ADD_PATH,
                clients,
                options.warmup,
                options.duration,
                {**stack.groups, **services},
                raw / f'add-{key}-{clients}.log',
                lambda: stack.drain(ADD_PATH, fast_s=0.5),
                options.redis_url,
            )
            rows.append(Row.of('/add', key, run))
            return run

        ours = measure('ours', add.ours, options.clients)
        measure('naive', add.naive, options.clients)
        measure('fastapi', add.fastapi, options.clients)
        measure('bare', add.bare, options.clients)
        for clients in (options.plain_threads, 1):
            add.ours.drain(ADD_PATH, fast_s=0.5)
            print(f'/add plain client with {clients} threads', flush=True)
            rows.append(
                Row.of(
                    '/add',
                    'plain',
                    load.measure_plain(
                        add.env,
                        clients,
                        options.warmup,
                        options.duration,
                        {'worker': [add.worker_pid], **services},
                        raw / f'add-plain-{clients}.log',
                        options.redis_url,
                    ),
                )
            )
        measure('ours', add.ours, 1)
        measure('naive', add.naive, 1)
        measure('fastapi', add.fastapi, 1)
        memory = rss_run(options, raw, add.ours, ours.qps)
    return rows, memory


def rss_run(options: argparse.Namespace, raw: Path, stack: stacks.Stack, qps: float) -> dict:
    """RSS of each web process before and after at least ``rss_requests`` /add requests, at the
    same clients as the comparison; ``qps`` (measured there) sets the duration, since wrk
    cannot stop after a count. The processes are warm: the earlier runs went through them."""
    stack.drain(ADD_PATH, fast_s=0.5)
    # A long run goes slower than the 15-s one that measured qps (88 470 of 100 000 once): a margin.
    duration = max(10.0, options.rss_requests / max(qps, 1.0) * 1.5)
    print(f'/add ours: {duration:.0f} s (~{options.rss_requests} requests) for RSS', flush=True)
    before = {pid: procfs.rss_kib(pid) for pid in stack.web_pids}
    keys_before = sysstat.redis_keys(options.redis_url)
    run = load.measure(
        stack.url + ADD_PATH, options.clients, 0, duration, stack.groups, raw / 'add-rss.log', lambda: None
    )
    after = {pid: procfs.rss_kib(pid) for pid in stack.web_pids}
    time.sleep(1)  # the gateway deletes delivered results in batches, at most 0.2 s apart
    return {
        'results_left': sysstat.redis_keys(options.redis_url) - keys_before,
        'requests': run.ok + run.errors,
        'errors': run.errors,
        'qps': round(run.qps, 1),
        'rss_kib': {str(pid): {'before': before[pid], 'after': after[pid]} for pid in before},
        'max_growth_kib': max(after[pid] - before[pid] for pid in before),
    }


def main() -> None:
    options = parse_args()
    raw = options.out / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    for old in raw.glob('*.*'):  # process logs are appended to: start them afresh
        old.unlink()

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f'signal {signum}')  # unwinds every context: all stacks stop

    signal.signal(signal.SIGTERM, terminate)
    if options.overload:
        overload.run(options)
        return

    rows: list[Row] = []
    memory: dict = {}
    bulk_results: dict = {}
    with ExitStack() as stack:
        upstream_url, upstream_pid = stack.enter_context(stacks.upstream(raw))
        if options.only in (None, 'check'):
            rows += check_runs(options, raw, upstream_url, upstream_pid)
        if options.only in (None, 'probe'):
            rows += probe_runs(options, raw, upstream_url, upstream_pid)
        if options.only in (None, 'locations'):
            rows += location_runs(options, raw, upstream_url, upstream_pid)
        if options.only in (None, 'bulk'):
            bulk_results = bulk.run(options, raw, upstream_url, shared_services())
        if options.only in (None, 'add'):
            add_rows, memory = add_runs(options, raw)
            rows += add_rows
        if options.cluster:
            rows += cluster_runs(options, raw, upstream_url, upstream_pid)
    results.write(options.out, options, rows, memory, bulk_results)
    if not options.quick and options.only is None:  # a smoke or partial run is not README's figures
        goals = targets.targets(rows, options, memory)
        performance.update(rows, memory, goals, options.clients, bulk_results)
    print((options.out / 'results.md').read_text())


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        print('interrupted; every process started was stopped', file=sys.stderr)
        sys.exit(130)
