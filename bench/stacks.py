"""Bringing each stack up and down: every process started here is stopped on the way out.

Each stack gets its own RabbitMQ vhost (no other run's worker can take its tasks, nothing
left over from the previous stack reaches it) and the bench's own Redis database.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

import routing
from bench import sysstat
from bench.load import CPUS
from testbed.blackbox import blackbox_exporter
from testbed.private_rabbit import PrivateCluster, PrivateRabbit
from testbed.process import ROOT, VENV_BIN, Proc, child_env, free_port, wait_for
from testbed.vhosts import Vhost
from testbed.worker_command import worker_argv


class Stalled(Exception):
    """The stack stopped working off its queue: it will not recover by waiting."""


@dataclass
class Stack:
    url: str  # base URL the load goes to
    groups: sysstat.Groups  # component -> root pids, for CPU accounting
    vhost: Vhost | PrivateRabbit | None = None  # where to read queue depths
    web_pids: list[int] = field(default_factory=list)

    def drain(self, probe: str, fast_s: float, timeout: float = 60.0) -> None:
        """Wait until the work a finished wrk left behind is done: its tasks out of the queues
        and its abandoned connections served (uWSGI still answers every connection waiting in
        its listen backlog), i.e. until ``probe`` is answered within ``fast_s`` again."""
        if self.vhost is not None:
            vhost = self.vhost
            try:
                wait_for(lambda: all(vhost.depth(q) == 0 for q in routing.ALL_QUEUES), timeout, 0.2)
            except AssertionError:
                depths = {q: vhost.depth(q) for q in routing.ALL_QUEUES}
                raise Stalled(f'queues not drained within {timeout:g} s: {depths}') from None

        def answers_fast() -> bool:
            started = time.monotonic()
            with urllib.request.urlopen(self.url + probe, timeout=timeout):
                pass
            return time.monotonic() - started < fast_s

        try:
            wait_for(answers_fast, timeout, 0.2)
        except AssertionError:
            raise Stalled(f'{probe} not answered within {fast_s:g} s for {timeout:g} s') from None
        time.sleep(0.5)  # closing connections of the last run


@contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


def wait_http(url: str, timeout: float = 30.0) -> None:
    def answers() -> bool:
        with contextlib.suppress(urllib.request.HTTPError), urllib.request.urlopen(url, timeout=2):
            pass
        return True

    wait_for(answers, timeout, 0.1, f'{url} answering')


@contextmanager
def upstream(log_dir: Path) -> Iterator[tuple[str, int]]:
    """The slow upstream: (its URL, its pid)."""
    port = free_port()
    with running(
        Proc('upstream', [sys.executable, '-m', 'bench.apps.upstream', '--port', str(port)], child_env(),
             log_dir)
    ) as proc:
        url = f'http://127.0.0.1:{port}/'
        wait_http(url)
        yield url, proc.pid


@contextmanager
def isolated(log_dir: Path, redis_url: str) -> Iterator[tuple[Vhost, dict[str, str]]]:
    """A fresh vhost and the environment pointing every process at it; both cleaned up after."""
    vhost = Vhost('route_check_bench')
    try:
        yield vhost, child_env(BROKER_URL=vhost.url, RESULT_BACKEND=redis_url, CHECK_ALLOW='127.0.0.0/8')
    finally:
        vhost.delete()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter('celery-task-meta-*', count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


def celery_worker(
    stack: ExitStack,
    name: str,
    env: dict[str, str],
    log_dir: Path,
    pool: str,
    concurrency: int,
    queues: tuple[str, ...],
    app: str = 'main',
    node: str | None = None,
) -> Proc:
    argv = worker_argv(node or name, pool, concurrency, queues, app)
    proc = stack.enter_context(running(Proc(name, argv, env, log_dir)))
    proc.wait_log('ready.')
    return proc


def web_processes(
    stack: ExitStack, name: str, argv: list[str], env: dict[str, str], log_dir: Path, count: int
) -> tuple[list[Proc], str]:
    """``count`` gateway processes sharing one port (SO_REUSEPORT)."""
    port = free_port()
    procs = []
    for index in range(count):
        proc = stack.enter_context(
            running(Proc(f'{name}-{index}', argv, dict(env, WEB_PORT=str(port)), log_dir))
        )
        proc.wait_log('listening on', timeout=30)
        procs.append(proc)
    return procs, f'http://127.0.0.1:{port}'


@contextmanager
def uwsgi_flask(log_dir: Path) -> Iterator[Stack]:
    """a. The seed's baseline: uWSGI, processes=10 threads=3, Flask calling the upstream."""
    port = free_port()
    argv = [
        str(VENV_BIN / 'uwsgi'),
        '--http-socket',
        f'127.0.0.1:{port}',
        '--master',
        '--processes',
        '10',
        '--threads',
        '3',
        '--module',
        'bench.apps.flask_app:app',
        '--chdir',
        str(ROOT),
        '--listen',
        '4096',  # the kernel queues what 30 threads cannot take yet
        '--die-on-term',  # exit on SIGTERM (uWSGI 2.0 reloads on it otherwise)
        '--disable-logging',
    ]
    with running(Proc('uwsgi-flask', argv, child_env(), log_dir)) as proc:
        url = f'http://127.0.0.1:{port}'
        wait_http(f'{url}/check?url=http://127.0.0.1:1/')
        yield Stack(url, {'uwsgi': [proc.pid]})


