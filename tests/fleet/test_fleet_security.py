"""Review findings (issue 26), each reproduced against a real dashboard: a login cannot bloat the
audit log, bodies are bounded, and the event stream serves API tokens."""

from __future__ import annotations

import requests

from fleet import audit
from fleet.config import MAX_NAME
from tests.fleet.servers import ADMIN_TOKEN


def login(fleet, username: str) -> requests.Response:
    http = requests.Session()
    http.get(f'{fleet.base}/login', timeout=5)
    return http.post(f'{fleet.base}/login', data={'username': username, 'password': 'wrong',
                                                  '_xsrf': http.cookies['_xsrf']}, timeout=30)


def test_a_long_user_name_tried_at_login_is_logged_short_once(fleet):
    log = fleet.dir / 'state' / audit.FILE
    before = log.stat().st_size
    assert login(fleet, 'u' * 60_000).status_code == 401
    assert log.stat().st_size - before < 1024  # was 120 KB: the name twice
    found = fleet.get(fleet.session(), '/api/audit', params={'action': 'login', 'status': 'WRONG'})
    entry = found['entries'][0]
    assert entry['user'] == 'u' * MAX_NAME and entry['target'] == ''


def test_a_body_over_1_mib_is_refused_unread(fleet):
    log = fleet.dir / 'state' / audit.FILE
    before = log.stat().st_size
    try:
        answer = requests.post(f'{fleet.base}/login', data={'username': 'u' * (2 << 20)}, timeout=30)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        pass  # closed without an answer: Tornado's refusal of a Content-Length over the limit
    else:
        assert answer.status_code in (400, 413), answer.status_code
    assert log.stat().st_size == before


def test_the_event_stream_serves_an_api_token(fleet):
    with requests.get(f'{fleet.base}/api/events', headers={'Authorization': f'Bearer {ADMIN_TOKEN}'},
                      stream=True, timeout=10) as answer:
        assert answer.status_code == 200  # was a 500 (KeyError: None), leaking a subscriber
        assert next(answer.iter_lines()) == b'event: snapshot'
