"""Checks from chosen locations, in-process: Celery's own worker state fed the events workers send,
the fake producer answering per queue. The real path (workers at two places, one that cannot
reach the target) is tests/test_locations.py and tests/hosts/."""

from __future__ import annotations

import time

import pytest

import routing
import tcelery
from gateway.locations import verdict
from tests.unit.test_handlers import GatewayCase

EAST, WEST = 'route_check.east', 'route_check.west'
URL = 'http://127.0.0.1:9/'


def result(location: str, ok: bool, task_id: str) -> tcelery.TaskResult:
    answer = {'ok': ok, 'status': 200 if ok else None, 'location': location,
              'error': None if ok else 'timed out'}
    return tcelery.TaskResult(task_id, 'SUCCESS', answer)


class LocatedCase(GatewayCase):
    def setUp(self) -> None:
        super().setUp()
        self.event('worker-online', 'check.east@h1')
        self.event('worker-online', 'check.west@h2')
        self.event('worker-online', 'add@h1')  # no check worker: no location

    def event(self, kind: str, node: str) -> None:
        self.workers.observe({'type': kind, 'hostname': node, 'timestamp': time.time(), 'freq': 2.0})


class TestFromOneLocation(LocatedCase):
    def test_a_check_from_one_location_goes_to_its_queue_and_says_where_it_ran(self) -> None:
        self.producer.by_queue[EAST] = result('east', True, 'e1')
        code, body = self.call('/check', url=URL, **{'from': 'east'})
        assert (code, body['location'], body['task_id']) == (200, 'east', 'e1')
        assert self.producer.queues == [EAST]

    def test_a_tcp_check_goes_to_its_own_located_queue(self) -> None:
        self.producer.by_queue['common_check.west'] = result('west', True, 'w1')
        code, body = self.call('/check', host='127.0.0.1', port='9', **{'from': 'west'})
        assert (code, body['location']) == (200, 'west')
        assert self.producer.sent[0][0] == routing.TCP_CHECK

    def test_without_from_any_worker_runs_it(self) -> None:
        self.call('/check', url=URL)
        assert self.producer.queues == [None]

    def test_a_location_whose_workers_are_gone_is_a_503_at_once(self) -> None:
        self.event('worker-offline', 'check.west@h2')
        code, body = self.call('/check', url=URL, **{'from': 'west'})
        assert code == 503 and 'nothing is live at west' in body['error'] and body['locations'] == ['east']
        assert self.producer.sent == []


class TestFromSeveral(LocatedCase):
    def test_one_failing_of_two_is_partial(self) -> None:
        self.producer.by_queue.update({EAST: result('east', True, 'e1'), WEST: result('west', False, 'w1')})
        code, body = self.call('/check', url=URL, **{'from': 'all'})
        assert code == 200
        assert (body['verdict'], body['up'], body['down']) == ('partial', ['east'], ['west'])
        assert body['quorum'] == 2
        assert body['locations']['west'] == {'task_id': 'w1', 'ok': False, 'status': None, 'location': 'west',
                                             'error': 'timed out'}
        assert sorted(self.producer.queues) == [EAST, WEST]
        assert sorted(self.producer.forgotten) == ['e1', 'w1']

    def test_a_quorum_of_one_makes_one_failure_down(self) -> None:
        self.producer.by_queue.update({EAST: result('east', True, 'e1'), WEST: result('west', False, 'w1')})
        _, body = self.call('/check', url=URL, quorum='1', **{'from': 'east,west'})
        assert body['verdict'] == 'down'

    def test_a_location_that_does_not_answer_in_time_is_pending_with_its_task_id(self) -> None:
        late = tcelery.ResultTimeout('w1', 0.5)
        self.producer.by_queue.update({EAST: result('east', True, 'e1'), WEST: late})
        _, body = self.call('/check', url=URL, **{'from': 'all'})
        assert (body['verdict'], body['pending']) == ('up', ['west'])
        assert body['locations']['west'] == {'task_id': 'w1', 'status': 'PENDING'}

    def test_a_named_location_that_is_gone_is_listed_unavailable(self) -> None:
        self.event('worker-offline', 'check.west@h2')
        self.producer.by_queue[EAST] = result('east', True, 'e1')
        _, body = self.call('/check', url=URL, **{'from': 'east,west'})
        assert (body['verdict'], body['unavailable'], self.producer.queues) == ('up', ['west'], [EAST])

    def test_the_broker_refusing_every_location_is_a_503(self) -> None:
        self.producer.outcome = tcelery.BrokerUnavailable('no broker')
        code, _ = self.call('/check', url=URL, **{'from': 'all'})
        assert code == 503


