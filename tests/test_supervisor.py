"""`make run` in a temporary copy of the tree: supervisord keeps every program alive."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, Proc, Vhost, base_env, free_port, wait_for
from tests.upstream import Upstream

PROGRAMS = {'worker-add', 'worker-check', 'web-0', 'web-1', 'flower'}


@dataclass
class System:
    home: Path
    env: dict[str, str]
    make: Proc
    web: str
    ui: str
    password: str

    def rpc(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(f'http://admin:{self.password}@{self.ui[7:]}/RPC2')

    def states(self) -> dict[str, dict]:
        return {p['name']: p for p in self.rpc().supervisor.getAllProcessInfo()}

    def all_running(self) -> dict[str, dict] | None:
        states = self.states()
        return states if {n for n, p in states.items() if p['statename'] == 'RUNNING'} == PROGRAMS else None

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / '.venv/bin/supervisorctl'), '-c', 'supervisord.conf', *args],
                              cwd=self.home, capture_output=True, text=True, timeout=90)


def copy_tree(dest: Path) -> None:
    """What git tracks, with modification times kept (so make sees the venv as up to date)."""
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split('\0')):
        if name.startswith(('tests/', 'fleet/', 'bench/', 'docs/')) or not (ROOT / name).exists():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    (dest / '.venv').symlink_to(ROOT / '.venv')


@pytest.fixture(scope='module')
def system(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[System]:
    home = tmp_path_factory.mktemp('tree')
    copy_tree(home)
    vhost = Vhost('route_check_supervised')
    web_port, ui_port, flower_port = free_port(), free_port(), free_port()
    env = base_env(BROKER_URL=vhost.url, WEB_PORT=str(web_port), SUPERVISOR_PORT=str(ui_port),
                   FLOWER_PORT=str(flower_port), WEB_PROCESSES='2', ADD_CONCURRENCY='2',
                   CHECK_CONCURRENCY='20', WEB_WAIT='10')
    for name in ('SUPERVISOR_PASSWORD', 'FLOWER_PASSWORD', 'FLEET_ADMIN_PASSWORD', 'VENV_BIN'):
        env.pop(name, None)  # the copy must generate its own secrets
    make = Proc('make-run', ['make', 'run'], env, log_dir, cwd=home)
    make.wait_log('supervisord started', timeout=120)
    secrets = (home / 'var/secrets.env').read_text()
    password = next(line.split('=', 1)[1] for line in secrets.splitlines()
                    if line.startswith('SUPERVISOR_PASSWORD='))
    sys_ = System(home, env, make, f'http://127.0.0.1:{web_port}', f'http://127.0.0.1:{ui_port}', password)
    wait_for(sys_.all_running, 60, 0.25, 'every program RUNNING')
    yield sys_
    pids = [p['pid'] for p in sys_.states().values() if p['pid']]
    make.stop(sig=signal.SIGINT)  # Ctrl-C
    try:
        for pid in pids:  # no orphans: every supervised process (and its children) is gone
            wait_for(lambda pid=pid: not os.path.exists(f'/proc/{pid}'), 30, 0.1, f'pid {pid} exited')
    finally:
        vhost.delete()


def add(system: System) -> dict:
    return requests.get(f'{system.web}/add', params={'x': 20, 'y': 22}, timeout=15).json()


def test_make_run_generates_private_secrets(system: System) -> None:
    secrets = system.home / 'var/secrets.env'
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert 'generated passwords in' in system.make.log() and str(secrets) in system.make.log()
    assert len(system.password) >= 20


def test_every_program_runs_and_add_works(system: System) -> None:
    assert system.all_running()
    assert add(system) == {'results': 42}


def test_supervisorctl_through_the_unix_socket(system: System) -> None:
    socket = system.home / 'var/run/supervisor.sock'
    assert stat.S_IMODE(socket.stat().st_mode) == 0o700
    status = system.ctl('status')
    assert status.returncode == 0, status.stderr
    assert sum('RUNNING' in line for line in status.stdout.splitlines()) == len(PROGRAMS)
    restart = system.ctl('restart', 'worker-check')
    assert 'worker-check: stopped' in restart.stdout and 'worker-check: started' in restart.stdout


def test_web_ui_needs_credentials(system: System) -> None:
    assert requests.get(system.ui, timeout=5).status_code == 401
    assert requests.get(system.ui, auth=('admin', 'admin'), timeout=5).status_code == 401
    assert requests.get(system.ui, auth=('admin', system.password), timeout=5).status_code == 200


@pytest.mark.parametrize('program', ['web-1', 'worker-add'])
def test_kill_9_is_undone_by_supervisord(system: System, program: str) -> None:
    old = system.states()[program]['pid']
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: (p := system.states()[program])['statename'] == 'RUNNING' and p['pid'] != old,
             30, 0.1, f'{program} back to RUNNING')
    wait_for(lambda: all(add(system) == {'results': 42} for _ in range(6)), 30, 0.2, '/add works again')


def test_stopping_a_worker_lets_its_task_finish(system: System) -> None:
    """Warm shutdown: the running check completes and its result is delivered before the exit."""
    upstream = Upstream()
    answer: dict = {}

    def call() -> None:
        response = requests.get(f'{system.web}/check', params={'url': f'{upstream.url}/slow?ms=3000'},
                                timeout=30)
        answer.update(status=response.status_code, body=response.json(), at=time.monotonic())

    try:
        caller = threading.Thread(target=call)
        caller.start()
        wait_for(lambda: upstream.count('/slow') == 1, 15, message='the slow check started')
        started = time.monotonic()
        stop = system.ctl('stop', 'worker-check')
        stopped_at = time.monotonic()
        assert 'worker-check: stopped' in stop.stdout
        caller.join(15)
        assert answer['status'] == 200 and answer['body']['ok'] is True
        assert answer['at'] <= stopped_at  # the result was out before the worker was gone
        assert stopped_at - started < 60  # within stopwaitsecs: no SIGKILL was needed
        assert system.states()['worker-check']['exitstatus'] == 0
    finally:
        upstream.close()
        system.ctl('start', 'worker-check')
    wait_for(system.all_running, 30, 0.25, 'worker-check running again')
