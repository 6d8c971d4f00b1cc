"""tornado-celery's API in-process, the fake producer recording what is sent: off by default, a
bearer token, arguments bound to the task's signature, a check task's target vetted, the answer
shapes. The real path (workers, a revoked task skipped) is tests/test_task_api.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

import routing
import tcelery
import web
from gateway import task_api
from main import app as celery_app
from tests.unit.test_handlers import TASK_ID, GatewayCase

TOKEN = 'a-test-token-of-32-characters-xx'
celery_app.loader.import_default_modules()  # the tasks, as web.py's run() loads them
AUTH = {'Authorization': f'Bearer {TOKEN}'}


class TaskApiCase(GatewayCase):
    settings = web.Settings(wait=0.5, task_api_tasks=(routing.ADD, routing.HTTP_CHECK),
                            task_api_token=TOKEN)

    def call_api(self, method: str, path: str, body: Any = None,
                 headers: dict | None = None) -> tuple[int, Any]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        if method == 'POST' and data is None:
            data = b''
        response = self.fetch(path, method=method, body=data, headers=AUTH if headers is None else headers,
                              raise_error=False, allow_nonstandard_methods=True)
        assert b'Traceback' not in response.body
        return response.code, json.loads(response.body)


class TestOff(GatewayCase):
    def test_every_path_is_a_404_without_task_api_tasks(self) -> None:
        for path in ('/', f'/apply-async/{routing.ADD}/', f'/tasks/result/{TASK_ID}/'):
            assert self.fetch(path, headers=AUTH, raise_error=False).code == 404, path


class TestCalls(TaskApiCase):
    def test_apply_async_sends_and_answers_the_task_id(self) -> None:
        code, body = self.call_api('POST', f'/apply-async/{routing.ADD}/', {'args': [1, 2]})
        assert (code, body) == (200, {'task-id': TASK_ID, 'state': 'PENDING'})
        assert self.producer.sent == [(routing.ADD, [1, 2])]

    def test_apply_answers_the_result(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        body_sent = {'kwargs': {'x': 1, 'y': 2}, 'timeout': 2}
        code, body = self.call_api('POST', f'/apply/{routing.ADD}/', body_sent)
        assert (code, body) == (200, {'task-id': TASK_ID, 'state': 'SUCCESS', 'result': 3})
        assert self.producer.forgotten == [TASK_ID]

    def test_apply_past_its_timeout_revokes(self) -> None:
        self.producer.outcome = tcelery.ResultTimeout(TASK_ID, 1)
        code, body = self.call_api('POST', f'/apply/{routing.ADD}/', {'args': [1, 2], 'timeout': 1})
        assert (code, body) == (200, {'task-id': TASK_ID, 'state': 'REVOKED'})
        assert self.producer.revoked == [TASK_ID]

    def test_result_revoke_and_the_task_list(self) -> None:
        failed = {'exc_type': 'ValueError'}
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'FAILURE', failed, 'File "add_task.py", line 9')
        code, body = self.call_api('GET', f'/tasks/result/{TASK_ID}/')
        assert (code, body['state'], body['traceback']) == (200, 'FAILURE', 'File "add_task.py", line 9')
        assert self.call_api('DELETE', f'/tasks/revoke/{TASK_ID}/') == (200, {'task-id': TASK_ID})
        assert self.call_api('GET', '/') == (200, {'tasks': [routing.ADD, routing.HTTP_CHECK]})


class TestRefusals(TaskApiCase):
    @pytest.fixture(autouse=True)
    def _nothing_sent(self):
        yield
        assert self.producer.sent == [] and self.producer.revoked == []

    def test_bad_calls_are_clear_4xx(self) -> None:
        add = f'/apply-async/{routing.ADD}/'
        for path, body, headers, status, message in (
                (add, {'args': [1, 2]}, {}, 401, 'Bearer'),
                (add, {'args': [1, 2]}, {'Authorization': 'Bearer wrong'}, 401, 'Bearer'),
                (f'/apply-async/{routing.TCP_CHECK}/', {'args': ['8.8.8.8', 53]}, None, 404, 'unknown task'),
                (add, {'args': [1]}, None, 400, "missing a required argument: 'y'"),
                (add, {'args': [1, 2, 3]}, None, 400, 'too many positional arguments'),
                (add, {'kwargs': {'x': 1, 'y': 2, 'z': 1}}, None, 400, "unexpected keyword argument 'z'"),
                (add, {'args': [1, 2], 'countdown': 5}, None, 400, "unknown field 'countdown'"),
                (add, b'not json', None, 400, 'must be JSON'),
                (add, {'args': {}}, None, 400, 'args must be a list'),
                (f'/apply/{routing.ADD}/', {'args': [1, 2], 'timeout': 0}, None, 400, 'timeout must be'),
                (f'/apply-async/{routing.HTTP_CHECK}/', {'args': ['http://169.254.169.254/']}, None, 403,
                 'target refused'),
                (f'/apply-async/{routing.HTTP_CHECK}/', {'args': ['ftp://example.com/']}, None, 400,
                 'bad target')):
            with self.subTest(path=path, body=body):
                code, answer = self.call_api('POST', path, body, headers)
                assert (code, message in answer['error']) == (status, True), answer


def test_a_served_task_needs_a_token_and_must_exist() -> None:
    with pytest.raises(ValueError, match='TASK_API_TOKEN'):
        task_api.check_settings(web.Settings(task_api_tasks=(routing.ADD,)), celery_app)
    with pytest.raises(ValueError, match='do not exist: nope'):
        task_api.check_settings(web.Settings(task_api_tasks=('nope',), task_api_token=TOKEN), celery_app)


class TestCancel(GatewayCase):
    def test_delete_result_revokes_a_task_not_run_yet(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'PENDING', None)
        response = self.fetch(f'/result/{TASK_ID}', method='DELETE', raise_error=False)
        assert (response.code, json.loads(response.body)) == (200, {'task_id': TASK_ID, 'status': 'REVOKED'})
        assert self.producer.revoked == [TASK_ID]

    def test_a_task_already_done_is_a_409(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        response = self.fetch(f'/result/{TASK_ID}', method='DELETE', raise_error=False)
        assert response.code == 409 and 'already SUCCESS' in json.loads(response.body)['error']
        assert self.producer.revoked == []
