"""Real supervisords and real fleet servers for the fleet tests, and the helpers to drive them.

Every process started here is ended by its stop(). Ports are free ones; waits poll with deadlines.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from fleet.auth import hash_password
from support.process import ROOT, VENV_BIN, free_port, stop_group, wait_for
from support.worker import worker_argv

PY = sys.executable
SETTLING = {'STARTING', 'BACKOFF', 'STOPPING'}
ADMIN_PASSWORD = secrets.token_urlsafe(12)
VIEWER_PASSWORD = secrets.token_urlsafe(12)
# The config file stores hashes only; computing them once keeps the tests quick.
USERS = [{'name': 'admin', 'role': 'admin', 'password_hash': hash_password(ADMIN_PASSWORD)},
         {'name': 'viewer', 'role': 'readonly', 'password_hash': hash_password(VIEWER_PASSWORD)}]


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll check() until it returns something true; fail after timeout seconds."""
    return wait_for(check, timeout, every, what)


def sleeper(**extra: str) -> str:
    options = {'command': f'{PY} -c "import time; time.sleep(100000)"', 'startsecs': '1', 'stopwaitsecs': '5'}
    return '\n'.join(f'{k}={v}' for k, v in {**options, **extra}.items())


def celery_worker(queue: str) -> str:
    command = ' '.join(worker_argv(queue, 'threads', 2, [queue])).replace('%', '%%')  # supervisord's escape
    return '\n'.join([
        f'command={command}',
        f'directory={ROOT}',
        'environment=BROKER_URL="amqp://guest:guest@127.0.0.1:5672//"',
        'startsecs=2', 'stopwaitsecs=15', 'stopasgroup=true', 'killasgroup=true', 'redirect_stderr=true'])


class TimeoutTransport(xmlrpc.client.Transport):
    def make_connection(self, host):  # type: ignore[override]
        connection = super().make_connection(host)
        connection.timeout = 5
        return connection


