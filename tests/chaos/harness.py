"""Chaos helpers: private Redis servers and Sentinels, a counting upstream, a load driver and
/proc probes. Private RabbitMQ nodes and clusters are in testbed/private_rabbit.py.

Nothing here touches the shared RabbitMQ (127.0.0.1:5672) or Redis (127.0.0.1:6379) beyond
private vhosts: a scenario that restarts a broker gets its own RabbitMQ node or redis-server,
started as a child process group and ended by that group only.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from testbed.process import PrivateService, Proc, free_port, stop_group, wait_for
from tests.upstream import Upstream


class PrivateRedis(PrivateService):
    """redis-server on a free port. AOF with fsync on every write, so stored results survive a
    restart like they would on a production Redis with persistence (see docs/reliability.md).
    With ``replica_of`` it starts as that server's replica."""

    def __init__(self, base: Path, persistent: bool = True, replica_of: PrivateRedis | None = None):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.replica_of = replica_of
        self.url = f'redis://127.0.0.1:{self.port}/0'
        self.popen: subprocess.Popen | None = None

    def argv(self) -> list[str]:
        persistence = ['--appendonly', 'yes', '--appendfsync', 'always'] if self.persistent else \
            ['--appendonly', 'no']
        replication = ['--replicaof', '127.0.0.1', str(self.replica_of.port)] if self.replica_of else []
        return ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                *persistence, *replication, '--dir', str(self.base)]

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.base / 'redis.out', 'ab')  # the child owns it
        self.popen = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        log.close()
        wait_for(lambda: self.command('PING'), timeout, 0.05, 'private redis up')

    def command(self, *args: str) -> object:
        """One command over a fresh connection (redis-cli's job, without parsing its output)."""
        client = redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)
        try:
            return client.execute_command(*args)
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is not None:
            stop_group(self.popen, sig)


class PrivateSentinel(PrivateRedis):
    """A Redis Sentinel (``redis-server --sentinel``, Debian's redis-server has it) watching ``master``.

    Quick to decide: a master silent for 1 s is down, as soon as ``quorum`` Sentinels agree.
    """

    def __init__(self, base: Path, master: PrivateRedis, name: str, quorum: int = 2):
        super().__init__(base)
        self.conf = base / 'sentinel.conf'  # Sentinel rewrites it: its state lives there
        self.conf.write_text(
            f'port {self.port}\nbind 127.0.0.1\ndir {base}\n'
            f'sentinel monitor {name} 127.0.0.1 {master.port} {quorum}\n'
            f'sentinel down-after-milliseconds {name} 1000\n'
            f'sentinel failover-timeout {name} 10000\n')

    def argv(self) -> list[str]:
        return ['redis-server', str(self.conf), '--sentinel']


