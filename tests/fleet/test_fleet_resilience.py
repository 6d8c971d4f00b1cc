"""A server that dies or hangs never holds up the others; reread/update applies config changes."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from tests.fleet.servers import PY, ROOT, Fleet, Supervisord, sleeper, wait_until


@pytest.fixture
def gamma(tmp_path):
    server = Supervisord(tmp_path, 'gamma', {'program:sleeper': sleeper(), 'program:gone': sleeper()})
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def pair(gamma, supervisors, fleet_factory, admin):
    """A fleet of beta (left alone) and gamma (for the test to break), with a group across both.

    With the default poll interval (1 s), timeout (1.5 s) and unreachable_after (3 s): the
    promises hold with those.
    """
    fleet = fleet_factory([supervisors['beta'], gamma], {'both': ['beta:web', 'gamma:sleeper']}, options={})
    http = fleet.session()
    fleet.wait_reachable(http)
    return fleet, http


def timed_servers(fleet, http) -> dict[str, dict]:
    started = time.monotonic()
    servers = {s['name']: s for s in fleet.get(http, '/api/servers')['servers']}
    assert time.monotonic() - started < 0.5, 'answers come from the snapshot, without waiting for servers'
    return servers


def test_a_stopped_supervisord_shows_as_unreachable_after_three_seconds_of_failures(pair, gamma):
    fleet, http = pair
    gamma.proc.terminate()
    gamma.proc.wait(30)
    stopped = time.monotonic()
    # Failing, but within the window: still listed with its last known processes.
    failing = wait_until(lambda: (s := timed_servers(fleet, http)['gamma'])['failing_since'] and s, 2,
                         'the failed poll to show')
    assert failing['reachable'] and failing['error'] and time.monotonic() - stopped < 2.5
    assert len(fleet.get(http, '/api/servers/gamma')['processes']) == 2
    servers = wait_until(lambda: (s := timed_servers(fleet, http)) and not s['gamma']['reachable'] and s,
                         5, 'gamma to show as unreachable')
    assert time.monotonic() - stopped < 5
    # unreachable_after (3 s) counts from the start of the first failed poll, on the dashboard's clock.
    assert fleet.get(http, '/api/servers')['now'] - failing['failing_since'] >= 3
    assert servers['beta']['reachable'] and servers['gamma']['error']
    group = fleet.get(http, '/api/groups/both')['group']
    assert group['unreachable'] == ['gamma'] and [p['id'] for p in group['processes']] == ['beta:web:web']
    result = fleet.post(http, '/api/actions/restart', {'groups': ['both']}).json()
    assert {(r['id'], r['status']) for r in result['results']} == {('gamma:*', 'UNREACHABLE'),
                                                                   ('beta:web:web', 'SUCCESS')}


def test_a_hung_supervisord_does_not_delay_the_others(pair, gamma):
    fleet, http = pair
    os.kill(gamma.proc.pid, signal.SIGSTOP)
    try:
        # Its polls time out (after 1.5 s) while every answer stays quick; after two of them
        # (3 s from the start of the first) it shows as unreachable.
        servers = wait_until(lambda: (s := timed_servers(fleet, http)) and not s['gamma']['reachable'] and s,
                             7, 'hung gamma to show as unreachable')
        assert servers['gamma']['error'] == 'timed out' and servers['beta']['reachable']
        started = time.monotonic()
        result = fleet.post(http, '/api/actions/start', {'groups': ['both']}).json()
        assert time.monotonic() - started < 1
        assert {(r['id'], r['status']) for r in result['results']} == {('gamma:*', 'UNREACHABLE'),
                                                                       ('beta:web:web', 'ALREADY_STARTED')}
    finally:
        os.kill(gamma.proc.pid, signal.SIGCONT)
    wait_until(lambda: timed_servers(fleet, http)['gamma']['reachable'], 3, 'gamma to come back')


def test_reread_and_update_picks_up_added_and_removed_programs(pair, gamma):
    fleet, http = pair
    del gamma.programs['program:gone']
    gamma.programs['program:added'] = sleeper()
    gamma.programs['program:sleeper'] = sleeper(startsecs='0')  # changed
    gamma.write_config()
    response = fleet.post(http, '/api/servers/gamma/update')
    assert response.status_code == 200, response.text
    assert response.json() == {'server': 'gamma', 'added': ['added'], 'changed': ['sleeper'],
                               'removed': ['gone'], 'errors': []}

    def listed():
        processes = {p['id']: p['state'] for p in fleet.get(http, '/api/servers/gamma')['processes']}
        return processes if processes.get('gamma:added:added') == 'RUNNING' else None
    assert wait_until(listed, 5, 'the added program running') == {'gamma:added:added': 'RUNNING',
                                                                 'gamma:sleeper:sleeper': 'RUNNING'}
    again = fleet.post(http, '/api/servers/gamma/update').json()
    assert (again['added'], again['changed'], again['removed']) == ([], [], [])
    gamma.conf.write_text('[broken')
    refused = fleet.post(http, '/api/servers/gamma/update')
    assert refused.status_code == 409 and 'CANT_REREAD' in refused.json()['error']


def test_stopping_the_dashboards_own_server_spares_the_dashboard(tmp_path):
    """The dashboard runs under a supervisord it manages, as `make run` has it."""
    home = Supervisord(tmp_path, 'home', {'program:sleeper': sleeper()})
    (tmp_path / 'fleet').mkdir()
    fleet = Fleet(tmp_path / 'fleet', [home], {})
    passed = ('FLEET_CONFIG', 'FLEET_PORT', 'FLEET_HOST', 'FLEET_STATE_DIR', home.password_env)
    home.programs['program:fleet'] = sleeper(
        command=f'{PY} -m fleet', directory=str(ROOT), startsecs='0',
        environment=','.join(f'{key}="{fleet.env[key]}"' for key in passed))
    home.write_config()
    try:
        home.start()
        wait_until(lambda: requests.get(f'{fleet.base}/login', timeout=1).ok, 10, 'fleet to answer')
        http = fleet.session()
        def own() -> list[dict]:
            return [p for p in fleet.get(http, '/api/servers/home')['processes'] if p['dashboard']]
        me = wait_until(own, 10, 'the dashboard to know its own process')
        assert [p['id'] for p in me] == ['home:fleet:fleet']
        pid = home.info('fleet')['pid']
        # Stop and restart leave it out and say so; start has nothing to do for it.
        for action, own in (('stop', 'DASHBOARD'), ('start', 'ALREADY_STARTED'), ('restart', 'DASHBOARD')):
            result = fleet.post(http, f'/api/actions/{action}', {'servers': ['home']}).json()
            expected = {'home:sleeper:sleeper': 'SUCCESS', 'home:fleet:fleet': own}
            assert {r['id']: r['status'] for r in result['results']} == expected, result
        assert home.info('fleet')['pid'] == pid and home.info('sleeper')['statename'] == 'RUNNING'
    finally:
        home.stop()
