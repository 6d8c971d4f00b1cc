"""POST /checks against a real gateway and check worker: a thousand routes in one request, in
input order or streamed, the refused ones never sent, bad bodies a 4xx that sends nothing."""

from __future__ import annotations

import json
import math

import pytest
import requests

import routing
from gateway.bulk import SUMMARY
from gateway.settings import Settings
from testbed.vhosts import Vhost
from tests.processes import gateway_metric
from tests.upstream import Upstream

PUBLISHED = 'route_check_task_publishes_total'


def summary(**counts: int) -> dict[str, int]:
    return {**dict.fromkeys(SUMMARY, 0), **counts}


def post(gateway: str, body: object, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f'{gateway}/checks', data=data, headers=headers, timeout=60)


def mixed(upstream: Upstream, count: int) -> list[dict]:
    """``count`` targets cycling through: up over TCP, up over HTTP, a 404, refused by the
    policy (the metadata address), and malformed (no port)."""
    kinds = [{'host': '127.0.0.1', 'port': upstream.port},
             {'url': f'{upstream.url}/ok'},
             {'url': f'{upstream.url}/missing?status=404', 'valid_status': '200-299'},
             {'url': 'http://169.254.169.254/latest/meta-data/'},
             {'host': '127.0.0.1'}]
    return [kinds[index % len(kinds)] for index in range(count)]


def test_a_thousand_targets_answer_in_input_order(web: str, upstream: Upstream) -> None:
    before = gateway_metric(web, PUBLISHED, task=routing.CHECK_MANY)
    answer = post(web, {'targets': mixed(upstream, 1000)})
    body = answer.json()
    assert answer.status_code == 200, body
    results = body['results']
    assert [result['index'] for result in results] == list(range(1000))
    assert body['summary'] == summary(ok=400, failed=200, refused=400)
    assert results[0]['ok'] and results[0]['target'] == f'127.0.0.1:{upstream.port}'
    assert results[1]['ok'] and results[1]['status'] == 200 and 'task_id' in results[1]
    assert not results[2]['ok'] and results[2]['status'] == 404
    assert results[3]['refused'] and 'refused' in results[3]['error'] and 'task_id' not in results[3]
    assert results[4]['refused'] and 'port' in results[4]['error']
    # 600 sendable targets in chunks of BULK_CHUNK: three tasks (250, 250, 100), not six hundred
    sent = gateway_metric(web, PUBLISHED, task=routing.CHECK_MANY) - before
    assert sent == math.ceil(600 / Settings.bulk_chunk)


def test_ndjson_streams_each_result_then_the_summary(web: str, upstream: Upstream) -> None:
    """The refused lines first, each chunk's as it finishes: the first chunk (250 targets) while
    the second, which holds a 2 s target, is still being checked."""
    targets = mixed(upstream, 500) + [{'url': f'{upstream.url}/slow?ms=2000'}]
    lines, slow_busy_at_first_chunk = [], None
    with requests.post(f'{web}/checks', json={'targets': targets}, stream=True, timeout=60,
                       headers={'Accept': 'application/x-ndjson'}) as answer:
        assert answer.headers['Content-Type'] == 'application/x-ndjson'
        for line in answer.iter_lines():
            lines.append(json.loads(line))
            if lines[-1].get('index') == 0:
                slow_busy_at_first_chunk = upstream.busy()
    assert lines[-1] == {'summary': summary(ok=201, failed=100, refused=200)}
    assert sorted(line['index'] for line in lines[:-1]) == list(range(501))
    assert all(line['refused'] for line in lines[:200])  # known before anything is sent
    assert slow_busy_at_first_chunk == 1, lines[-1]  # the slow target was still in the upstream


def test_from_a_location_names_it(web: str, upstream: Upstream) -> None:
    """No located worker in this suite: from= a location never seen is a 400 listing none live."""
    answer = post(web, {'targets': mixed(upstream, 3), 'from': 'nowhere'})
    assert answer.status_code == 400 and 'unknown location' in answer.json()['error']


BAD_BODIES = [
    (b'{"targets": [', 400, 'JSON'),
    (b'[1, 2]', 400, 'object'),
    (b'{"targets": {}}', 400, 'list'),
    (b'{"targets": []}', 400, 'list'),
    (json.dumps({'targets': [{'host': '127.0.0.1', 'port': 1}] * 1001}).encode(), 400, 'at most 1000'),
    (b'{"targets": [{"url": "http://a/"}], "speed": 1}', 400, 'unknown field'),
    (b'{"targets": [{"url": "http://a/"}], "quorum": 2}', 400, 'quorum'),
    (b'{"targets": [{"url": "http://a/"}], "from": 3}', 400, 'from'),
]


@pytest.mark.parametrize(('body', 'status', 'says'), BAD_BODIES, ids=[s for _, _, s in BAD_BODIES])
def test_a_bad_body_is_a_json_4xx_and_sends_nothing(idle_web: str, idle_vhost: Vhost, body: bytes,
                                                    status: int, says: str) -> None:
    answer = post(idle_web, body)
    assert answer.status_code == status and says in answer.json()['error'], answer.text
    assert idle_vhost.depth(routing.QUEUE_OF[routing.CHECK_MANY]) == 0


def test_a_body_over_the_limit_is_a_413(idle_web: str) -> None:
    big = json.dumps({'targets': [{'url': 'http://example.com/' + 'a' * 2000}] * 2100}).encode()
    answer = post(idle_web, big)
    assert answer.status_code == 413 and 'larger than' in answer.json()['error']
    pieces = iter([big[start:start + 65536] for start in range(0, len(big), 65536)])
    chunked = requests.post(f'{idle_web}/checks', data=pieces, timeout=60)  # no Content-Length
    assert chunked.status_code == 413


def test_targets_refused_alone_send_nothing(idle_web: str, idle_vhost: Vhost, upstream: Upstream) -> None:
    """The idle gateway's strict policy refuses loopback: every target is refused, no task."""
    answer = post(idle_web, {'targets': mixed(upstream, 10)})
    body = answer.json()
    assert answer.status_code == 200 and body['summary']['refused'] == 10, body
    assert idle_vhost.depth(routing.QUEUE_OF[routing.CHECK_MANY]) == 0


def test_get_is_a_405_naming_post(idle_web: str) -> None:
    answer = requests.get(f'{idle_web}/checks', timeout=10)
    assert answer.status_code == 405 and answer.headers['Allow'] == 'POST'