class TestBadLocations(LocatedCase):
    @pytest.fixture(autouse=True)
    def _nothing_sent(self):
        yield
        assert self.producer.sent == []

    def test_bad_location_arguments_are_clear_4xx(self) -> None:
        for params, status, message in (
                ({'from': 'north'}, 400, "unknown location 'north'; live: east, west"),
                ({'from': 'east,no.dots'}, 400, 'location names'),
                ({'from': ''}, 400, 'location names'),
                ({'from': 'all', 'quorum': '0'}, 400, 'quorum must be a whole number'),
                ({'from': 'all', 'quorum': 'x'}, 400, 'quorum must be a whole number'),
                ({'from': 'all', 'quorum': '3'}, 400, 'quorum must be between 1 and 2'),
                ({'quorum': '1'}, 400, 'quorum applies to checks from several locations'),
                ({'from': 'east', 'ignore_result': '1'}, 400, 'ignore_result cannot be combined with from')):
            with self.subTest(params=params):
                code, body = self.call('/check', url=URL, **params)
                assert (code, message in body['error']) == (status, True), body

    def test_no_live_location_at_all_is_a_503(self) -> None:
        for node in ('check.east@h1', 'check.west@h2'):
            self.event('worker-offline', node)
        code, body = self.call('/check', url=URL, **{'from': 'all'})
        assert (code, body['locations']) == (503, [])


class TestLocationsEndpoint(LocatedCase):
    def test_it_lists_each_live_location_and_its_workers(self) -> None:
        self.event('worker-heartbeat', 'check.east@h3')
        code, body = self.call('/locations')
        assert code == 200 and set(body['locations']) == {'east', 'west'}
        assert [w['name'] for w in body['locations']['east']['workers']] == ['check.east@h1', 'check.east@h3']
        assert abs(body['locations']['west']['workers'][0]['last_seen'] - time.time()) < 5


@pytest.mark.parametrize(('up', 'down', 'quorum', 'expected'), [
    ([], [], 1, 'unknown'), (['a'], [], 1, 'up'), (['a', 'b'], ['c'], 2, 'partial'),
    (['a'], ['b', 'c'], 2, 'down'), ([], ['a'], 1, 'down'), (['a'], ['b'], 1, 'down')])
def test_the_verdict_rule(up: list, down: list, quorum: int, expected: str) -> None:
    assert verdict(up, down, quorum) == expected


@pytest.mark.parametrize(('node', 'location'), [
    ('check.east@w1.example.com', 'east'), ('check@w1.example.com', 'w1'), ('add@w1', None),
    ('check-1a2b@w1', None), ('check.us-east_2@h', 'us-east_2')])
def test_a_workers_location_is_read_off_its_node_name(node: str, location: str | None) -> None:
    assert routing.location_of(node) == location


class TestProbeFromLocations(LocatedCase):
    def test_a_probe_from_all_labels_each_series_with_its_location(self) -> None:
        self.producer.by_queue.update({
            'common_check.east': tcelery.TaskResult('e1', 'SUCCESS', {'ok': True, 'latency_ms': 2.0}),
            'common_check.west': tcelery.TaskResult('w1', 'SUCCESS', {'ok': False, 'latency_ms': 1000.0})})
        response = self.fetch('/probe?module=tcp_connect&target=127.0.0.1:9&location=all')
        assert response.code == 200
        lines = response.body.decode().splitlines()
        assert 'probe_success{location="east"} 1' in lines and 'probe_success{location="west"} 0' in lines
        assert 'probe_duration_seconds{location="west"} 1' in lines
        assert sorted(self.producer.queues) == ['common_check.east', 'common_check.west']

    def test_a_probe_from_an_unknown_location_is_a_400(self) -> None:
        code, body = self.call('/probe', module='tcp_connect', target='127.0.0.1:9', location='north')
        assert code == 400 and 'unknown location' in body['error'] and self.producer.sent == []