class Supervisord:
    """One supervisord with an inet_http_server on a free port, login required."""

    def __init__(self, directory: Path, name: str, programs: dict[str, str]):
        self.dir = directory / name
        self.dir.mkdir()
        self.name = name
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}/RPC2'
        self.password = secrets.token_urlsafe(12)
        self.password_env = f'FLEET_TEST_{name.upper()}_PASSWORD'
        self.conf = self.dir / 'supervisord.conf'
        self.programs = dict(programs)
        self.proc: subprocess.Popen | None = None
        self.write_config()

    def write_config(self) -> None:
        sections = '\n\n'.join(f'[{header}]\n{body}' for header, body in self.programs.items())
        self.conf.write_text(f"""
[inet_http_server]
port=127.0.0.1:{self.port}
username=fleet
password={self.password}

[supervisord]
logfile={self.dir}/supervisord.log
pidfile={self.dir}/supervisord.pid
childlogdir={self.dir}
directory={self.dir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

{sections}
""")

    @property
    def rpc(self) -> Any:
        url = f'http://fleet:{self.password}@127.0.0.1:{self.port}/RPC2'
        return xmlrpc.client.ServerProxy(url, transport=TimeoutTransport()).supervisor

    def start(self) -> Supervisord:
        return self.launch().wait_ready()

    def launch(self) -> Supervisord:
        with open(self.dir / 'stdout.log', 'ab') as log:
            self.proc = subprocess.Popen([VENV_BIN / 'supervisord', '-n', '-c', self.conf], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self) -> Supervisord:
        wait_until(lambda: self.rpc.getState()['statename'] == 'RUNNING', 10, f'{self.name} to answer')
        self.settle()
        return self

    def settle(self, timeout: float = 20) -> list[dict]:
        """Wait until no process is between states; the process infos then."""
        def settled():
            infos = self.rpc.getAllProcessInfo()
            return infos if not any(i['statename'] in SETTLING for i in infos) else None
        return wait_until(settled, timeout, f'{self.name} processes to settle', every=0.1)

    def info(self, name: str) -> dict:
        return self.rpc.getProcessInfo(name)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGCONT)  # in case a test froze it
        try:
            children = [i['pid'] for i in self.rpc.getAllProcessInfo() if i['pid']]
        except Exception:  # gone already: nothing to ask
            children = []
        stop_group(self.proc, timeout=30)  # supervisord stops its programs, then exits
        for pid in children:  # only if supervisord could not end them itself
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Fleet:
    """A `python -m fleet` process, with its own config file and state directory."""

    def __init__(self, directory: Path, servers: list[Supervisord], groups: dict[str, list[str]],
                 users: list[dict] | None = USERS, env: dict[str, str] | None = None,
                 options: dict[str, float] | None = None):
        self.dir = directory
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}'
        self.config = self.dir / 'fleet.toml'
        # Quicker than the defaults unless a test asks for these (an empty dict: the defaults).
        options = {'poll_interval': 0.5, 'timeout': 1.0} if options is None else options
        lines = ['[fleet]', *(f'{k} = {v}' for k, v in options.items()), '']
        for s in servers:
            lines += ['[[servers]]', f'name = "{s.name}"', f'url = "{s.url}"', 'username = "fleet"',
                      f'password_env = "{s.password_env}"', '']
        for name, members in groups.items():
            lines += ['[[groups]]', f'name = "{name}"', f'members = {members!r}'.replace("'", '"'), '']
        for user in users or []:
            lines += ['[[users]]', *(f'{k} = "{v}"' for k, v in user.items()), '']
        self.config.write_text('\n'.join(lines))
        self.env = {**os.environ, 'FLEET_CONFIG': str(self.config), 'FLEET_PORT': str(self.port),
                    'FLEET_HOST': '127.0.0.1', 'FLEET_STATE_DIR': str(self.dir / 'state'),
                    **{s.password_env: s.password for s in servers}, **(env or {})}
        for key in ('FLEET_ADMIN_PASSWORD', 'FLEET_COOKIE_SECRET'):
            if key not in (env or {}):
                self.env.pop(key, None)
        self.servers = servers
        self.proc: subprocess.Popen | None = None

    def start(self) -> Fleet:
        self.log = self.dir / 'fleet.log'
        with open(self.log, 'ab') as log:
            self.proc = subprocess.Popen([PY, '-m', 'fleet'], cwd=ROOT, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(lambda: requests.get(f'{self.base}/login', timeout=1).ok, 10, 'fleet to answer')
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout=10)

    def session(self, user: str = 'admin', password: str = ADMIN_PASSWORD) -> requests.Session:
        """A logged-in client that sends the XSRF token as scripts must."""
        http = requests.Session()
        http.get(f'{self.base}/login', timeout=5)
        response = http.post(f'{self.base}/login', timeout=5, allow_redirects=False, data={
            'username': user, 'password': password, '_xsrf': http.cookies['_xsrf']})
        assert response.status_code == 302, response.text
        http.headers['X-XSRFToken'] = http.cookies['_xsrf']
        return http

    def get(self, http: requests.Session, path: str, **kwargs: Any) -> Any:
        response = http.get(self.base + path, timeout=5, **kwargs)
        assert response.ok, (response.status_code, response.text)
        return response.json()

    def post(self, http: requests.Session, path: str, body: dict | None = None) -> requests.Response:
        return http.post(self.base + path, json=body or {}, timeout=60)

    def wait_reachable(self, http: requests.Session, timeout: float = 10) -> None:
        wait_until(lambda: all(s['reachable'] for s in self.get(http, '/api/servers')['servers']),
                   timeout, 'every server reachable from fleet')


GROUPS = {
    'sleepers': ['alpha:sleeper', 'beta:sleeper'],
    'cross': ['alpha:pair:*', 'alpha:celery', 'beta:web'],
    'flaky': ['alpha:broken', 'alpha:missing', 'beta:sleeper'],
    'everything-beta': ['beta:*'],
}
