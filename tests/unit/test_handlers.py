"""The gateway's handlers in-process (tornado.testing), with a fake producer: what each request
sends, and how each outcome of the producer maps to an answer. The real path, over RabbitMQ,
Redis and workers, is tests/test_gateway.py."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import HTTPResponse
from tornado.testing import AsyncHTTPTestCase

import routing
import tcelery
import web
from gateway import base as gateway_base
from main import app as celery_app
from probe.options import DEFAULT_TIMEOUT
from probe.policy import Policy
from tcelery.workers import LiveWorkers
from tests.bad_requests import BAD_REQUESTS, SSRF_TARGETS, TCP_SSRF_HOSTS

TASK_ID = '6f1c8a8e-3b0e-4d57-9a39-2f0c3e4b5a61'
LOOPBACK_ALLOWED = Policy.from_env('127.0.0.0/8')
STRICT = Policy.from_env('')


class FakeProducer:
    """NonBlockingProducer's public methods: records what is sent, answers ``outcome``.

    ``outcome`` is a TaskResult to return, or an exception to raise.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, list]] = []
        self.headers: list[dict | None] = []  # each task's extra message headers
        self.outcome: tcelery.TaskResult | Exception = tcelery.TaskResult(TASK_ID, 'SUCCESS', None)
        self.health_answer = {'broker': True, 'result_backend': True}
        self.closed = False
        self.forgotten: list[str] = []
        self.queues: list[str | None] = []  # each task's queue= (None: its routed one)
        self.by_queue: dict[str, tcelery.TaskResult | Exception] = {}  # outcomes by queue=, else outcome
        self.revoked: list[str] = []
        self.app = celery_app

    def _answer(self, queue: str | None = None) -> tcelery.TaskResult:
        outcome = self.by_queue.get(queue, self.outcome) if queue else self.outcome
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def send(self, task: str, args: list | tuple = (), kwargs: dict | None = None,
                   task_id: str | None = None, headers: dict | None = None, queue: str | None = None) -> str:
        self.sent.append((task, list(args)))
        self.headers.append(headers)
        self.queues.append(queue)
        if isinstance(self.outcome, (tcelery.BrokerUnavailable, tcelery.Overloaded)):
            raise self.outcome
        return TASK_ID

    async def apply_async(self, task: str, args: list | tuple = (), kwargs: dict | None = None,
                          timeout: float = 10.0, headers: dict | None = None,
                          queue: str | None = None) -> tcelery.TaskResult:
        self.sent.append((task, list(args)))
        self.headers.append(headers)
        self.queues.append(queue)
        return self._answer(queue)

    async def result(self, task_id: str) -> tcelery.TaskResult:
        return self._answer()

    def forget(self, task_id: str) -> None:
        self.forgotten.append(task_id)

    async def revoke(self, task_id: str) -> None:
        self.revoked.append(task_id)

    async def health(self) -> dict[str, bool]:
        return dict(self.health_answer)

    async def close(self) -> None:
        self.closed = True