def uvicorn_processes(
    stack: ExitStack, name: str, env: dict[str, str], log_dir: Path, count: int
) -> tuple[Proc, str]:
    """The FastAPI peer: ``uvicorn --workers count``, whose master forks the workers."""
    port = free_port()
    argv = [str(VENV_BIN / 'uvicorn'), 'bench.apps.fastapi_web:app', '--port', str(port),
            '--workers', str(count)]
    proc = stack.enter_context(running(Proc(name, argv, env, log_dir)))
    wait_for(lambda: proc.log().count('Application startup complete.') >= count, 60, 0.1, f'{name} started')
    return proc, f'http://127.0.0.1:{port}'


@contextmanager
def celery_gateway(
    log_dir: Path, redis_url: str, kind: str, web_count: int, check_concurrency: int
) -> Iterator[Stack]:
    """A gateway in front of a check worker, by ``kind``:
    b ('seed'): one web.py, a prefork worker of concurrency 10 on route_check, as the seed ran it;
    c ('shipped'): N web.py and the thread-pool check worker, as supervisord.conf runs them;
    'fastapi': uvicorn --workers N running bench/apps/fastapi_web.py, and the check worker as shipped;
    'bare': N bench/apps/bare_gateway.py (the libraries alone), and the check worker as shipped."""
    with ExitStack() as stack:
        vhost, env = stack.enter_context(isolated(log_dir, redis_url))
        if kind == 'seed':
            worker = celery_worker(stack, 'worker-check-seed', env, log_dir, 'prefork', 10,
                                   (routing.QUEUE_OF[routing.HTTP_CHECK],))
        else:
            worker = celery_worker(
                stack,
                f'worker-check-{kind}',
                env,
                log_dir,
                'threads',
                check_concurrency,
                routing.CHECK_WORKER_QUEUES,
            )
        if kind == 'fastapi':
            uvicorn, url = uvicorn_processes(stack, 'fastapi-web', env, log_dir, web_count)
            yield Stack(url, {'web': [uvicorn.pid], 'worker': [worker.pid]}, vhost)
            return
        argv = ([sys.executable, '-m', 'bench.apps.bare_gateway'] if kind == 'bare'
                else [sys.executable, 'web.py'])
        webs, url = web_processes(stack, f'{kind}-web', argv, env, log_dir, web_count)
        yield Stack(url, {'web': [p.pid for p in webs], 'worker': [worker.pid]}, vhost, [p.pid for p in webs])


