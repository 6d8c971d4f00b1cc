"""Real supervisords and real fleet servers for the fleet tests, and the helpers to drive them.

Every process started here is ended by its stop(). Ports are free ones; waits poll with deadlines.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from fleet.auth import hash_password, new_token
from testbed.process import ROOT, VENV_BIN, free_port, stop_group, wait_for
from testbed.worker_command import worker_argv

PY = sys.executable
SETTLING = {'STARTING', 'BACKOFF', 'STOPPING'}
ADMIN_PASSWORD = secrets.token_urlsafe(12)
VIEWER_PASSWORD = secrets.token_urlsafe(12)
OPERATOR_PASSWORD = secrets.token_urlsafe(12)
# The config file stores hashes only; computing them once keeps the tests quick.
USERS = [{'name': 'admin', 'role': 'admin', 'password_hash': hash_password(ADMIN_PASSWORD)},
         {'name': 'viewer', 'role': 'readonly', 'password_hash': hash_password(VIEWER_PASSWORD)},
         {'name': 'operator', 'role': 'operator', 'password_hash': hash_password(OPERATOR_PASSWORD)}]
ADMIN_TOKEN, _ADMIN_TOKEN_HASH = new_token()
READONLY_TOKEN, _READONLY_TOKEN_HASH = new_token()
TOKENS = [{'name': 'ci', 'role': 'admin', 'token_hash': _ADMIN_TOKEN_HASH},
          {'name': 'graphs', 'role': 'readonly', 'token_hash': _READONLY_TOKEN_HASH}]


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

    def __init__(self, directory: Path, name: str, programs: dict[str, str], stats: bool = False):
        self.dir = directory / name
        self.dir.mkdir()
        self.name = name
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}/RPC2'
        self.password = secrets.token_urlsafe(12)
        self.password_env = f'FLEET_TEST_{name.upper()}_PASSWORD'
        self.conf = self.dir / 'supervisord.conf'
        self.programs = dict(programs)
        self.stats = stats  # load the fleet extension (fleet/rpcinterface.py): CPU and memory
        self.proc: subprocess.Popen | None = None
        self.write_config()

    def write_config(self) -> None:
        programs = dict(self.programs)
        if self.stats:
            factory = 'fleet.rpcinterface:make_fleet_rpcinterface'
            programs['rpcinterface:fleet'] = f'supervisor.rpcinterface_factory = {factory}'
        sections = '\n\n'.join(f'[{header}]\n{body}' for header, body in programs.items())
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
            # PYTHONPATH: so that supervisord can import the fleet extension, as scripts/env.sh has it.
            self.proc = subprocess.Popen([VENV_BIN / 'supervisord', '-n', '-c', self.conf], stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env={**os.environ, 'PYTHONPATH': str(ROOT)})
        return self

    def wait_ready(self, timeout: float = 10) -> Supervisord:
        wait_until(lambda: self.rpc.getState()['statename'] == 'RUNNING', timeout, f'{self.name} to answer')
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
                 options: dict[str, float] | None = None, extra: str = ''):
        self.dir = directory
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}'
        self.config = self.dir / 'fleet.toml'
        # Quicker than the defaults unless a test asks for these (an empty dict: the defaults).
        self.options = {'poll_interval': 0.5, 'timeout': 1.0} if options is None else options
        self.groups = groups
        self.servers = servers
        self.extra = extra  # more of the config file, as it is
        self.write_config(users)
        self.env = {**os.environ, 'FLEET_CONFIG': str(self.config), 'FLEET_PORT': str(self.port),
                    'FLEET_HOST': '127.0.0.1', 'FLEET_STATE_DIR': str(self.dir / 'state'),
                    **{s.password_env: s.password for s in servers}, **(env or {})}
        for key in ('FLEET_ADMIN_PASSWORD', 'FLEET_COOKIE_SECRET'):
            if key not in (env or {}):
                self.env.pop(key, None)
        self.proc: subprocess.Popen | None = None

    def write_config(self, users: list[dict] | None) -> None:
        lines = ['[fleet]', *(f'{k} = {v}' for k, v in self.options.items()), '']
        for s in self.servers:
            lines += ['[[servers]]', f'name = "{s.name}"', f'url = "{s.url}"', 'username = "fleet"',
                      f'password_env = "{s.password_env}"', f'location = "dc-{s.name}"', '']
        for name, members in self.groups.items():
            lines += ['[[groups]]', f'name = "{name}"', f'members = {members!r}'.replace("'", '"'), '']
        for kind, entries in (('users', users or []), ('tokens', TOKENS)):
            for entry in entries:
                lines += [f'[[{kind}]]', *(f'{k} = "{v}"' for k, v in entry.items()), '']
        self.config.write_text('\n'.join(lines) + '\n' + self.extra)

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


class SlowProxy:
    """An HTTP proxy in front of one supervisord's XML-RPC that answers each call `delay` s late.

    Stands for a busy or distant supervisord. `miss(n, delay)` makes only the next n calls that slow.
    """

    def __init__(self, target: Supervisord, delay: float):
        self.delay = delay
        self._misses: list[float] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers['Content-Length']))
                time.sleep(proxy.next_delay())  # the latency this proxy stands for
                upstream = http.client.HTTPConnection('127.0.0.1', target.port, timeout=30)
                upstream.request('POST', self.path, body, {k: v for k, v in self.headers.items()
                                                          if k.lower() in ('authorization', 'content-type')})
                answer = upstream.getresponse()
                data = answer.read()
                upstream.close()
                self.send_response(answer.status)
                self.send_header('Content-Type', answer.getheader('Content-Type', 'text/xml'))
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the dashboard gave up waiting: its timeout
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.server.server_port}/RPC2'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_delay(self) -> float:
        with self._lock:
            return self._misses.pop(0) if self._misses else self.delay

    def miss(self, count: int, delay: float) -> None:
        with self._lock:
            self._misses = [delay] * count

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WebhookReceiver:
    """A local HTTP server that records the JSON POSTs it gets; answers 500 to the first `fail`
    ones, or a 307 to `redirect_to` to every one."""

    def __init__(self, fail: int = 0, redirect_to: str | None = None):
        self.received: list[tuple[float, int, Any]] = []  # (when, answered status, body)
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                status = 307 if redirect_to else 500 if receiver.fail > 0 else 200
                receiver.fail -= 1
                receiver.received.append((time.monotonic(), status, body))
                self.send_response(status)
                if redirect_to:
                    self.send_header('Location', redirect_to)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_port}/hook'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[Any]:
        return [body for _, status, body in self.received if status == 200]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


GROUPS = {
    'sleepers': ['alpha:sleeper', 'beta:sleeper'],
    'cross': ['alpha:pair:*', 'alpha:celery', 'beta:web'],
    'flaky': ['alpha:broken', 'alpha:missing', 'beta:sleeper'],
    'everything-beta': ['beta:*'],
}
