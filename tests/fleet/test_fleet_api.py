"""Listings and actions through the JSON API, against real supervisords."""

from __future__ import annotations

import json

from tests.fleet.servers import wait_until


def ids(processes: list[dict]) -> set[str]:
    return {p['id'] for p in processes}


def test_server_lists_its_processes_with_state_and_why_fatal(fleet, admin):
    alpha = fleet.get(admin, '/api/servers/alpha')
    assert alpha['server']['reachable'] and alpha['server']['state'] == 'RUNNING'
    by_id = {p['id']: p for p in alpha['processes']}
    assert set(by_id) == {'alpha:sleeper:sleeper', 'alpha:ticker:ticker', 'alpha:broken:broken',
                          'alpha:missing:missing', 'alpha:pair:one', 'alpha:pair:two', 'alpha:celery:celery',
                          'alpha:accents:accents'}
    assert by_id['alpha:celery:celery']['state'] == 'RUNNING' and by_id['alpha:celery:celery']['pid']
    assert by_id['alpha:missing:missing']['state'] == 'FATAL'
    assert "can't find command" in by_id['alpha:missing:missing']['spawnerr']
    assert by_id['alpha:broken:broken']['state'] == 'FATAL'
    assert ids(fleet.get(admin, '/api/servers/beta')['processes']) == {'beta:sleeper:sleeper', 'beta:web:web'}
    servers = fleet.get(admin, '/api/servers')['servers']
    assert [(s['name'], s['processes'], s['location']) for s in servers] == [('alpha', 8, 'dc-alpha'),
                                                                              ('beta', 2, 'dc-beta')]
    assert admin.get(f'{fleet.base}/api/servers/nope', timeout=5).status_code == 404


def test_groups_span_servers(fleet, admin):
    cross = fleet.get(admin, '/api/groups/cross')['group']
    assert ids(cross['processes']) == {'alpha:pair:one', 'alpha:pair:two', 'alpha:celery:celery',
                                       'beta:web:web'}
    assert cross['servers'] == ['alpha', 'beta'] and cross['unreachable'] == []
    groups = {g['name']: g for g in fleet.get(admin, '/api/groups')['groups']}
    assert ids(groups['everything-beta']['processes']) == {'beta:sleeper:sleeper', 'beta:web:web'}
    assert ids(groups['sleepers']['processes']) == {'alpha:sleeper:sleeper', 'beta:sleeper:sleeper'}
    response = admin.get(f'{fleet.base}/api/groups/nope', timeout=5)
    assert response.status_code == 404 and response.json() == {'error': 'no such group: nope'}


def test_processes_filter_by_state_and_search(fleet, admin):
    fatal = fleet.get(admin, '/api/processes', params={'state': 'fatal'})['processes']
    assert ids(fatal) == {'alpha:broken:broken', 'alpha:missing:missing'}
    ticker = fleet.get(admin, '/api/processes', params={'q': 'TICKER'})['processes']
    assert ids(ticker) == {'alpha:ticker:ticker'}
    found = fleet.get(admin, '/api/processes', params={'q': "can't find", 'state': 'FATAL,RUNNING'})
    assert ids(found['processes']) == {'alpha:missing:missing'}


def test_batch_restart_of_a_cross_server_group(fleet, admin, supervisors):
    alpha, beta = supervisors['alpha'], supervisors['beta']
    before = {'one': alpha.info('pair:one')['pid'], 'celery': alpha.info('celery')['pid'],
              'web': beta.info('web')['pid']}
    response = fleet.post(admin, '/api/actions/restart', {'groups': ['cross']})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body['ok'] is True
    assert {(r['id'], r['status'], r['ok']) for r in body['results']} == {
        ('alpha:pair:one', 'SUCCESS', True), ('alpha:pair:two', 'SUCCESS', True),
        ('alpha:celery:celery', 'SUCCESS', True), ('beta:web:web', 'SUCCESS', True)}
    after = {'one': alpha.info('pair:one'), 'celery': alpha.info('celery'), 'web': beta.info('web')}
    for name, info in after.items():
        assert info['statename'] == 'RUNNING' and info['pid'] != before[name], name
    # The dashboard shows the new pids without waiting for its next poll.
    def shown_pids():
        return {p['id']: p['pid'] for p in fleet.get(admin, '/api/groups/cross')['group']['processes']}
    wait_until(lambda: shown_pids()['alpha:celery:celery'] == after['celery']['pid'], 2, 'the new pid shown')
    # The restarted Celery worker really came back: it said so in its log.
    log = '/api/processes/alpha:celery:celery/tail'
    wait_until(lambda: fleet.get(admin, log)['text'].count('ready.') >= 2, 20, 'the restarted worker ready')


