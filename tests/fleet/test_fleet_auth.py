"""Login, roles, XSRF and the first-run admin."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
import requests

from fleet import auth, config
from tests.fleet.support import ADMIN_PASSWORD, PY, ROOT, VIEWER_PASSWORD


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
                       ('/api/actions/stop', {'groups': ['cross']}), ('/api/servers/beta/update', {})):
        response = fleet.post(viewer, path, body)
        assert response.status_code == 403, path
        assert response.json() == {'error': 'read-only users cannot change anything'}
    assert supervisors['beta'].info('web')['pid'] == pid


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