@contextmanager
def two_locations(log_dir: Path, redis_url: str, web_count: int, check_concurrency: int) -> Iterator[Stack]:
    """c with its check worker split in two of half the threads each, at locations east and west
    (node names check.east@bench, check.west@bench): for /check from=all against a single check."""
    with ExitStack() as stack:
        vhost, env = stack.enter_context(isolated(log_dir, redis_url))
        workers = [celery_worker(stack, f'worker-check-{place}', env, log_dir, 'threads',
                                 max(1, check_concurrency // 2), routing.CHECK_WORKER_QUEUES,
                                 node=f'check.{place}@bench') for place in ('east', 'west')]
        webs, url = web_processes(stack, 'located-web', [sys.executable, 'web.py'], env, log_dir, web_count)

        def both_live() -> bool:
            with urllib.request.urlopen(f'{url}/locations', timeout=2) as answer:
                return set(json.load(answer)['locations']) == {'east', 'west'}

        wait_for(both_live, 30, 0.1, 'east and west live at every web process')
        yield Stack(url, {'web': [p.pid for p in webs], 'worker': [w.pid for w in workers]}, vhost,
                    [p.pid for p in webs])


@contextmanager
def tornado_floor(log_dir: Path, web_count: int) -> Iterator[Stack]:
    """floor: N bench/apps/tornado_floor.py, Tornado answering /check after the upstream's wait with
    nothing behind it: the part of web.py's CPU that Tornado and the loop take."""
    with ExitStack() as stack:
        argv = [sys.executable, '-m', 'bench.apps.tornado_floor']
        webs, url = web_processes(stack, 'floor-web', argv, child_env(), log_dir, web_count)
        yield Stack(url, {'web': [p.pid for p in webs]})


@contextmanager
def blackbox(log_dir: Path) -> Iterator[Stack]:
    """Debian's blackbox_exporter reading the shipped probe.yml, the file our /probe reads: the
    reference for single probes, one Go process doing the check itself."""
    with blackbox_exporter(ROOT / 'probe.yml', log_dir) as (url, pid):
        yield Stack(url, {'exporter': [pid]})


@dataclass
class AddStacks:
    ours: Stack
    naive: Stack
    fastapi: Stack
    bare: Stack
    env: dict[str, str]  # for the plain client: the same vhost, so the same worker
    worker_pid: int


@contextmanager
def add_gateways(log_dir: Path, redis_url: str, web_count: int) -> Iterator[AddStacks]:
    """Ours, the naive gateway, the FastAPI peer and bare for /add, N processes each, behind one prefork
    add worker (-c = cores, as supervisord runs it) that the plain client uses too."""
    with ExitStack() as stack:
        vhost, env = stack.enter_context(isolated(log_dir, redis_url))
        worker = celery_worker(stack, 'worker-add', env, log_dir, 'prefork', CPUS, routing.ADD_WORKER_QUEUES)
        groups = {}
        for name, argv in (
            ('web', [sys.executable, 'web.py']),
            ('naive-web', [sys.executable, '-m', 'bench.apps.naive_web']),
            ('bare-web', [sys.executable, '-m', 'bench.apps.bare_gateway']),
        ):
            webs, url = web_processes(stack, name, argv, env, log_dir, web_count)
            pids = [p.pid for p in webs]
            groups[name] = Stack(url, {'web': pids, 'worker': [worker.pid]}, vhost, pids)
        uvicorn, url = uvicorn_processes(stack, 'fastapi-web', env, log_dir, web_count)
        fastapi = Stack(url, {'web': [uvicorn.pid], 'worker': [worker.pid]}, vhost)
        yield AddStacks(groups['web'], groups['naive-web'], fastapi, groups['bare-web'], env, worker.pid)


@dataclass
class ClusterStacks:
    check: Stack  # c's processes, on the cluster
    add: Stack  # the same gateway, for /add, with the add worker


@contextmanager
def quorum_cluster(
    log_dir: Path, redis_url: str, web_count: int, check_concurrency: int
) -> Iterator[ClusterStacks]:
    """c and ours, as supervisord runs them, on a private 3-node RabbitMQ cluster with
    QUEUE_TYPE=quorum (all three nodes on this machine, so they share its cores with the rest)."""
    with ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix='bench-cluster-')))
        cluster = stack.enter_context(PrivateCluster(data))
        _, env = stack.enter_context(isolated(log_dir, redis_url))  # its Redis clean-up; not its vhost
        env = dict(env, BROKER_URL=cluster.url(), QUEUE_TYPE='quorum')
        check = celery_worker(
            stack,
            'worker-check-quorum',
            env,
            log_dir,
            'threads',
            check_concurrency,
            routing.CHECK_WORKER_QUEUES,
        )
        add = celery_worker(
            stack, 'worker-add-quorum', env, log_dir, 'prefork', CPUS, routing.ADD_WORKER_QUEUES
        )
        webs, url = web_processes(stack, 'web-quorum', [sys.executable, 'web.py'], env, log_dir, web_count)
        pids = [p.pid for p in webs]
        brokers = {'rabbitmq': [node.popen.pid for node in cluster.nodes if node.popen is not None]}
        yield ClusterStacks(
            Stack(url, {'web': pids, 'worker': [check.pid], **brokers}, cluster.nodes[0], pids),
            Stack(url, {'web': pids, 'worker': [add.pid], **brokers}, cluster.nodes[0], pids),
        )
