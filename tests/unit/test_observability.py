"""Metrics, request ids and the access log, in-process with the fake producer of test_handlers;
and prometheus_client's multiprocess mode summing two real processes. Prometheus scraping the
supervised system is tests/test_prometheus.py."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import routing
import tcelery
import web
from gateway import access_log
from gateway import base as gateway_base
from main import app as celery_app
from tcelery.workers import LiveWorkers
from testbed.process import ROOT
from tests.unit.test_handlers import TASK_ID, FakeProducer, GatewayCase


def requests_counted(endpoint: str, status: int) -> float:
    labels = {'endpoint': endpoint, 'method': 'GET', 'status': str(status)}
    return REGISTRY.get_sample_value('route_check_http_requests_total', labels) or 0.0


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class TestMetrics(GatewayCase):
    def test_requests_are_counted_by_endpoint_and_status(self) -> None:
        before = {key: requests_counted(*key) for key in (('/add', 200), ('/add', 400), ('unmatched', 404))}
        latency = counter('route_check_http_request_duration_seconds_count', endpoint='/add')
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        for _ in range(3):
            self.call('/add', x=1, y=2)
        self.call('/add', x='a')
        self.call('/nowhere')
        after = {key: requests_counted(*key) for key in before}
        assert {key: after[key] - before[key] for key in before} == \
            {('/add', 200): 3, ('/add', 400): 1, ('unmatched', 404): 1}
        assert counter('route_check_http_request_duration_seconds_count', endpoint='/add') == latency + 4

    def test_a_made_up_method_is_counted_as_other(self) -> None:
        """Whatever method names clients send, the metric's label takes a bounded set of values."""
        before = counter('route_check_http_requests_total', endpoint='/add', method='other', status='405')
        response = self.fetch('/add', method='FROB', allow_nonstandard_methods=True, raise_error=False)
        assert response.code == 405 and response.headers['Allow'] == 'GET'
        assert counter('route_check_http_requests_total', endpoint='/add', method='other', status='405') == \
            before + 1

    def test_503_and_202_are_counted(self) -> None:
        unavailable = counter('route_check_broker_unavailable_total')
        timeouts = counter('route_check_result_wait_accepted_total', reason='timeout')
        self.producer.outcome = tcelery.BrokerUnavailable('no confirm')
        assert self.call('/add', x=1)[0] == 503
        self.producer.outcome = tcelery.ResultTimeout(TASK_ID, 0.5)
        assert self.call('/add', x=1)[0] == 202
        assert counter('route_check_broker_unavailable_total') == unavailable + 1
        assert counter('route_check_result_wait_accepted_total', reason='timeout') == timeouts + 1

    def test_metrics_endpoint_serves_the_text_format(self) -> None:
        self.call('/healthz')
        response = self.fetch('/metrics')
        assert response.code == 200 and response.headers['Content-Type'].startswith('text/plain')
        families = {f.name for f in text_string_to_metric_families(response.body.decode())}
        assert {'route_check_http_requests', 'route_check_http_requests_in_flight'} <= families
        assert 'X-Request-ID' in response.headers

    def test_in_flight_is_back_to_zero(self) -> None:
        self.call('/healthz')
        assert counter('route_check_http_requests_in_flight') == 0

    def test_the_openapi_document_is_served(self) -> None:
        code, body = self.call('/openapi.json')
        assert code == 200 and body['openapi'].startswith('3.1') and '/check' in body['paths']


class TestRequestId(GatewayCase):
    def test_a_well_formed_id_is_kept_and_carried_into_the_task(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        response = self.fetch('/add?x=1', headers={'X-Request-ID': 'client-42.a:b'})
        assert response.headers['X-Request-ID'] == 'client-42.a:b'
        self.fetch('/check?url=http://127.0.0.1:9/&ignore_result=1', headers={'X-Request-ID': 'fire-1'})
        assert self.producer.headers == [{'request_id': 'client-42.a:b'}, {'request_id': 'fire-1'}]

    def test_a_malformed_or_missing_id_is_replaced(self) -> None:
        ids = set()
        for given in ('has space', 'a' * 129, 'é', None):
            response = self.fetch('/healthz', headers={'X-Request-ID': given} if given else {})
            ids.add(response.headers['X-Request-ID'])
        assert len(ids) == 4 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)

    def test_every_answer_carries_it(self) -> None:
        self.producer.outcome = tcelery.BrokerUnavailable('no confirm')
        for path, kwargs in [('/add?x=a', {}), ('/nowhere', {}), ('/add?x=1', {}),
                             ('/add', {'method': 'POST', 'body': ''}),
                             (f'/add?pad={"a" * gateway_base.MAX_URI}', {})]:
            response = self.fetch(path, headers={'X-Request-ID': 'r1'}, raise_error=False, **kwargs)
            assert response.code >= 400 and response.headers['X-Request-ID'] == 'r1', path


