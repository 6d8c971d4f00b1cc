"""Following one request from the gateway to the worker: its X-Request-ID is in the answer, the
gateway's log, the task's headers, the worker's log line and Flower's task detail."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import requests

from testbed.process import Proc, wait_for
from tests.processes import start_web
from tests.supervised import System


def logs(system: System, pattern: str) -> str:
    return ''.join(path.read_text(errors='replace') for path in (system.home / 'var/log').glob(pattern))


def test_a_request_is_followed_to_the_worker_and_flower(system: System) -> None:
    request_id = f'trace-{uuid.uuid4().hex[:12]}'
    port = system.web.rsplit(':', 1)[1]
    response = requests.get(f'{system.web}/check', params={'host': '127.0.0.1', 'port': port},
                            headers={'X-Request-ID': request_id}, timeout=15)
    assert response.status_code == 200 and response.headers['X-Request-ID'] == request_id
    task_id = response.json()['task_id']
    wait_for(lambda: f'[{task_id}] request_id={request_id}' in logs(system, 'worker-check.log'), 20, 0.2,
             "the worker's log line naming the request")
    auth = ('admin', system.secrets['FLOWER_PASSWORD'])
    info = wait_for(lambda: (i := requests.get(f'{system.flower}/api/task/info/{task_id}', auth=auth,
                                               timeout=10).json()).get('request_id')
                    and i['state'] == 'SUCCESS' and i, 20, 0.3,
                    "Flower's task detail naming the request")
    assert info['request_id'] == request_id
    page = requests.get(f'{system.flower}/task/{task_id}', auth=auth, timeout=10).text  # the task's page
    assert request_id in page


def test_a_refusal_is_logged_once_with_its_reason_and_without_credentials(system: System) -> None:
    request_id = f'refused-{uuid.uuid4().hex[:12]}'
    response = requests.get(f'{system.web}/check', params={'url': 'http://user:hunter2@8.8.8.8/'},
                            headers={'X-Request-ID': request_id}, timeout=15)
    assert response.status_code == 400 and response.headers['X-Request-ID'] == request_id
    lines = wait_for(lambda: [line for line in logs(system, 'web-*.log').splitlines() if request_id in line],
                     10, 0.2, 'the refusal in the gateway log')
    assert len(lines) == 1 and ' INFO ' in lines[0] and 'must not carry credentials' in lines[0]
    assert 'hunter2' not in logs(system, 'web-*.log')


def test_json_access_log(env: dict[str, str], log_dir: Path, workers: dict[str, Proc]) -> None:
    proc, url = start_web(dict(env, LOG_FORMAT='json', WEB_ACCESS_LOG='1'), log_dir, name='web-json')
    try:
        response = requests.get(f'{url}/check', params={'host': '127.0.0.1', 'port': url.rsplit(':', 1)[1]},
                                headers={'X-Request-ID': 'json-1'}, timeout=15)
        task_id = response.json()['task_id']

        def line() -> dict | None:
            for text in proc.log().splitlines():
                if text.startswith('{') and (record := json.loads(text)).get('request_id') == 'json-1':
                    return record
            return None
        record = wait_for(line, 10, 0.1, 'the JSON access line')
    finally:
        proc.stop()
    assert record == {**record, 'endpoint': '/check', 'status': 200, 'task_id': task_id, 'method': 'GET',
                      'levelname': 'INFO', 'name': 'web.access'}
    assert record['latency_ms'] > 0
    assert all(text.startswith('{') for text in proc.log().splitlines() if text.strip())