def test_partial_failure_is_reported_per_process(fleet, admin):
    response = fleet.post(admin, '/api/actions/restart', {'groups': ['flaky']})
    body = response.json()
    assert response.status_code == 200 and body['ok'] is False
    results = {r['id']: r for r in body['results']}
    assert set(results) == {'alpha:broken:broken', 'alpha:missing:missing', 'beta:sleeper:sleeper'}
    assert results['beta:sleeper:sleeper']['ok'] and results['beta:sleeper:sleeper']['status'] == 'SUCCESS'
    assert not results['alpha:missing:missing']['ok']
    assert results['alpha:missing:missing']['status'] == 'NO_FILE'  # supervisor's code for "no such command"
    assert not results['alpha:broken:broken']['ok']
    assert results['alpha:broken:broken']['status'] in {'ABNORMAL_TERMINATION', 'SPAWN_ERROR'}


def test_selection_single_process_and_whole_server(fleet, admin, supervisors):
    selection = {'processes': ['alpha:sleeper:sleeper', 'beta:sleeper:sleeper']}
    stopped = fleet.post(admin, '/api/actions/stop', selection).json()
    assert [(r['id'], r['status']) for r in stopped['results']] == [
        ('alpha:sleeper:sleeper', 'SUCCESS'), ('beta:sleeper:sleeper', 'SUCCESS')]
    assert supervisors['alpha'].info('sleeper')['statename'] == 'STOPPED'
    again = fleet.post(admin, '/api/actions/stop', selection).json()
    assert again['ok'] and {r['status'] for r in again['results']} == {'NOT_RUNNING'}
    started = fleet.post(admin, '/api/actions/start', {'processes': ['alpha:sleeper:sleeper']}).json()
    assert started['results'] == [{'id': 'alpha:sleeper:sleeper', 'server': 'alpha', 'status': 'SUCCESS',
                                   'ok': True, 'description': 'OK'}]
    whole = fleet.post(admin, '/api/actions/start', {'servers': ['beta']}).json()
    assert whole['ok'] and {(r['id'], r['status']) for r in whole['results']} == {
        ('beta:sleeper:sleeper', 'SUCCESS'), ('beta:web:web', 'ALREADY_STARTED')}
    assert supervisors['beta'].info('sleeper')['statename'] == 'RUNNING'
    missing = fleet.post(admin, '/api/actions/start', {'processes': ['alpha:nope:nope']}).json()
    assert missing['results'][0]['status'] == 'BAD_NAME' and not missing['ok']
    assert fleet.post(admin, '/api/actions/start', {'groups': ['nope']}).status_code == 404
    assert fleet.post(admin, '/api/actions/start', {}).status_code == 400
    assert fleet.post(admin, '/api/actions/start', {'servers': 'beta'}).status_code == 400


def test_log_tail_follows_with_offsets(fleet, admin):
    path = '/api/processes/alpha:ticker:ticker/tail'
    first = wait_until(lambda: (r := fleet.get(admin, path)) and 'fleet tick' in r['text'] and r, 5, 'ticks')
    last_seen = int(first['text'].strip().splitlines()[-1].split()[-1])

    def more():
        r = fleet.get(admin, path, params={'offset': first['offset']})
        return r if r['text'] else None
    following = wait_until(more, 5, 'new log lines')
    numbers = [int(line.split()[-1]) for line in following['text'].strip().splitlines()]
    assert numbers[0] == last_seen + 1, 'only what was written since the offset'
    assert following['offset'] > first['offset'] and not following['overflow']
    assert fleet.get(admin, path, params={'stream': 'stderr'})['text'] == ''
    assert admin.get(f'{fleet.base}{path}', params={'stream': 'x'}, timeout=5).status_code == 400
    gone = admin.get(f'{fleet.base}/api/processes/alpha:nope/tail', timeout=5)
    assert gone.status_code == 404 and 'BAD_NAME' in gone.json()['error']


def test_log_tail_after_a_rotation_starts_at_the_new_file(fleet, admin, supervisors):
    path = '/api/processes/alpha:ticker:ticker/tail'
    before = wait_until(lambda: (r := fleet.get(admin, path)) and r['offset'] > 300 and r, 30, 'some log')
    # Clearing (admins) makes a new, shorter file, as a rotation does.
    cleared = fleet.post(admin, '/api/processes/alpha:ticker:ticker/clear')
    assert cleared.json() == {'process': 'alpha:ticker:ticker', 'ok': True}
    [entry] = fleet.get(admin, '/api/audit', params={'action': 'clear log', 'limit': 1})['entries']
    assert entry['target'] == 'alpha:ticker:ticker'

    def since_before() -> dict:
        answer = fleet.get(admin, path, params={'offset': before['offset']})
        return answer if answer['text'] else {}
    after = wait_until(since_before, 10, 'lines in the new file')
    first_line = supervisors['alpha'].rpc.readProcessStdoutLog('ticker', 0, 100).splitlines()[0]
    assert after['rotated'] and after['text'].splitlines()[0] == first_line, 'nothing of the new file lost'
    following = fleet.get(admin, path, params={'offset': after['offset']})
    assert not following['rotated']


