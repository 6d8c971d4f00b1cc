"""Login, roles, XSRF and the first-run admin."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import stat
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from fleet import auth, config
from fleet.handlers import from_loopback
from tests.fleet.servers import (
    ADMIN_PASSWORD,
    OPERATOR_PASSWORD,
    PY,
    ROOT,
    USERS,
    VIEWER_PASSWORD,
    wait_until,
)


def test_everything_needs_a_login(fleet):
    for page in ('/groups', '/servers', '/processes'):
        response = requests.get(fleet.base + page, allow_redirects=False, timeout=5)
        assert response.status_code == 302
        assert response.headers['Location'] == f'/login?next=%2F{page[1:]}'
    for path in ('/api/servers', '/api/groups', '/api/processes', '/api/events', '/api/me',
                 '/api/processes/alpha:ticker:ticker/tail'):
        response = requests.get(fleet.base + path, allow_redirects=False, timeout=5)
        assert response.status_code == 401, path
        assert response.json() == {'error': 'login required'}


def test_login_sets_a_strict_httponly_session_cookie(fleet):
    http = requests.Session()
    http.get(f'{fleet.base}/login', timeout=5)
    form = {'username': 'admin', 'password': 'wrong', '_xsrf': http.cookies['_xsrf']}
    assert http.post(f'{fleet.base}/login', data=form, timeout=5).status_code == 401
    form = {'username': 'nobody', 'password': 'wrong', '_xsrf': http.cookies['_xsrf']}
    assert http.post(f'{fleet.base}/login', data=form, timeout=5).status_code == 401
    form = {'username': 'admin', 'password': ADMIN_PASSWORD, '_xsrf': http.cookies['_xsrf'],
            'next': '//evil.example/'}
    response = http.post(f'{fleet.base}/login', data=form, allow_redirects=False, timeout=5)
    assert response.status_code == 302 and response.headers['Location'] == '/'
    cookie = response.headers['Set-Cookie']
    assert cookie.startswith('fleet_session=') and 'HttpOnly' in cookie and 'SameSite=Strict' in cookie
    assert 'Secure' not in cookie  # FLEET_SECURE_COOKIES is off in this test
    page = http.get(f'{fleet.base}/groups', timeout=5)
    assert page.status_code == 200 and "script-src 'self'" in page.headers['Content-Security-Policy']


def test_readonly_user_sees_but_cannot_act(fleet, supervisors):
    viewer = fleet.session('viewer', VIEWER_PASSWORD)
    assert fleet.get(viewer, '/api/me')['role'] == 'readonly'
    assert len(fleet.get(viewer, '/api/servers')['servers']) == 2
    pid = supervisors['beta'].info('web')['pid']
    for path, body in (('/api/actions/restart', {'servers': ['beta']}),
                       ('/api/actions/stop', {'groups': ['cross']}), ('/api/servers/beta/update', {}),
                       ('/api/actions/signal', {'servers': ['beta'], 'signal': 'TERM'})):
        response = fleet.post(viewer, path, body)
        assert response.status_code == 403, path
        assert response.json() == {'error': 'read-only users cannot change anything'}
    assert viewer.get(f'{fleet.base}/api/audit', timeout=5).status_code == 403
    assert viewer.get(f'{fleet.base}/audit', timeout=5).status_code == 403
    assert supervisors['beta'].info('web')['pid'] == pid


def test_operator_starts_stops_and_restarts_but_nothing_else(fleet, supervisors):
    operator = fleet.session('operator', OPERATOR_PASSWORD)
    pid = supervisors['beta'].info('web')['pid']
    restarted = fleet.post(operator, '/api/actions/restart', {'processes': ['beta:web:web']})
    assert restarted.status_code == 200 and restarted.json()['ok']
    assert supervisors['beta'].info('web')['pid'] != pid
    pid = supervisors['beta'].info('web')['pid']
    for path, body in (('/api/servers/beta/update', {}),
                       ('/api/actions/signal', {'processes': ['beta:web:web'], 'signal': 'TERM'})):
        response = fleet.post(operator, path, body)
        assert response.status_code == 403, path
        assert response.json() == {'error': 'operators may start, stop and restart only'}
    assert fleet.post(operator, '/api/processes/beta:web:web/clear').status_code == 403
    assert operator.get(f'{fleet.base}/api/audit', timeout=5).status_code == 403
    assert supervisors['beta'].info('web')['pid'] == pid
    page = operator.get(f'{fleet.base}/groups', timeout=5).text
    assert 'data-control="yes"' in page and 'data-manage="no"' in page and '/audit' not in page


def test_posts_without_the_xsrf_token_are_refused(fleet, admin, supervisors):
    pid = supervisors['beta'].info('web')['pid']
    url = f'{fleet.base}/api/actions/restart'
    no_header = requests.post(url, json={'servers': ['beta']}, cookies=admin.cookies, timeout=5)
    assert no_header.status_code == 403 and '_xsrf' in no_header.json()['error']
    wrong = requests.post(url, json={'servers': ['beta']}, cookies=admin.cookies, timeout=5,
                          headers={'X-XSRFToken': '2|00000000|' + '0' * 32 + '|1'})
    assert wrong.status_code == 403
    assert supervisors['beta'].info('web')['pid'] == pid
    # The token from /api/me is one a script may use.
    script = requests.Session()
    script.cookies = admin.cookies
    script.headers['X-XSRFToken'] = fleet.get(admin, '/api/me')['xsrf']
    assert fleet.post(script, '/api/actions/start', {'servers': ['beta']}).status_code == 200


def test_first_run_admin_password_is_generated_into_a_private_file(fleet_factory, supervisors):
    fleet = fleet_factory([supervisors['beta']], users=None)
    path = fleet.dir / 'state' / auth.ADMIN_PASSWORD_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert str(path) in fleet.log.read_text()
    password = path.read_text().strip()
    assert len(password) >= 20 and password not in fleet.log.read_text()
    fleet.session('admin', password)
    with pytest.raises(AssertionError):
        fleet.session('admin', 'admin')


def test_first_run_admin_password_from_the_environment(fleet_factory, supervisors):
    fleet = fleet_factory([supervisors['beta']], users=None, env={'FLEET_ADMIN_PASSWORD': 'from-env-secret'})
    fleet.session('admin', 'from-env-secret')
    assert not (fleet.dir / 'state' / auth.ADMIN_PASSWORD_FILE).exists()


@pytest.mark.unit
def test_hash_password_command():
    out = subprocess.run([PY, '-m', 'fleet', 'hash-password'], input='s3cret\n', capture_output=True,
                         text=True, cwd=ROOT, check=True, timeout=30).stdout.strip()
    assert out.startswith('scrypt$') and auth.verify_password('s3cret', out)
    assert not auth.verify_password('other', out) and not auth.verify_password('s3cret', 'garbage')


@pytest.mark.unit
def test_passwords_hash_at_scrypt_n_2_17_and_older_hashes_still_verify():
    assert auth.hash_password('s3cret').split('$')[1:4] == ['131072', '8', '1']
    salt = b'0123456789abcdef'
    old = hashlib.scrypt(b's3cret', salt=salt, n=2**14, r=8, p=1)
    stored = f'scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(old).decode()}'
    assert auth.verify_password('s3cret', stored) and not auth.verify_password('other', stored)


@pytest.mark.unit
def test_config_is_checked():
    server = {'name': 'a', 'url': 'http://127.0.0.1:1/RPC2'}
    with pytest.raises(ValueError, match='matches no server'):
        config.parse({'servers': [server], 'groups': [{'name': 'g', 'members': ['b:x']}]})
    with pytest.raises(ValueError, match='role'):
        config.parse({'servers': [server], 'users': [{'name': 'u', 'role': 'root', 'password_hash': 'x'}]})
    with pytest.raises(ValueError, match='duplicate server'):
        config.parse({'servers': [server, server]})
    with pytest.raises(ValueError, match='name'):
        config.parse({'servers': [{**server, 'name': 'a:b'}]})
    good = auth.hash_password('x')

    def with_hash(stored: str) -> dict:
        return {'servers': [server], 'users': [{'name': 'u', 'role': 'admin', 'password_hash': stored}]}
    for bad in ('x', good.replace('scrypt', 'md5'), good + '$', good.replace('$8$', '$eight$'),
                good.rsplit('$', 1)[0] + '$not base64!', good.replace(f'${auth.N}$', '$1000$')):
        with pytest.raises(ValueError, match='password_hash'):
            config.parse(with_hash(bad))
    config.parse(with_hash(good))
    for option, value in (('poll_interval', 0), ('timeout', -1), ('timeout', 1e9), ('action_timeout', 'x'),
                          ('unreachable_after', True), ('poll_intervall', 1)):
        with pytest.raises(ValueError, match=option):
            config.parse({'servers': [server], 'fleet': {option: value}})
    assert config.parse({'servers': [server], 'fleet': {'poll_interval': 2}}).poll_interval == 2.0


@pytest.mark.unit
@pytest.mark.parametrize(('member', 'server', 'group', 'name', 'expected'), [
    ('a:*', 'a', 'g', 'p', True),
    ('a:*', 'b', 'g', 'p', False),
    ('a:web', 'a', 'web', 'web-0', True),  # a program with numprocs
    ('a:one', 'a', 'pair', 'one', True),  # a program inside a [group:]
    ('a:pair:*', 'a', 'pair', 'one', True),
    ('a:pair:one', 'a', 'pair', 'two', False),
    ('*:worker-*', 'z', 'worker-add', 'worker-add', True),
])
def test_member_patterns(member, server, group, name, expected):
    assert config.member_matches(member, server, group, name) is expected


def test_a_login_flood_is_cut_short_and_never_stalls_the_dashboard(fleet_factory, supervisors):
    fleet = fleet_factory([supervisors['beta']])
    http = fleet.session()  # logged in before the flood
    guesser = requests.Session()
    guesser.get(f'{fleet.base}/login', timeout=5)
    form = {'username': 'admin', 'password': 'guess', '_xsrf': guesser.cookies['_xsrf']}

    def guess() -> int:
        return requests.post(f'{fleet.base}/login', data=form, cookies=guesser.cookies, timeout=30,
                             allow_redirects=False).status_code
    slowest = 0.0
    with ThreadPoolExecutor(30) as pool:
        guesses = [pool.submit(guess) for _ in range(30)]
        while not all(g.done() for g in guesses):
            started = time.monotonic()
            fleet.get(http, '/api/me')
            slowest = max(slowest, time.monotonic() - started)
    statuses = Counter(g.result() for g in guesses)
    # Ten attempts per address per minute; password hashing runs off the event loop.
    assert statuses == {401: 10, 429: 20}, statuses
    assert slowest < 0.5, f'a request waited {slowest:.2f} s behind the logins'
    refused = requests.post(f'{fleet.base}/login', data=form, cookies=guesser.cookies, timeout=5)
    assert refused.status_code == 429 and int(refused.headers['Retry-After']) > 0


def test_logging_out_ends_the_session_and_its_event_stream(fleet):
    http = fleet.session()
    stolen = http.cookies.copy()
    with requests.get(f'{fleet.base}/api/events', cookies=stolen, stream=True, timeout=5) as stream:
        lines = stream.iter_lines()
        assert next(lines) == b'event: snapshot'
        assert http.post(f'{fleet.base}/logout', allow_redirects=False, timeout=5).status_code == 302
        started = time.monotonic()
        for _ in lines:  # ends when the dashboard closes the stream
            pass
        assert time.monotonic() - started < 2
    again = requests.get(f'{fleet.base}/api/me', cookies=stolen, timeout=5)
    assert again.status_code == 401, 'a copied cookie is worth nothing after logout'


def test_a_reload_removing_a_user_ends_its_sessions(fleet_factory, supervisors):
    fleet = fleet_factory([supervisors['beta']])
    admin, viewer = fleet.session(), fleet.session('viewer', VIEWER_PASSWORD)
    fleet.write_config([u for u in USERS if u['name'] != 'viewer'])
    os.kill(fleet.proc.pid, signal.SIGHUP)
    wait_until(lambda: viewer.get(f'{fleet.base}/api/me', timeout=5).status_code == 401, 5,
               'the removed user logged out')
    assert fleet.get(admin, '/api/me')['user'] == 'admin'
    with pytest.raises(AssertionError):
        fleet.session('viewer', VIEWER_PASSWORD)


def test_an_empty_cookie_secret_file_is_refused(tmp_path, supervisors):
    (tmp_path / auth.COOKIE_SECRET_FILE).write_text('\n')
    with pytest.raises(config.ConfigError, match='no usable secret'):
        auth.cookie_secret(config.Settings(config_path=tmp_path / 'fleet.toml', state_dir=tmp_path))


def test_a_trusted_proxy_header_logs_in_configured_users_only_when_enabled(fleet, fleet_factory, supervisors):
    # Off by default: the shared dashboard ignores the header.
    plain = requests.get(f'{fleet.base}/api/me', headers={'X-Remote-User': 'admin'}, timeout=5)
    assert plain.status_code == 401
    sso = fleet_factory([supervisors['beta']], options={'trusted_user_header': '"X-Remote-User"'})
    me = requests.get(f'{sso.base}/api/me', headers={'X-Remote-User': 'viewer'}, timeout=5).json()
    assert (me['user'], me['role']) == ('viewer', 'readonly')
    stranger = requests.get(f'{sso.base}/api/me', headers={'X-Remote-User': 'mallory'}, timeout=5)
    assert stranger.status_code == 401
    assert requests.get(f'{sso.base}/api/me', timeout=5).status_code == 401
    with pytest.raises(ValueError, match='trusted_user_header'):
        config.parse({'servers': [{'name': 'a', 'url': 'http://x/RPC2'}],
                      'fleet': {'trusted_user_header': 'a b'}})


@pytest.mark.unit
@pytest.mark.parametrize(('address', 'trusted'), [('127.0.0.1', True), ('::1', True), ('127.9.9.9', True),
                                                   ('10.0.0.5', False), ('198.18.0.1', False), ('', False)])
def test_only_loopback_peers_are_trusted_proxies(address, trusted):
    assert from_loopback(address) is trusted
