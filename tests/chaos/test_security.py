"""Security checks on a `make run` system: authentication of the UIs, listening addresses, and
no default password in the tree."""

from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

import requests

from testbed.process import ROOT, wait_for
from testbed.procfs import listening_sockets, proc_tree
from tests.chaos.harness import supervisord_pid
from tests.supervised import System


def test_supervisord_ui_and_rpc_refuse_unauthenticated(supervised: System) -> None:
    assert requests.get(supervised.ui, timeout=5).status_code == 401
    assert requests.get(supervised.ui, auth=('admin', 'admin'), timeout=5).status_code == 401
    rpc = ('<?xml version="1.0"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName>'
           '<params></params></methodCall>')
    assert requests.post(f'{supervised.ui}/RPC2', data=rpc, timeout=5).status_code == 401
    assert requests.get(f'{supervised.ui}/tail.html?processname=web:web-0', timeout=5).status_code == 401
    auth = ('admin', supervised.secrets['SUPERVISOR_PASSWORD'])
    assert requests.get(supervised.ui, auth=auth, timeout=5).status_code == 200


FLOWER_PROTECTED = ['/', '/workers', '/tasks', '/broker', '/api/workers', '/api/tasks',
                    '/api/task/info/00000000-0000-0000-0000-000000000000', '/api/queues/length',
                    '/worker/x', '/task/00000000-0000-0000-0000-000000000000']
# Unauthenticated by Flower's design (flower/urls.py): Prometheus scraping and a liveness probe.
FLOWER_OPEN = ['/metrics', '/healthcheck']


def test_flower_refuses_unauthenticated(supervised: System) -> None:
    wait_for(lambda: requests.get(f'{supervised.flower}/healthcheck', timeout=2).status_code == 200, 60, 0.2,
             'flower answering')
    for path in FLOWER_PROTECTED:
        response = requests.get(f'{supervised.flower}{path}', timeout=10, allow_redirects=False)
        assert response.status_code == 401, (path, response.status_code)
        wrong = requests.get(f'{supervised.flower}{path}', auth=('admin', 'admin'), timeout=10,
                             allow_redirects=False)
        assert wrong.status_code == 401, (path, wrong.status_code)
    # The API with the real credentials works: so the 401s above were about the credentials.
    auth = ('admin', supervised.secrets['FLOWER_PASSWORD'])
    assert requests.get(f'{supervised.flower}/api/tasks', auth=auth, timeout=20).status_code == 200
    # Documented, not a finding: these two answer without credentials by Flower's design. They
    # show counters and "OK", never task arguments or results.
    for path in FLOWER_OPEN:
        assert requests.get(f'{supervised.flower}{path}', timeout=10).status_code == 200, path


def test_nothing_listens_on_a_non_loopback_address(supervised: System) -> None:
    pids = proc_tree(supervisord_pid(supervised.home))
    sockets = listening_sockets(pids)
    ports = {port for _pid, _address, port in sockets}
    urls = [supervised.web, supervised.ui, supervised.flower, supervised.fleet]
    expected = {int(url.rsplit(':', 1)[1]) for url in urls}
    assert expected <= ports, (sockets, expected)  # the probe sees what we know is there
    exposed = [(pid, address, port) for pid, address, port in sockets
               if not ipaddress.ip_address(address).is_loopback]
    assert not exposed, exposed
    # Cross-check with ss, when it is installed (it shows the same sockets from the kernel's side).
    ss = subprocess.run(['ss', '-ltnpH'], capture_output=True, text=True, check=False)
    if ss.returncode == 0:
        for pid in pids:
            for line in ss.stdout.splitlines():
                if f'pid={pid},' in line:
                    local = line.split()[3]
                    address = local.rsplit(':', 1)[0].strip('[]').split('%')[0]
                    assert address != '*' and ipaddress.ip_address(address).is_loopback, line


