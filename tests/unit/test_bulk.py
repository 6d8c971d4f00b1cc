"""POST /checks in-process, the fake producer answering each chunk: chunking, input order, what
a chunk's trouble does to its targets, JSON targets read as /check's arguments. The real path is
tests/test_bulk.py."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

import routing
import tcelery
from gateway import targets
from gateway.bulk import SUMMARY
from tests.unit.test_handlers import GatewayCase

URL = 'http://127.0.0.1:9/'


def checked(items: list[dict]) -> tcelery.TaskResult:
    """A done chunk: each item up, saying which it was."""
    return tcelery.TaskResult('chunk-1', 'SUCCESS', [{'ok': True, 'error': None, 'saw': item}
                                                     for item in items])


def echo_chunks(fake: Any) -> None:
    """Make the fake producer answer a chunk with its own items, checked (and still record it)."""
    record = fake.apply_async

    async def apply_async(task: str, args: list, kwargs: Any = None, **options: Any) -> tcelery.TaskResult:
        await record(task, args, kwargs, **options)
        return checked(args[0])

    fake.apply_async = apply_async


class BulkCase(GatewayCase):
    def post(self, body: Any, **headers: str) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = self.fetch('/checks', method='POST', body=data, headers=headers, raise_error=False)
        assert b'Traceback' not in response.body
        if response.headers['Content-Type'] == 'application/x-ndjson':
            return response.code, [json.loads(line) for line in response.body.splitlines()]
        return response.code, json.loads(response.body)


class TestChunks(BulkCase):
    def test_targets_go_in_chunks_of_bulk_chunk_and_come_back_in_order(self) -> None:
        settings = self._app.settings
        settings['route_check'] = dataclasses.replace(settings['route_check'], bulk_chunk=3)
        fake = self.producer
        echo_chunks(fake)
        given = [{'url': f'{URL}{n}'} if n % 2 else {'host': '127.0.0.1', 'port': n + 1} for n in range(7)]
        code, body = self.post({'targets': given})
        assert code == 200
        assert [result['index'] for result in body['results']] == list(range(7))
        assert body['results'][1]['saw'] == {'url': f'{URL}1', 'follow_redirects': False, 'timeout': 5.0}
        assert body['results'][2]['saw'] == {'host': '127.0.0.1', 'port': 3, 'timeout': 5.0}
        assert body['results'][2]['target'] == '127.0.0.1:3'
        assert [task for task, _ in fake.sent] == [routing.CHECK_MANY] * 3  # 3 + 3 + 1
        assert body['summary'] == {**dict.fromkeys(SUMMARY, 0), 'ok': 7}

    def test_a_chunk_not_back_in_time_leaves_its_targets_pending_with_its_task_id(self) -> None:
        self.producer.outcome = tcelery.ResultTimeout('chunk-9', 0.5)
        code, body = self.post({'targets': [{'url': URL}, {'host': '127.0.0.1', 'port': 9}]})
        assert code == 200
        assert body['results'][0] == {'index': 0, 'target': URL, 'task_id': 'chunk-9', 'status': 'PENDING'}
        assert body['summary']['pending'] == 2

    def test_a_chunk_the_broker_refused_says_so_in_each_target(self) -> None:
        self.producer.outcome = tcelery.BrokerUnavailable('gone')
        code, body = self.post({'targets': [{'url': URL}]})
        assert code == 200 and body['summary']['unsent'] == 1
        assert body['results'][0]['sent'] is False and 'unavailable' in body['results'][0]['error']

    def test_ndjson_is_a_line_per_result_then_the_summary(self) -> None:
        self.producer.outcome = tcelery.ResultTimeout('chunk-9', 0.5)
        code, lines = self.post({'targets': [{'url': URL}, {'url': 'ftp://x/'}]},
                                Accept='application/x-ndjson')
        assert code == 200
        assert lines[0]['index'] == 1 and lines[0]['refused']  # refused first, before sending
        assert lines[1]['index'] == 0 and lines[-1]['summary']['refused'] == 1


class TestBadBodies(BulkCase):
    @pytest.fixture(autouse=True)
    def _nothing_sent(self):
        yield
        assert self.producer.sent == []

    def test_bad_bodies_are_a_400_naming_the_problem(self) -> None:
        for body, message in ((b'nope', 'must be JSON'), ({'targets': 'x'}, 'must be a list'),
                              ({'targets': [{}], 'from': None}, 'from must be'),
                              ({'targets': [{}], 'quorum': None}, 'quorum must be'),
                              ({'targets': [{}] * 1001}, 'at most 1000')):
            with self.subTest(body=body):
                code, answer = self.post(body)
                assert (code, message in answer['error']) == (400, True), answer

    def test_malformed_targets_are_refused_results(self) -> None:
        given = [3, {'url': URL, 'port': {}}, {'url': URL, 'speed': 1}, {'host': '127.0.0.1', 'port': 70000}]
        code, body = self.post({'targets': given})
        assert code == 200 and body['summary']['refused'] == 4
        errors = [result['error'] for result in body['results']]
        expected = ['must be an object', 'port must be', "unknown option 'speed'", 'port']
        assert all(says in error for says, error in zip(expected, errors, strict=True)), errors


def test_json_targets_read_as_query_arguments() -> None:
    given = {'url': URL, 'follow_redirects': True, 'timeout': 2, 'body_matches': ['a', 'b ']}
    assert targets.from_json(given) == {'url': [URL], 'follow_redirects': ['1'], 'timeout': ['2'],
                                        'body_matches': ['a', 'b ']}
    target = targets.parse(targets.from_json(given))
    assert target.chunk_item() == {'url': URL, 'follow_redirects': True, 'timeout': 2.0,
                                   'options': {'body_matches': ('a', 'b ')}}
