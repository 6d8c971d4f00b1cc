"""kill -9 of a worker mid-task: the message goes back to the queue and the caller gets a result.

Each test has a private vhost, its own worker(s) and gateway. Checks run against the counting
upstream with a unique token each, so a second execution of one task is visible.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import routing
from testbed.process import Proc, wait_for
from testbed.procfs import proc_children
from testbed.vhosts import Vhost
from tests.chaos.harness import collect, fire
from tests.chaos.tally import Tally
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream

N = 50
SLOW_MS = 300


def worker(env: dict, log_dir: Path, name: str, pool: str, concurrency: int) -> Proc:
    return start_worker('check', env, log_dir, concurrency, name=f'chaos-{name}', pool=pool,
                        queues=(routing.QUEUE_OF[routing.HTTP_CHECK],))


def duplicates(upstream: Upstream, calls: list) -> int:
    return sum(max(0, upstream.token_count(c.token) - 1) for c in calls if c.accepted)


def test_kill_9_prefork_child_mid_task(vhost: Vhost, log_dir: Path, upstream: Upstream,
                                       tally: Tally) -> None:
    env = base_env(BROKER_URL=vhost.url)
    prefork = worker(env, log_dir, 'prefork', 'prefork', 2)
    web, url = start_web(dict(env, WEB_WAIT='1'), log_dir, name='chaos-web-prefork')
    killed: list[int] = []
    try:
        with ThreadPoolExecutor(N) as pool:
            base = upstream.count('/slow')
            futures = fire(pool, url, upstream, N, ms=SLOW_MS)
            for after in (8, 24):  # two kills, at different points of the batch
                wait_for(lambda after=after: upstream.count('/slow') - base >= after,
                         60, 0.02, f'{after} checks started')
                # Both children are busy in the upstream's sleep: whichever we kill is mid-task.
                wait_for(lambda: upstream.busy() >= 2, 10, 0.005, 'both children mid-task')
                children = proc_children(prefork.pid)
                assert len(children) == 2, children
                os.kill(children[0], signal.SIGKILL)
                killed.append(children[0])
                wait_for(lambda: len(set(proc_children(prefork.pid)) - set(killed)) == 2, 20, 0.05,
                         'the pool replaced the child')
            calls = [f.result() for f in futures]
        collect(url, calls, timeout=60)
    finally:
        web.stop()
        prefork.stop()
    dup = duplicates(upstream, calls)
    row = tally.record('1. kill -9 prefork child mid-task', calls, duplicated=dup,
                       notes=f'{len(killed)} children killed; each killed task ran again '
                             f'(re-executions = {dup})')
    bad = [(c.status, c.error, c.body) for c in calls if not c.accepted]
    assert not bad, bad
    assert row.lost == 0, [c.task_id for c in calls if c.accepted and c.final is None]
    assert all(c.final.get('ok') is True for c in calls), [c.final for c in calls if not c.final.get('ok')]
    # The killed tasks ran again (task_reject_on_worker_lost), and nothing else did.
    assert 1 <= dup <= len(killed), dup
    assert 'WorkerLostError' in prefork.log() or 'exited with' in prefork.log()


def test_kill_9_worker_main_process_mid_task(vhost: Vhost, log_dir: Path, upstream: Upstream,
                                             tally: Tally) -> None:
    """Two thread-pool workers (the production check worker); one is SIGKILLed, whole process,
    while it holds unacked tasks: RabbitMQ requeues them when its connection drops, and the other
    worker runs them. Then the victim is restarted and takes work again."""
    env = base_env(BROKER_URL=vhost.url)
    victim = worker(env, log_dir, 'victim', 'threads', 4)
    survivor = worker(env, log_dir, 'survivor', 'threads', 4)
    web, url = start_web(dict(env, WEB_WAIT='1'), log_dir, name='chaos-web-mainkill')
    restarted = None
    try:
        with ThreadPoolExecutor(N) as pool:
            base = upstream.count('/slow')
            futures = fire(pool, url, upstream, N, ms=SLOW_MS)
            wait_for(lambda: upstream.count('/slow') - base >= 12, 60, 0.02, 'checks started')
            wait_for(lambda: upstream.busy() >= 6, 10, 0.005, 'both workers mid-task')
            os.kill(victim.pid, signal.SIGKILL)
            victim.popen.wait(10)
            restarted = worker(env, log_dir, 'victim-restarted', 'threads', 4)
            calls = [f.result() for f in futures]
        collect(url, calls, timeout=60)
    finally:
        web.stop()
        for proc in (victim, survivor, restarted):
            if proc is not None:
                proc.stop()
    dup = duplicates(upstream, calls)
    row = tally.record('2. kill -9 worker main process mid-task', calls, duplicated=dup,
                       notes=f'threads -c 4 x2; victim held <=4 unacked; re-executions = {dup}')
    bad = [(c.status, c.error, c.body) for c in calls if not c.accepted]
    assert not bad, bad
    assert row.lost == 0, [c.task_id for c in calls if c.accepted and c.final is None]
    assert all(c.final.get('ok') is True for c in calls)
    assert 1 <= dup <= 4, dup  # at most the victim's prefetch ran twice
