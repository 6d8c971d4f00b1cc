"""Chaos helpers: private brokers, a counting upstream, a load driver and /proc probes.

Nothing here touches the shared RabbitMQ (127.0.0.1:5672) or Redis (127.0.0.1:6379) beyond
private vhosts: a scenario that restarts a broker gets its own RabbitMQ node or redis-server,
started as a child process group and ended by that group only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from kombu import Connection

from support.process import free_port, stop_group, wait_for
from tests.upstream import Upstream

RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'  # not the wrapper: it would su to rabbitmq


class PrivateRabbit:
    """A RabbitMQ node of our own on free ports, with its data under ``base``.

    HOME points into ``base`` too, so its Erlang cookie is private and root's home is untouched.
    Stopping and starting it again keeps the Mnesia directory: durable queues and persistent
    messages survive, as they would across a real broker restart.
    """

    def __init__(self, base: Path):
        self.base = base
        self.port, self.dist_port = free_port(), free_port()
        self.node = f'rc_chaos_{uuid.uuid4().hex[:8]}@localhost'
        for sub in ('home', 'mnesia', 'log'):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / 'enabled_plugins').write_text('[].\n')
        (base / 'rabbitmq.conf').write_text(f'listeners.tcp.default = 127.0.0.1:{self.port}\n')
        (base / 'rabbitmq-env.conf').write_text('')  # not /etc/rabbitmq's (it names the shared node)
        self.env = dict(
            os.environ, HOME=str(base / 'home'), RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1', RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port), RABBITMQ_MNESIA_BASE=str(base / 'mnesia'),
            RABBITMQ_LOG_BASE=str(base / 'log'), RABBITMQ_ENABLED_PLUGINS_FILE=str(base / 'enabled_plugins'),
            RABBITMQ_CONFIG_FILE=str(base / 'rabbitmq.conf'),
            RABBITMQ_CONF_ENV_FILE=str(base / 'rabbitmq-env.conf'),
            ERL_FLAGS='-kernel inet_dist_use_interface {127,0,0,1}',
        )
        self.url = f'amqp://guest:guest@127.0.0.1:{self.port}//'
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 90.0) -> float:
        """Start the node and wait until it takes AMQP connections; return how long that took."""
        started = time.monotonic()
        self.starts += 1
        log = open(self.base / f'server-{self.starts}.out', 'ab')  # the child owns it
        self.popen = subprocess.Popen([RABBITMQ_SERVER], env=self.env, cwd=self.base, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def answering() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(f'rabbitmq-server exited: see {self.base}')
            with Connection(self.url, connect_timeout=1) as conn:
                conn.connect()
                return True
        wait_for(answering, timeout, 0.2, f'private RabbitMQ {self.node} up')
        return time.monotonic() - started

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM is RabbitMQ's graceful stop; the process group takes epmd-free children along."""
        if self.popen is not None:
            stop_group(self.popen, sig, timeout=60)

    def depth(self, queue: str) -> int:
        with Connection(self.url) as conn:
            return conn.default_channel.queue_declare(queue, passive=True).message_count


class PrivateRedis:
    """redis-server on a free port. AOF with fsync on every write, so stored results survive a
    restart like they would on a production Redis with persistence (see docs/reliability.md)."""

    def __init__(self, base: Path, persistent: bool = True):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.persistent = persistent
        self.url = f'redis://127.0.0.1:{self.port}/0'
        self.popen: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        persistence = ['--appendonly', 'yes', '--appendfsync', 'always'] if self.persistent else \
            ['--appendonly', 'no']
        log = open(self.base / 'redis.out', 'ab')  # the child owns it
        self.popen = subprocess.Popen(
            ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
             *persistence, '--dir', str(self.base)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def answering() -> bool:
            with socket.create_connection(('127.0.0.1', self.port), 0.5) as sock:
                sock.sendall(b'PING\r\n')
                return sock.recv(16).startswith(b'+PONG')
        wait_for(answering, timeout, 0.05, 'private redis up')

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is not None:
            stop_group(self.popen, sig)


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


def proc_children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (no psutil)."""
    try:
        text = Path(f'/proc/{pid}/task/{pid}/children').read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def proc_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(proc_children(p))
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f'/proc/{pid}/fd'))


def supervisord_pid(home: Path) -> int:
    """The pid of the supervisord that `make run` started in ``home``."""
    return int((home / 'var/run/supervisord.pid').read_text())


def listening_sockets(pids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN state that one of ``pids`` holds."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f'/proc/{pid}/fd'):
                try:
                    target = os.readlink(f'/proc/{pid}/fd/{fd}')
                except OSError:
                    continue
                if target.startswith('socket:['):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table, v6 in (('/proc/net/tcp', False), ('/proc/net/tcp6', True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != '0A' or inode not in inodes:  # 0A = LISTEN
                continue
            hex_addr, hex_port = local.split(':')
            found.append((inodes[inode], _address(hex_addr, v6), int(hex_port, 16)))
    return found


def _address(hex_addr: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_addr)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # per-word host byte order
    return socket.inet_ntop(socket.AF_INET6, words)


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
