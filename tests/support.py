"""Helpers for tests that run the real system: processes, ports, vhosts, polling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kombu import Connection

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REDIS_TEST_URL = os.environ.get('TEST_RESULT_BACKEND', 'redis://127.0.0.1:6379/1')
T = TypeVar('T')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
             message: str = 'condition') -> T:
    """Poll until ``condition()`` is truthy (exceptions count as not yet); return its value."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        time.sleep(interval)
    raise AssertionError(f'{message} not met within {timeout}s (last error: {last!r})')


def rabbitmqctl(*args: str) -> None:
    subprocess.run(['rabbitmqctl', '-q', *args], check=True, capture_output=True, timeout=60)


class Vhost:
    """A private RabbitMQ vhost, so no stray worker of another run ever takes our tasks."""

    def __init__(self, prefix: str = 'route_check_test'):
        self.name = f'{prefix}_{uuid.uuid4().hex[:10]}'
        rabbitmqctl('add_vhost', self.name)
        rabbitmqctl('set_permissions', '-p', self.name, 'guest', '.*', '.*', '.*')
        self.url = f'amqp://guest:guest@127.0.0.1:5672/{self.name}'

    def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (0 when it was never declared)."""
        with Connection(self.url) as conn:
            try:
                return conn.default_channel.queue_declare(queue, passive=True).message_count
            except Exception as exc:  # noqa: BLE001
                if getattr(exc, 'code', None) == 404:
                    return 0
                raise

    def delete(self) -> None:
        rabbitmqctl('delete_vhost', self.name)


class Proc:
    """A child process in its own session, logging to a file; stop() ends its whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path,
                 cwd: Path = ROOT):
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self._log = open(self.log_path, 'ab')  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors='replace')

    def wait_log(self, needle: str, timeout: float = 60.0) -> None:
        def seen() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f'{self.name} exited ({self.popen.returncode}):\n{self.log()[-3000:]}')
            return needle in self.log()
        try:
            wait_for(seen, timeout, 0.1, f'{self.name} logging {needle!r}')
        except AssertionError:
            raise AssertionError(f'{self.name} never logged {needle!r}:\n{self.log()[-3000:]}') from None

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        self._log.close()


def base_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED='1', RESULT_BACKEND=REDIS_TEST_URL, CHECK_ALLOW='127.0.0.0/8')
    env.update(overrides)
    return env


def start_worker(kind: str, env: dict[str, str], log_dir: Path, concurrency: int | None = None,
                 name: str | None = None, queues: str | None = None) -> Proc:
    """A worker as supervisord.conf runs it: prefork for 'add', a thread pool for 'check'."""
    if kind == 'add':
        argv = ['-P', 'prefork', '-Ofair', '-c', str(concurrency or 2), '-Q', queues or 'add_queue,default']
    else:
        argv = ['-P', 'threads', '-c', str(concurrency or 60),
                '-Q', queues or 'route_check,common_check,route_check_ignore_result']
    name = name or f'worker-{kind}'
    proc = Proc(name, [str(VENV_BIN / 'celery'), '-A', 'main', 'worker', *argv,
                       '-n', f'{name}-{uuid.uuid4().hex[:6]}@%h', '-l', 'info'], env, log_dir)
    proc.wait_log('ready.')
    return proc


def start_web(env: dict[str, str], log_dir: Path, name: str = 'web') -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(name, [sys.executable, 'web.py'], dict(env, WEB_PORT=str(port)), log_dir)
    proc.wait_log('listening on', timeout=30)
    return proc, f'http://127.0.0.1:{port}'
