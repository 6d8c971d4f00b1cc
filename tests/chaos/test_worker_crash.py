"""kill -9 of a worker mid-task: the message goes back to the queue and the caller gets a result.

Each test has a private vhost, its own worker(s) and gateway. Checks run against the counting
upstream with a unique token each, so a second execution of one task is visible.
"""

from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

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


def test_kill_9_worker_mid_bulk_chunk(vhost: Vhost, log_dir: Path, upstream: Upstream, tally: Tally) -> None:
    """POST /checks of 300 slow routes (three chunks of 100); the only worker is SIGKILLed while
    it holds them: each chunk it held is delivered again whole to a new worker, and every route
    gets its result from /result/<chunk task id>."""
    env = base_env(BROKER_URL=vhost.url, BULK_CHUNK='100')
    bulk_queue = (routing.QUEUE_OF[routing.CHECK_MANY],)
    victim = start_worker('check', env, log_dir, 4, name='chaos-bulk-victim', queues=bulk_queue)
    web, url = start_web(dict(env, WEB_WAIT='1'), log_dir, name='chaos-web-bulk')
    tokens = [uuid.uuid4().hex for _ in range(300)]
    targets = [{'url': f'{upstream.url}/slow?ms=1500&t={token}'} for token in tokens]
    survivor = None
    try:
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(requests.post, f'{url}/checks', json={'targets': targets}, timeout=30)
            wait_for(lambda: upstream.busy() >= 250, 30, 0.01, 'the chunks running in the victim')
            os.kill(victim.pid, signal.SIGKILL)
            victim.popen.wait(10)
            survivor = start_worker('check', env, log_dir, 4, name='chaos-bulk-survivor', queues=bulk_queue)
            body = answer.result().json()
        results = body['results']
        assert body['summary']['pending'] == 300, body['summary']  # WEB_WAIT 1 s < the 1.5 s checks
        chunks = sorted({result['task_id'] for result in results})
        finals: dict[str, list] = {}

        def all_done() -> bool:
            for task_id in chunks:
                if task_id not in finals:
                    found = requests.get(f'{url}/result/{task_id}', timeout=5).json()
                    if found['status'] == 'SUCCESS':
                        finals[task_id] = found['result']
            return len(finals) == len(chunks)

        wait_for(all_done, 60, 0.2, 'every chunk done after the redelivery')
    finally:
        web.stop()
        for proc in (victim, survivor):
            if proc is not None:
                proc.stop()
    checked = [check for chunk in finals.values() for check in chunk]
    again = sum(upstream.token_count(token) - 1 for token in tokens)
    tally.record_counts('2b. kill -9 worker mid bulk chunk', 300, accepted=300, completed=len(checked),
                        lost=300 - len(checked), duplicated=again,
                        notes=f'{len(chunks)} chunks of 100; each chunk held by the victim ran again whole')
    assert len(chunks) == 3 and len(checked) == 300
    assert all(check['ok'] for check in checked), [c for c in checked if not c['ok']][:3]
    assert all(upstream.token_count(token) >= 1 for token in tokens)
    assert again % 100 == 0 and 100 <= again <= 300, again  # whole chunks, nothing else