# Default or well-known credentials, as they would be written in a config, a URL or a command line.
_WEAK = r'(?:admin|password|passw0rd|changeme|secret|root|123456|default|test)'
DEFAULT_PASSWORD_PATTERNS = [
    re.compile(rf'\b{_WEAK}:{_WEAK}@', re.I),  # user:password@host in a URL
    re.compile(rf'\badmin:{_WEAK}\b', re.I),  # basic auth user:password
    re.compile(rf'(?:password|passwd|pwd|secret)\s*[=:]\s*["\']?{_WEAK}["\']?\s*$', re.I | re.M),
    re.compile(rf'basic[_-]auth\s*[=:]?\s*["\']?\w+:{_WEAK}\b', re.I),
]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()


def tracked_text_files() -> dict[str, str]:
    names = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
    files = {}
    for name in filter(None, names.decode().split('\0')):
        path = ROOT / name
        if name == SELF or not path.is_file():
            continue
        data = path.read_bytes()
        if b'\0' not in data[:4096]:
            files[name] = data.decode('utf-8', errors='replace')
    return files


def test_no_default_password_in_tracked_files() -> None:
    files = tracked_text_files()
    assert len(files) > 10
    hits = [(name, match.group(0)) for name, text in files.items()
            for pattern in DEFAULT_PASSWORD_PATTERNS for match in pattern.finditer(text)]
    # tests may *try* a default password to show it is refused; only as a (user, password) pair
    hits = [(name, text) for name, text in hits if not name.startswith('tests/')]
    assert not hits, hits


def test_rabbitmq_guest_account_only_over_loopback() -> None:
    """The one well-known credential in the tree is RabbitMQ's own guest account in the default
    BROKER_URL / RABBITMQ_API. RabbitMQ refuses guest from anything but loopback (its default
    ``loopback_users``), so every use must point at 127.0.0.1 or localhost. Tests may try guest
    from elsewhere to show it is refused (tests/hosts does)."""
    uses = [(name, match.group(0)) for name, text in tracked_text_files().items()
            for match in re.finditer(r'guest:guest@[^/\s\'"]+', text)]
    assert uses, 'expected the default broker URL somewhere'
    remote = [(name, use) for name, use in uses if not name.startswith('tests/')
              and not re.match(r'guest:guest@(127\.0\.0\.1|localhost|\[::1\])(:|$)', use)]
    assert not remote, remote


FLEET_API = ['/api/me', '/api/servers', '/api/servers/local', '/api/groups', '/api/processes',
             '/api/processes/web/tail', '/api/events']


def test_fleet_dashboard_refuses_unauthenticated(supervised: System) -> None:
    """Pages send anonymous users to the login page and the API answers 401. An action with a
    valid XSRF token and a body naming a real group passes tornado's XSRF check (a 403 otherwise),
    so the 401 comes from the login check, and nothing is stopped."""
    wait_for(lambda: requests.get(f'{supervised.fleet}/login', timeout=2).status_code == 200, 60, 0.2,
             'fleet answering')
    for path in ('/groups', '/servers', '/processes'):
        response = requests.get(f'{supervised.fleet}{path}', timeout=5, allow_redirects=False)
        assert response.status_code == 302 and response.headers['Location'].startswith('/login'), path
    for path in FLEET_API:
        response = requests.get(f'{supervised.fleet}{path}', timeout=5, allow_redirects=False)
        assert response.status_code == 401, (path, response.status_code)
    anonymous = requests.Session()
    anonymous.get(f'{supervised.fleet}/login', timeout=5)
    xsrf = {'X-XSRFToken': anonymous.cookies['_xsrf']}
    before = {name: supervised.states()[name]['pid'] for name in ('worker-add', 'worker-check')}
    for action in ('stop', 'restart'):
        response = anonymous.post(f'{supervised.fleet}/api/actions/{action}', json={'groups': ['workers']},
                                  headers=xsrf, timeout=30, allow_redirects=False)
        assert (response.status_code, response.json()) == (401, {'error': 'login required'}), action
    states = supervised.states()
    assert {name: states[name]['pid'] for name in before} == before
    assert all(states[name]['statename'] == 'RUNNING' for name in before)
