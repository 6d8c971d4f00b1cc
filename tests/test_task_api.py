"""tornado-celery's API against a real gateway and workers: a task called over HTTP, its result
read back, a check's target vetted, and a revoked task skipped by the worker that holds it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import routing
from testbed.process import Proc, wait_for
from testbed.vhosts import Vhost
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream

TOKEN = uuid.uuid4().hex
AUTH = {'Authorization': f'Bearer {TOKEN}'}
SERVED = f'{routing.ADD},{routing.HTTP_CHECK}'


@pytest.fixture(scope='module')
def api(env: dict[str, str], log_dir: Path, workers: dict[str, Proc]) -> Iterator[str]:
    served = dict(env, TASK_API_TASKS=SERVED, TASK_API_TOKEN=TOKEN)
    proc, url = start_web(served, log_dir, name='web-task-api')
    yield url
    proc.stop()


def post(api: str, path: str, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(f'{api}{path}', json=body, headers=AUTH if headers is None else headers, timeout=30)


def test_a_task_over_http_as_tornado_celery_called_it(api: str, upstream: Upstream) -> None:
    sent = post(api, f'/apply-async/{routing.ADD}/', {'args': [1, 2]}).json()
    assert sent['state'] == 'PENDING'
    wait_for(lambda: requests.get(f'{api}/tasks/result/{sent["task-id"]}/', headers=AUTH, timeout=5).json()
             .get('result') == 3, 15, 0.1, 'the result of apply-async')
    applied = post(api, f'/apply/{routing.ADD}/', {'kwargs': {'x': 20, 'y': 22}, 'timeout': 10}).json()
    assert (applied['state'], applied['result']) == ('SUCCESS', 42)
    checked = post(api, f'/apply/{routing.HTTP_CHECK}/', {'args': [f'{upstream.url}/ok'], 'timeout': 10})
    checked = checked.json()
    assert checked['state'] == 'SUCCESS' and checked['result']['ok'] is True
    assert requests.get(f'{api}/', headers=AUTH, timeout=5).json() == {'tasks': SERVED.split(',')}


def test_refusals_send_nothing(api: str) -> None:
    assert post(api, f'/apply-async/{routing.ADD}/', {'args': [1, 2]}, headers={}).status_code == 401
    assert post(api, f'/apply-async/{routing.TCP_CHECK}/', {'args': ['8.8.8.8', 53]}).status_code == 404
    missing = post(api, f'/apply-async/{routing.ADD}/', {'args': [1]})
    assert missing.status_code == 400 and "missing a required argument: 'y'" in missing.json()['error']
    metadata = post(api, f'/apply-async/{routing.HTTP_CHECK}/', {'args': ['http://169.254.169.254/']})
    assert metadata.status_code == 403 and 'target refused' in metadata.json()['error']


def test_a_revoked_task_is_skipped_by_the_worker_holding_it(log_dir: Path, upstream: Upstream) -> None:
    """One check worker thread busy with a slow check; the next check waits, is revoked (DELETE
    /result), and the worker discards it: the upstream never sees it, its result says REVOKED."""
    with Vhost('route_check_revoke') as vhost:
        env = base_env(BROKER_URL=vhost.url, TASK_API_TASKS=routing.HTTP_CHECK, TASK_API_TOKEN=TOKEN)
        worker = start_worker('check', env, log_dir, 1, name='worker-revoke',
                              queues=(routing.QUEUE_OF[routing.HTTP_CHECK],))
        web, url = start_web(env, log_dir, name='web-revoke')
        try:
            slow = post(url, f'/apply-async/{routing.HTTP_CHECK}/',
                        {'args': [f'{upstream.url}/slow?ms=1500']})
            wait_for(lambda: upstream.busy() >= 1, 10, 0.02, 'the slow check running')
            token = uuid.uuid4().hex
            waiting = post(url, f'/apply-async/{routing.HTTP_CHECK}/',
                           {'args': [f'{upstream.url}/ok?t={token}']}).json()['task-id']
            cancelled = requests.delete(f'{url}/result/{waiting}', timeout=10)
            assert cancelled.json() == {'task_id': waiting, 'status': 'REVOKED'}, cancelled.text
            discarded = f'Discarding revoked task: {routing.HTTP_CHECK}[{waiting}]'
            wait_for(lambda: discarded in worker.log(), 15, 0.1, 'the worker discarding it')
            assert requests.get(f'{url}/result/{waiting}', timeout=5).json()['status'] == 'REVOKED'
            assert upstream.token_count(token) == 0
            assert slow.json()['state'] == 'PENDING'
        finally:
            web.stop()
            worker.stop()