class SentinelGroup(PrivateService):
    """One master, one replica and three Sentinels on loopback: Celery's ``sentinel://`` form."""

    def __init__(self, base: Path, name: str = 'rc_chaos'):
        self.name = name
        self.master = PrivateRedis(base / 'master')
        self.replica = PrivateRedis(base / 'replica', replica_of=self.master)
        self.sentinels = [PrivateSentinel(base / f'sentinel{i + 1}', self.master, name) for i in range(3)]
        self.url = ';'.join(f'sentinel://127.0.0.1:{s.port}/0' for s in self.sentinels)

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        wait_for(lambda: self.replica.command('INFO', 'replication').get('master_link_status') == 'up',
                 30, 0.1, 'replica in sync')
        for sentinel in self.sentinels:
            sentinel.start()
        # Failover needs each Sentinel to know the replica and the two other Sentinels.
        wait_for(lambda: all(len(s.command('SENTINEL', 'REPLICAS', self.name)) == 1
                             and len(s.command('SENTINEL', 'SENTINELS', self.name)) == 2
                             for s in self.sentinels), 60, 0.2, 'sentinels aware of each other')

    def master_port(self) -> int:
        """Where the Sentinels say the master is now."""
        return int(self.sentinels[0].command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', self.name)[1])

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            server.stop()


def token() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Call:
    """One request of a batch and what became of it."""

    token: str
    status: int | None = None  # None: no HTTP answer (connection error, client timeout)
    body: dict = field(default_factory=dict)
    latency: float = 0.0
    error: str | None = None
    sent_at: float = 0.0
    final: dict | None = None  # the task's result once it completed

    @property
    def task_id(self) -> str | None:
        return self.body.get('task_id')

    @property
    def accepted(self) -> bool:
        return self.status in (200, 202) and bool(self.task_id)


def call(url: str, params: dict, tok: str, timeout: float = 30.0) -> Call:
    result = Call(tok, sent_at=time.monotonic())
    try:
        response = requests.get(url, params=params, timeout=timeout)
        result.status = response.status_code
        try:
            result.body = response.json()
        except ValueError:
            result.error = f'not JSON: {response.text[:100]!r}'
        if response.status_code == 200 and 'task_id' in result.body:
            result.final = result.body
    except requests.RequestException as exc:
        result.error = type(exc).__name__
    result.latency = time.monotonic() - result.sent_at
    return result


def fire(pool: ThreadPoolExecutor, web: str, upstream: Upstream, n: int, ms: int = 0,
         timeout: float = 30.0, **extra: object) -> list:
    """Submit ``n`` /check calls, each against its own upstream token; return the futures."""
    futures = []
    for _ in range(n):
        tok = token()
        path = f'/slow?ms={ms}&t={tok}' if ms else f'/ok?t={tok}'
        futures.append(pool.submit(call, f'{web}/check', {'url': upstream.url + path, **extra}, tok, timeout))
    return futures


def collect(web: str | Callable[[], str], calls: Iterable[Call], timeout: float = 60.0) -> None:
    """Poll /result/<id> for every accepted call without a result yet, until all are done."""
    pending = [c for c in calls if c.accepted and c.final is None]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        base = web() if callable(web) else web
        still = []
        for c in pending:
            try:
                body = requests.get(f'{base}/result/{c.task_id}', timeout=5).json()
            except (requests.RequestException, ValueError):
                still.append(c)
                continue
            if body.get('status') == 'SUCCESS':
                c.final = {'task_id': c.task_id, **body['result']}
            elif body.get('status') in ('FAILURE', 'REVOKED', 'EXPIRED'):
                c.final = {'task_id': c.task_id, 'failed': body}
            else:
                still.append(c)
        pending = still
        if pending:
            time.sleep(0.2)


def supervisord_pid(home: Path) -> int:
    """The pid of the supervisord that `make run` started in ``home``."""
    return int((home / 'var/run/supervisord.pid').read_text())


class Load:
    """Closed-loop load: each thread sends one fast check after another until stopped."""

    def __init__(self, web: str, upstream: Upstream, threads: int, ms: int = 0, pause: float = 0.05,
                 error_pause: float | None = None):
        self.ms, self.pause = ms, pause
        self.error_pause = pause if error_pause is None else error_pause  # after a failed request
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(web, upstream), daemon=True)
                         for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, web: str, upstream: Upstream) -> None:
        while not self._stop.is_set():
            tok = token()
            path = f'/slow?ms={self.ms}&t={tok}' if self.ms else f'/ok?t={tok}'
            result = call(f'{web}/check', {'url': upstream.url + path}, tok, timeout=30)
            with self._lock:
                self.calls.append(result)
            self._stop.wait(self.pause if result.accepted else self.error_pause)

    def since(self, moment: float) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.sent_at >= moment]

    def stop(self) -> list[Call]:
        self._stop.set()
        for thread in self._threads:
            thread.join(40)
        return list(self.calls)


def stop_all(load: Load | None, *procs: Proc) -> None:
    """End a scenario: its load first, so nothing new is sent, then its processes."""
    if load is not None:
        load.stop()
    for proc in procs:
        proc.stop()