class GatewayCase(AsyncHTTPTestCase):
    policy = LOOPBACK_ALLOWED

    settings = web.Settings(wait=0.5)

    def get_app(self) -> Any:
        self.producer = FakeProducer()
        self.workers = LiveWorkers(celery_app)  # not started: tests give it the workers' events
        return web.make_app(self.settings, self.producer, self.policy,  # type: ignore[arg-type]
                            self.workers)

    def call(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> tuple[int, dict]:
        url = f'{path}?{urlencode(params)}' if params else path
        response: HTTPResponse = self.fetch(url, headers=headers, raise_error=False)
        assert response.headers['Content-Type'].startswith('application/json')
        assert b'Traceback' not in response.body
        return response.code, json.loads(response.body)




class TestBadInput(GatewayCase):
    def test_bad_input_is_a_json_4xx_and_sends_nothing(self) -> None:
        for path, params, status, message in BAD_REQUESTS:
            with self.subTest(path=path, params=params):
                code, body = self.call(path, **params)
                assert (code, message in body['error']) == (status, True), body
        assert self.producer.sent == []

    def test_wrong_method_is_a_json_405(self) -> None:
        response = self.fetch('/add', method='POST', body='', raise_error=False)
        assert (response.code, json.loads(response.body)) == (405, {'error': 'Method Not Allowed'})

    def test_oversized_uri_is_a_json_414(self) -> None:
        code, body = self.call('/add', x=1, pad='a' * (gateway_base.MAX_URI + 1))
        assert code == 414 and 'longer than' in body['error']

    def test_oversized_headers_are_a_json_431(self) -> None:
        code, body = self.call('/add', headers={'X-Pad': 'a' * (gateway_base.MAX_HEADERS + 1)})
        assert code == 431 and 'headers larger than' in body['error']
        assert self.producer.sent == []


class TestTargetPolicy(GatewayCase):
    policy = STRICT

    def test_ssrf_targets_are_refused_before_sending(self) -> None:
        for name, url in SSRF_TARGETS.items():
            with self.subTest(name):
                code, body = self.call('/check', url=url)
                assert code in (400, 403) and body['error']
        assert self.producer.sent == []

    def test_tcp_ssrf_targets_are_a_403(self) -> None:
        for host in TCP_SSRF_HOSTS:
            code, body = self.call('/check', host=host, port=22)
            assert code == 403 and 'target refused' in body['error'], host
        assert self.producer.sent == []

    def test_a_public_address_is_sent(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', {'ok': True})
        assert self.call('/check', url='http://8.8.8.8/')[0] == 200


class TestWhatIsSent(GatewayCase):
    def test_add_round_trip_and_missing_arguments_are_zero(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        assert self.call('/add', x=1, y=2) == (200, {'results': 3})
        self.call('/add')
        assert self.producer.sent == [(routing.ADD, [1, 2]), (routing.ADD, [0, 0])]

    def test_each_kind_of_check_is_its_own_task(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', {'ok': True})
        assert self.call('/check', url='http://127.0.0.1:9/', follow_redirects=1, timeout=2) == \
            (200, {'task_id': TASK_ID, 'ok': True})
        self.call('/check', host='127.0.0.1', port=9)
        code, body = self.call('/check', url='http://127.0.0.1:9/', ignore_result=1)
        assert (code, body) == (202, {'task_id': TASK_ID, 'status': 'SENT'})
        assert self.producer.sent == [
            (routing.HTTP_CHECK, ['http://127.0.0.1:9/', True, 2.0]),
            (routing.TCP_CHECK, ['127.0.0.1', 9, DEFAULT_TIMEOUT]),
            (routing.HTTP_CHECK_NO_RESULT, ['http://127.0.0.1:9/', False, DEFAULT_TIMEOUT]),
        ]


class TestOutcomes(GatewayCase):
    """Each producer outcome and the answer it becomes."""

    def test_no_result_in_time_is_a_202_with_its_location(self) -> None:
        for outcome in (tcelery.ResultTimeout(TASK_ID, 0.5),
                        tcelery.ResultBackendUnavailable('redis is away', TASK_ID)):
            self.producer.outcome = outcome
            response = self.fetch('/add?x=1', raise_error=False)
            assert response.code == 202, outcome
            assert response.headers['Location'] == f'/result/{TASK_ID}'
            assert json.loads(response.body) == {'task_id': TASK_ID, 'status': 'PENDING',
                                                 'location': f'/result/{TASK_ID}'}

    def test_broker_unavailable_is_a_503(self) -> None:
        self.producer.outcome = tcelery.BrokerUnavailable('no confirm')
        for params in ({'x': 1}, {'url': 'http://127.0.0.1:9/', 'ignore_result': 1}):
            code, body = self.call('/check' if 'url' in params else '/add', **params)
            assert (code, body) == (503, {'error': gateway_base.UNAVAILABLE})

    def test_a_failed_task_is_a_502(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'FAILURE', {'exc_type': 'ValueError'})
        code, body = self.call('/add', x=1)
        assert code == 502 and body['error'] == 'task failure' and body['task_id'] == TASK_ID

    def test_result_polling(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        body = {'task_id': TASK_ID, 'status': 'SUCCESS', 'result': 3}
        assert self.call(f'/result/{TASK_ID}') == (200, body)
        self.producer.outcome = tcelery.ResultBackendUnavailable('redis is away')
        code, body = self.call(f'/result/{TASK_ID}')
        assert code == 503 and 'result store is unavailable' in body['error']

    def test_a_delivered_result_is_forgotten_a_pending_one_kept(self) -> None:
        """Results answered with 200 or 502, or read from /result, are deleted; a 202's stays."""
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        assert self.call('/add', x=1)[0] == 200
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'FAILURE', {'exc_type': 'ValueError'})
        assert self.call('/add', x=1)[0] == 502
        assert self.producer.forgotten == [TASK_ID, TASK_ID]
        self.producer.outcome = tcelery.ResultTimeout(TASK_ID, 0.5)
        assert self.call('/add', x=1)[0] == 202
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'PENDING', None)
        assert self.call(f'/result/{TASK_ID}')[1]['status'] == 'PENDING'
        assert self.producer.forgotten == [TASK_ID, TASK_ID]
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        assert self.call(f'/result/{TASK_ID}')[1]['status'] == 'SUCCESS'
        assert self.producer.forgotten == [TASK_ID] * 3

    def test_an_expired_task_says_expired(self) -> None:
        expired = {'exc_type': 'TaskRevokedError', 'exc_message': ['expired'],
                   'exc_module': 'celery.exceptions'}
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'REVOKED', expired)
        assert self.call(f'/result/{TASK_ID}') == (200, {'task_id': TASK_ID, 'status': 'EXPIRED',
                                                         'result': expired})
        code, body = self.call('/add', x=1)
        assert code == 502 and body['error'] == 'task expired'
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'REVOKED', dict(expired, exc_message=['revoked']))
        assert self.call(f'/result/{TASK_ID}')[1]['status'] == 'REVOKED'

    def test_overloaded_is_a_503_with_retry_after(self) -> None:
        self.producer.outcome = tcelery.Overloaded('route_check', 900, 30.0, 7)
        for params in ({'x': 1}, {'url': 'http://127.0.0.1:9/', 'ignore_result': 1}):
            response = self.fetch(f"/{'check' if 'url' in params else 'add'}?{urlencode(params)}",
                                  raise_error=False)
            body = json.loads(response.body)
            assert (response.code, response.headers['Retry-After']) == (503, '7')
            assert (body['reason'], body['queue'], body['retry_after']) == ('overloaded', 'route_check', 7)
            assert body['error'].startswith('busy, not accepted: route_check holds 900 waiting tasks')

    def test_healthz_is_a_503_when_anything_is_down(self) -> None:
        assert self.call('/healthz') == (200, {'broker': True, 'result_backend': True})
        self.producer.health_answer = {'broker': False, 'result_backend': True}
        assert self.call('/healthz') == (503, {'broker': False, 'result_backend': True})