class TestAccessLog(GatewayCase):
    def test_a_refusal_is_logged_once_at_info_with_its_reason_and_without_the_query(self) -> None:
        with self.assertLogs('web.access', logging.DEBUG) as logs:
            self.fetch('/check?url=http://user:secret@8.8.8.8/', headers={'X-Request-ID': 'r2'})
        [record] = logs.records
        assert record.levelno == logging.INFO and record.status == 400
        assert record.reason == 'url must not carry credentials' and record.request_id == 'r2'
        assert 'secret' not in record.getMessage() and record.path == '/check'

    def test_a_503_is_a_warning_with_its_cause(self) -> None:
        self.producer.outcome = tcelery.BrokerUnavailable('no confirm in 5 s')
        with self.assertLogs('web.access', logging.DEBUG) as logs:
            self.fetch('/add?x=1')
        [record] = logs.records
        assert record.levelno == logging.WARNING and 'no confirm in 5 s' in record.reason

    def test_successes_are_not_logged_by_default(self) -> None:
        with self.assertNoLogs('web.access', logging.DEBUG):
            self.fetch('/healthz')


class TestAccessLogOn(GatewayCase):
    def get_app(self):
        self.producer = FakeProducer()
        self.workers = LiveWorkers(celery_app)
        return web.make_app(web.Settings(wait=0.5, access_log=True), self.producer, self.policy, self.workers)

    def test_with_web_access_log_each_answer_is_a_line_with_its_task_id(self) -> None:
        self.producer.outcome = tcelery.TaskResult(TASK_ID, 'SUCCESS', 3)
        with self.assertLogs('web.access', logging.DEBUG) as logs:
            self.fetch('/add?x=1', headers={'X-Request-ID': 'r3'})
        [record] = logs.records
        fields = (record.endpoint, record.status, record.task_id, record.request_id)
        assert fields == ('/add', 200, TASK_ID, 'r3')
        assert record.latency_ms >= 0


def test_json_log_lines_carry_the_access_fields(capsys: pytest.CaptureFixture) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        access_log.configure('json')
        logging.getLogger('web.access').info('GET /add', extra={'request_id': 'r4', 'status': 200,
                                                                'task_id': TASK_ID, 'latency_ms': 1.5})
    finally:
        root.handlers[:], root.level = saved
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line == {**line, 'request_id': 'r4', 'status': 200, 'task_id': TASK_ID, 'levelname': 'INFO',
                    'message': 'GET /add', 'name': 'web.access'}


COUNT_IN_A_PROCESS = """
from gateway import metrics as gateway_metrics
for _ in range({n}):
    gateway_metrics.observe_request('/add', 'GET', 200, 0.01)
gateway_metrics.IN_FLIGHT.inc()
"""


def test_multiprocess_mode_sums_the_processes(tmp_path: Path) -> None:
    """Two processes count in PROMETHEUS_MULTIPROC_DIR; a third one's exposition adds them up."""
    env = {'PROMETHEUS_MULTIPROC_DIR': str(tmp_path), 'PATH': '/usr/bin:/bin'}
    for n in (3, 4):
        subprocess.run([sys.executable, '-c', COUNT_IN_A_PROCESS.format(n=n)], cwd=ROOT, env=env, check=True)
    exposition = subprocess.run(
        [sys.executable, '-c', 'from gateway import metrics; print(metrics.exposition()[0].decode())'],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(exposition) for s in family.samples}
    labels = (('endpoint', '/add'), ('method', 'GET'), ('status', '200'))
    assert samples[('route_check_http_requests_total', labels)] == 7
    assert samples[('route_check_http_request_duration_seconds_count', (('endpoint', '/add'),))] == 7
    # The two processes are gone: a live gauge counts only live processes.
    assert samples[('route_check_http_requests_in_flight', ())] == 0


def test_tasks_are_named_in_publish_metrics() -> None:
    from gateway.metrics import MetricsObserver

    before = counter('route_check_task_publishes_total', task=routing.ADD, outcome='confirmed')
    MetricsObserver().published(routing.ADD, 0.004, True)
    MetricsObserver().published(routing.ADD, 5.0, False)
    assert counter('route_check_task_publishes_total', task=routing.ADD, outcome='confirmed') == before + 1
    assert counter('route_check_task_publishes_total', task=routing.ADD, outcome='failed') >= 1
