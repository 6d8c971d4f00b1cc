"""Rolling restart of a group, server after server, against real supervisords (across real hosts
with Celery workers and load: tests/hosts)."""

from __future__ import annotations

from tests.fleet.servers import VIEWER_PASSWORD


def test_rollout_restarts_one_server_after_the_other(fleet, admin, supervisors):
    before = {name: s.info('sleeper') for name, s in supervisors.items()}
    answer = fleet.post(admin, '/api/groups/sleepers/rollout', {'ready_text': None})
    report = answer.json()
    assert answer.status_code == 200 and report['ok'], report
    assert [s['server'] for s in report['steps']] == ['alpha', 'beta'] and report['skipped'] == []
    after = {name: s.info('sleeper') for name, s in supervisors.items()}
    assert all(after[n]['pid'] != before[n]['pid'] and after[n]['statename'] == 'RUNNING' for n in after)
    # beta was stopped only once alpha's sleeper had been RUNNING (startsecs=1) again
    assert after['beta']['start'] >= after['alpha']['start'] + 1
    audit = fleet.get(admin, '/api/audit', params={'action': 'rollout'})['entries']
    assert {(e['server'], e['status']) for e in audit} >= {('alpha', 'SUCCESS'), ('beta', 'SUCCESS')}


def test_rollout_stops_at_the_first_failure(fleet, admin, supervisors):
    beta_pid = supervisors['beta'].info('sleeper')['pid']
    report = fleet.post(admin, '/api/groups/flaky/rollout', {'ready_text': None}).json()
    assert not report['ok'] and report['skipped'] == ['beta']
    [alpha] = report['steps']
    assert alpha['server'] == 'alpha' and not alpha['ok'] and 'alpha:broken:broken' in alpha['error']
    assert supervisors['beta'].info('sleeper')['pid'] == beta_pid  # untouched


def test_rollout_refuses_bad_requests(fleet, admin):
    assert fleet.post(admin, '/api/groups/nope/rollout').status_code == 404
    bad = fleet.post(admin, '/api/groups/sleepers/rollout', {'ready_text': 5})
    assert bad.status_code == 400 and 'ready_text' in bad.json()['error']
    viewer = fleet.session('viewer', VIEWER_PASSWORD)
    assert fleet.post(viewer, '/api/groups/sleepers/rollout').status_code == 403
