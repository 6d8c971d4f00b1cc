"""`make run` in a temporary copy of the tree: supervisord keeps every program alive."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from pathlib import Path

import pytest
import requests

from testbed.process import wait_for
from tests.supervised import PROGRAMS, System
from tests.upstream import Upstream


def add(system: System) -> dict:
    return requests.get(f'{system.web}/add', params={'x': 20, 'y': 22}, timeout=15).json()


def test_make_run_generates_private_secrets(system: System) -> None:
    secrets = system.home / 'var/secrets.env'
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert 'generated passwords in' in system.make.log() and str(secrets) in system.make.log()
    assert all(len(system.secrets[k]) >= 20 for k in ('SUPERVISOR_PASSWORD', 'FLOWER_PASSWORD'))


def test_logs_are_readable_by_their_owner_only(system: System) -> None:
    logs = system.home / 'var/log'
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    files = list(logs.glob('*.log'))
    assert files and all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in files), [
        (path.name, oct(path.stat().st_mode)) for path in files]


def test_no_program_holds_a_password_it_does_not_use(system: System) -> None:
    """supervisord passes its environment on; each program's environment= blanks what it does not
    need. The fleet dashboard logs in to supervisord and has an admin; Flower has its own login."""
    uses = {'fleet': {'SUPERVISOR_PASSWORD', 'FLEET_ADMIN_PASSWORD'}, 'flower': {'FLOWER_PASSWORD'}}
    programs = system.rpc().supervisor.getAllProcessInfo()
    assert {info['group'] for info in programs} >= {'web', 'worker-add', 'worker-check', 'flower', 'fleet'}
    for info in programs:
        environ = Path(f'/proc/{info["pid"]}/environ').read_bytes()
        held = {name for name in ('SUPERVISOR_PASSWORD', 'FLOWER_PASSWORD', 'FLEET_ADMIN_PASSWORD')
                if system.secrets[name].encode() in environ}
        assert held <= uses.get(info['group'], set()), (info['name'], held)


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


def test_fleet_dashboard_manages_this_supervisord(system: System) -> None:
    """`make run` also runs the fleet dashboard, configured for this machine's supervisord."""
    session = requests.Session()
    assert session.get(f'{system.fleet}/api/servers', timeout=5).status_code == 401
    session.get(f'{system.fleet}/login', timeout=5)
    login = session.post(f'{system.fleet}/login', timeout=5, allow_redirects=False, data={
        'username': 'admin', 'password': system.secrets['FLEET_ADMIN_PASSWORD'],
        '_xsrf': session.cookies['_xsrf']})
    assert login.status_code == 302

    def local() -> dict | None:
        server = session.get(f'{system.fleet}/api/servers/local', timeout=5).json()
        return server if server['server']['reachable'] else None
    server = wait_for(local, 10, 0.2, 'the fleet dashboard reaching the local supervisord')
    assert {p['name'] for p in server['processes'] if p['state'] == 'RUNNING'} >= PROGRAMS - {'fleet'}
