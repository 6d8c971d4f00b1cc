"""The whole system as a user runs it: `make run` in a temporary copy of the tree."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import urllib.request
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testbed.process import ROOT, Proc, free_port, wait_for
from testbed.vhosts import Vhost
from tests.processes import base_env

PROGRAMS = {'worker-add', 'worker-check', 'web-0', 'web-1', 'flower', 'fleet'}


@dataclass
class System:
    home: Path
    env: dict[str, str]
    make: Proc
    vhost: Vhost
    web: str
    ui: str
    flower: str
    fleet: str
    secrets: dict[str, str]

    @property
    def password(self) -> str:
        return self.secrets['SUPERVISOR_PASSWORD']

    def rpc(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(f'http://admin:{self.password}@{self.ui[7:]}/RPC2')

    def states(self) -> dict[str, dict]:
        return {p['name']: p for p in self.rpc().supervisor.getAllProcessInfo()}

    def all_running(self) -> dict[str, dict] | None:
        states = self.states()
        return states if {n for n, p in states.items() if p['statename'] == 'RUNNING'} == PROGRAMS else None

    def web_answers(self) -> bool:
        """RUNNING only means up for startsecs; a busy machine may still be importing."""
        with urllib.request.urlopen(f'{self.web}/healthz', timeout=5) as answer:
            return answer.status == 200

    def flower_answers(self) -> bool:
        with urllib.request.urlopen(f'{self.flower}/healthcheck', timeout=5) as answer:
            return answer.status == 200

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / '.venv/bin/supervisorctl'), '-c', 'supervisord.conf', *args],
                              cwd=self.home, capture_output=True, text=True, timeout=90)


def copy_tree(dest: Path) -> None:
    """What git tracks, with modification times kept (so make sees the venv as up to date)."""
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split('\0')):
        if name.startswith(('tests/', 'bench/', 'docs/')) or not (ROOT / name).exists():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    (dest / '.venv').symlink_to(ROOT / '.venv')


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split('=', 1) for line in path.read_text().splitlines() if '=' in line and line[0] != '#')
    return dict(pairs)


@contextmanager
def running_system(home: Path, log_dir: Path, **overrides: str) -> Iterator[System]:
    """Run `make run` in ``home`` on free ports and a private vhost; Ctrl-C it at the end and
    check that every supervised process is gone."""
    copy_tree(home)
    vhost = Vhost('route_check_supervised')
    web_port, ui_port, flower_port, fleet_port = free_port(), free_port(), free_port(), free_port()
    fleet_config = home / 'fleet/examples/fleet.toml'  # the shipped config, on this run's port
    fleet_config.write_text(fleet_config.read_text().replace('127.0.0.1:2345', f'127.0.0.1:{ui_port}'))
    settings = dict(BROKER_URL=vhost.url, WEB_PORT=str(web_port), SUPERVISOR_PORT=str(ui_port),
                    FLOWER_PORT=str(flower_port), FLEET_PORT=str(fleet_port), WEB_PROCESSES='2',
                    ADD_CONCURRENCY='2', CHECK_CONCURRENCY='20', WEB_WAIT='10',
                    TASK_LOG_LEVEL='INFO')  # the per-task lines: tests follow a request into them
    env = base_env(**{**settings, **overrides})
    for name in ('SUPERVISOR_PASSWORD', 'FLOWER_PASSWORD', 'FLEET_ADMIN_PASSWORD', 'VENV_BIN', 'FLEET_CONFIG',
                 'WEB_HOST', 'FLOWER_HOST', 'SUPERVISOR_HOST', 'FLEET_HOST', 'LOCATION', 'CHECK_NODE'):
        env.pop(name, None)  # the copy generates its own secrets and uses the default addresses
    # The copy shares the test runner's venv (already set up by `make test`): -o keeps make from
    # rebuilding it when requirements files are newer than its marker.
    make = Proc(f'make-run-{home.name}', ['make', '-o', '.venv/.installed', 'run'], env, log_dir, cwd=home)
    try:
        make.wait_log('supervisord started', timeout=120)
        system = System(home, env, make, vhost, f'http://127.0.0.1:{web_port}',
                        f'http://127.0.0.1:{ui_port}', f'http://127.0.0.1:{flower_port}',
                        f'http://127.0.0.1:{fleet_port}', read_env_file(home / 'var/secrets.env'))
        wait_for(system.all_running, 60, 0.25, 'every program RUNNING')
        wait_for(system.web_answers, 60, 0.25, 'the gateway answering /healthz')
        wait_for(system.flower_answers, 60, 0.25, 'Flower answering /healthcheck')
        yield system
        pids = [p['pid'] for p in system.states().values() if p['pid']]
    finally:
        make.stop(timeout=90, sig=signal.SIGINT)  # Ctrl-C
        vhost.delete()
    for pid in pids:  # no orphans: every supervised process (and its children) is gone
        wait_for(lambda pid=pid: not os.path.exists(f'/proc/{pid}'), 30, 0.1, f'pid {pid} exited')
