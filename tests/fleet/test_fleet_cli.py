"""API tokens for scripts, and `python -m fleet status|start|stop|restart|tail` against a running
dashboard or straight against the config's servers."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.fleet.servers import ADMIN_TOKEN, PY, READONLY_TOKEN, ROOT


def bearer(token: str) -> dict[str, str]:
    return {'Authorization': f'Bearer {token}'}


def test_api_tokens_act_as_their_role_without_cookies_or_xsrf(fleet, supervisors):
    me = requests.get(f'{fleet.base}/api/me', headers=bearer(ADMIN_TOKEN), timeout=5).json()
    assert (me['user'], me['role']) == ('token:ci', 'admin')
    pid = supervisors['beta'].info('web')['pid']
    restart = requests.post(f'{fleet.base}/api/actions/restart', json={'processes': ['beta:web:web']},
                            headers=bearer(ADMIN_TOKEN), timeout=30)
    assert restart.status_code == 200 and restart.json()['ok']
    assert supervisors['beta'].info('web')['pid'] != pid
    readonly = requests.post(f'{fleet.base}/api/actions/stop', json={'processes': ['beta:web:web']},
                             headers=bearer(READONLY_TOKEN), timeout=5)
    assert readonly.status_code == 403
    assert requests.get(f'{fleet.base}/api/servers', headers=bearer(READONLY_TOKEN), timeout=5).ok
    for wrong in ('x' * 43, READONLY_TOKEN[:-1]):
        refused = requests.get(f'{fleet.base}/api/me', headers=bearer(wrong), timeout=5)
        assert refused.status_code == 401 and refused.json() == {'error': 'login required'}
    # A browser's cookies never make up for a wrong token.
    admin = fleet.session()
    assert admin.get(f'{fleet.base}/api/me', headers=bearer('wrong'), timeout=5).status_code == 401
    assert supervisors['beta'].info('web')['statename'] == 'RUNNING'


def cli(fleet, *args: str, token: str = ADMIN_TOKEN, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**fleet.env, 'FLEET_URL': fleet.base, 'FLEET_TOKEN': token, **(env or {})}
    return subprocess.run([PY, '-m', 'fleet', *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=120)


def test_cli_against_the_dashboard(fleet, supervisors):
    beta = cli(fleet, 'status', 'beta')
    assert beta.returncode == 0, beta.stderr
    assert [line.split()[:2] for line in beta.stdout.splitlines()] == [
        ['beta:sleeper:sleeper', 'RUNNING'], ['beta:web:web', 'RUNNING']]
    assert cli(fleet, 'status', 'flaky').returncode == 1  # FATAL processes in it
    pid = supervisors['beta'].info('web')['pid']
    restarted = cli(fleet, 'restart', 'beta:web:web')
    assert restarted.returncode == 0 and 'SUCCESS' in restarted.stdout
    assert supervisors['beta'].info('web')['pid'] != pid
    missing = cli(fleet, 'start', 'alpha:missing:missing')
    assert missing.returncode == 1 and 'NO_FILE' in missing.stdout
    assert 'fleet tick' in cli(fleet, 'tail', 'alpha:ticker:ticker').stdout
    unknown = cli(fleet, 'status', 'nope')
    assert unknown.returncode == 2 and 'no process, group or server named' in unknown.stderr
    refused = cli(fleet, 'stop', 'beta:web:web', token=READONLY_TOKEN)
    assert refused.returncode == 2 and '403' in refused.stderr
    assert supervisors['beta'].info('web')['statename'] == 'RUNNING'
    gone = cli(fleet, 'status', env={'FLEET_URL': 'http://127.0.0.1:9'})
    assert gone.returncode == 3


def test_cli_straight_to_the_servers(fleet, supervisors):
    pid = supervisors['alpha'].info('sleeper')['pid']
    restarted = cli(fleet, 'restart', 'sleepers', '--direct')
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert {line.split()[0] for line in restarted.stdout.splitlines()} == {'alpha:sleeper:sleeper',
                                                                         'beta:sleeper:sleeper'}
    assert supervisors['alpha'].info('sleeper')['pid'] != pid
    everything = cli(fleet, 'status', '--direct')
    assert everything.returncode == 1 and 'alpha:missing:missing' in everything.stdout
    no_password = cli(fleet, 'status', 'beta', '--direct', env={supervisors['beta'].password_env: ''})
    assert no_password.returncode == 3 and 'beta: unreachable' in no_password.stderr


class Recorder:
    """A local HTTP server that records each request's Authorization header and answers a 307
    to ``redirect_to`` (or 502, as a proxy that reaches nothing would)."""

    def __init__(self, redirect_to: str | None = None):
        self.seen: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                recorder.seen.append(self.headers.get('Authorization'))
                self.send_response(307 if redirect_to else 502)
                if redirect_to:
                    self.send_header('Location', redirect_to + self.path)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_port}'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_token_goes_to_fleet_url_only(fleet):
    """Not on after a redirect, not to HTTP_PROXY, and never in plaintext off this machine."""
    elsewhere = Recorder()
    redirecting = Recorder(redirect_to=elsewhere.url)
    proxy = Recorder()
    try:
        moved = cli(fleet, 'status', env={'FLEET_URL': redirecting.url})
        assert moved.returncode == 2 and '307' in moved.stderr, moved.stderr
        assert redirecting.seen == [f'Bearer {ADMIN_TOKEN}'] and elsewhere.seen == []
        proxied = cli(fleet, 'status', 'beta', env={'HTTP_PROXY': proxy.url, 'http_proxy': proxy.url,
                                                    'NO_PROXY': '', 'no_proxy': ''})
        assert proxied.returncode == 0, proxied.stderr
        assert proxy.seen == []
    finally:
        for server in (elsewhere, redirecting, proxy):
            server.stop()
    plaintext = cli(fleet, 'status', env={'FLEET_URL': 'http://192.0.2.1:9001'})
    assert plaintext.returncode == 2 and 'https://' in plaintext.stderr