def test_log_tail_of_a_window_starting_inside_a_character(fleet, admin):
    tail = wait_until(lambda: fleet.get(admin, '/api/processes/alpha:accents:accents/tail'), 10, 'the log')
    text = tail['text'].strip()
    assert len(text) > 30000 and set(text) == {'\u00e9'} and tail['offset'] == 300002


def test_download_a_whole_log_in_chunks(fleet, admin):
    response = admin.get(f'{fleet.base}/api/processes/alpha:accents:accents/log', timeout=10)
    assert response.status_code == 200 and response.headers['X-Fleet-Log-Skipped'] == '0'
    assert 'attachment' in response.headers['Content-Disposition']
    assert response.content.decode() == 'x' + '\u00e9' * 150000 + '\n'
    gone = admin.get(f'{fleet.base}/api/processes/alpha:nope:nope/log', timeout=5)
    assert gone.status_code == 404 and 'BAD_NAME' in gone.json()['error']


def test_supervisords_own_log(fleet, admin):
    text = fleet.get(admin, '/api/servers/alpha/log')['text']
    assert 'supervisord started' in text and 'spawned:' in text
    assert admin.get(f'{fleet.base}/api/servers/nope/log', timeout=5).status_code == 404


def test_signals_reach_the_process_and_are_refused_for_bad_names(fleet, admin):
    log = '/api/processes/alpha:celery:celery/tail'
    celery = ['alpha:celery:celery']
    wait_until(lambda: 'ready.' in fleet.get(admin, log)['text'], 20, 'the worker ready')
    # USR1 makes a Celery worker print every thread's traceback.
    response = fleet.post(admin, '/api/actions/signal', {'processes': celery, 'signal': 'USR1'})
    assert response.status_code == 200, response.text
    assert [(r['id'], r['status'], r['ok']) for r in response.json()['results']] == [
        ('alpha:celery:celery', 'SUCCESS', True)]
    wait_until(lambda: 'MainThread' in fleet.get(admin, log)['text'], 10, 'the traceback dump')
    fatal = fleet.post(admin, '/api/actions/signal', {'processes': ['alpha:broken:broken'], 'signal': 'HUP'})
    assert [(r['status'], r['ok']) for r in fatal.json()['results']] == [('NOT_RUNNING', False)]
    for bad in ({'processes': celery, 'signal': 'KILL'}, {'processes': celery}):
        refused = fleet.post(admin, '/api/actions/signal', bad)
        assert refused.status_code == 400 and 'signal must be one of HUP, USR1, USR2, TERM' in refused.text


def test_the_audit_log_records_who_did_what_to_which_process(fleet, admin):
    fleet.post(admin, '/api/actions/restart', {'processes': ['beta:web:web']})
    entries = fleet.get(admin, '/api/audit', params={'target': 'beta:web', 'limit': 1})['entries']
    assert len(entries) == 1
    entry = entries[0]
    fields = ('user', 'role', 'address', 'action', 'server', 'target', 'status', 'ok')
    assert {k: entry[k] for k in fields} == {
        'user': 'admin', 'role': 'admin', 'address': '127.0.0.1', 'action': 'restart', 'server': 'beta',
        'target': 'beta:web:web', 'status': 'SUCCESS', 'ok': True}
    assert abs(entry['time'] - fleet.get(admin, '/api/servers')['now']) < 10
    signals = fleet.get(admin, '/api/audit', params={'action': 'signal usr1'})['entries']
    assert signals and all(e['action'] == 'signal USR1' for e in signals)
    logins = fleet.get(admin, '/api/audit', params={'action': 'login', 'user': 'admin'})['entries']
    assert logins and logins[0]['ok']
    # Append-only JSON lines, readable by the dashboard's user only.
    path = fleet.dir / 'state' / 'audit.jsonl'
    assert path.stat().st_mode & 0o777 == 0o600
    assert entry in [json.loads(line) for line in path.read_text().splitlines()]
    assert admin.get(f'{fleet.base}/api/audit', params={'limit': 0}, timeout=5).status_code == 400
