"""Child processes in their own session, logging to a file; polling with a deadline; free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
T = TypeVar('T')


_given: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and not one this process handed out before: the kernel may
    offer a released port again, and two servers given the same port lose one of them (seen
    when twenty supervisords were configured in a row, before any of them had bound)."""
    while True:
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        if port not in _given:
            _given.add(port)
            return port


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
        except Exception as exc:  # retried until the deadline
            last = exc
        time.sleep(interval)
    raise AssertionError(f'{message} not met within {timeout}s (last error: {last!r})')


def stop_group(popen: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Signal the child's process group (it was started in a new session), SIGKILL it after
    ``timeout`` seconds, and reap it."""
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, sig)
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait(10)
    except ProcessLookupError:
        pass


def child_env(**overrides: str) -> dict[str, str]:
    """This process's environment with unbuffered Python output, plus ``overrides``."""
    return {**os.environ, 'PYTHONUNBUFFERED': '1', **overrides}


class Proc:
    """A child process in its own session, logging to a file; stop() ends its whole group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path,
                 cwd: Path = ROOT):
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self._log = open(self.log_path, 'ab')  # closed in stop()
        self._log_start = self.log_path.stat().st_size  # an earlier process of this name wrote before
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
            return needle in self.log_path.read_bytes()[self._log_start:].decode(errors='replace')
        try:
            wait_for(seen, timeout, 0.1, f'{self.name} logging {needle!r}')
        except AssertionError:
            raise AssertionError(f'{self.name} never logged {needle!r}:\n{self.log()[-3000:]}') from None

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
        stop_group(self.popen, sig, timeout)
        self._log.close()


class PrivateService:
    """A server of a test's own (the subclass's start and stop), started for a ``with`` block."""

    def __enter__(self) -> Self:
        try:
            self.start()  # type: ignore[attr-defined]
        except BaseException:
            self.stop()  # type: ignore[attr-defined]  # what did start (a node of a cluster...)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()  # type: ignore[attr-defined]
