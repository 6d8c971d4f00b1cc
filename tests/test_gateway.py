"""The web gateway over real HTTP, RabbitMQ, Redis and Celery workers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import routing
from testbed.process import free_port, wait_for
from testbed.vhosts import Vhost
from tests.bad_requests import BAD_REQUESTS, SSRF_TARGETS, TCP_SSRF_HOSTS
from tests.processes import base_env, start_web
from tests.test_policy import CARRIED
from tests.upstream import Upstream


def get(address: str, /, *, wait: float = 15, **params: object) -> requests.Response:
    return requests.get(address, params=params, timeout=wait)


def test_add_round_trip(web: str) -> None:
    response = get(f'{web}/add', x=1, y=2)
    assert response.status_code == 200
    assert response.json() == {'results': 3}


def test_add_missing_arguments_default_to_zero(web: str) -> None:
    assert get(f'{web}/add', x=-5).json() == {'results': -5}
    assert get(f'{web}/add').json() == {'results': 0}


def test_check_url(web: str, upstream: Upstream) -> None:
    body = get(f'{web}/check', url=f'{upstream.url}/ok?size=100').json()
    assert body['ok'] is True and body['status'] == 200 and body['bytes'] == 100
    assert body['latency_ms'] > 0 and body['error'] is None and body['task_id']


def test_check_url_failures_are_results_not_errors(web: str, upstream: Upstream) -> None:
    closed = free_port()
    refused = get(f'{web}/check', url=f'http://127.0.0.1:{closed}/')
    assert refused.status_code == 200
    assert refused.json()['ok'] is False and refused.json()['error'] == 'connection refused'
    failing = get(f'{web}/check', url=f'{upstream.url}/ok?status=503').json()
    assert failing['ok'] is False and failing['status'] == 503
    timed_out = get(f'{web}/check', url=f'{upstream.url}/slow?ms=2000', timeout=0.3).json()
    assert timed_out['ok'] is False and timed_out['error'] == 'timed out'


def test_the_timeout_bounds_the_whole_check(web: str, upstream: Upstream) -> None:
    """A body trickling in (one byte per 0.3 s) would pass every per-read timeout."""
    started = time.monotonic()
    body = get(f'{web}/check', url=f'{upstream.url}/trickle?ms=300&size=10', timeout=1).json()
    assert body['ok'] is False and body['error'] == 'timed out'
    assert time.monotonic() - started < 2.5


def test_redirect_to_a_malformed_url_is_a_result(web: str, upstream: Upstream) -> None:
    body = get(f'{web}/check', url=f'{upstream.url}/redirect?to=http://[::1/', follow_redirects=1).json()
    assert body['ok'] is False and body['error'].startswith('refused: redirect to a malformed URL')


def test_redirects_followed_only_when_asked(web: str, upstream: Upstream) -> None:
    target = f'{upstream.url}/redirect?to=/ok'
    assert get(f'{web}/check', url=target).json()['status'] == 302
    followed = get(f'{web}/check', url=target, follow_redirects=1).json()
    assert followed['status'] == 200 and followed['url'] == f'{upstream.url}/ok'


def test_common_check(web: str, upstream: Upstream) -> None:
    port = upstream.server.server_port
    body = get(f'{web}/check', host='127.0.0.1', port=port).json()
    assert body['ok'] is True and body['latency_ms'] >= 0
    body = get(f'{web}/check', host='127.0.0.1', port=free_port()).json()
    assert body == {**body, 'ok': False, 'error': 'connection refused'}


def test_ignore_result_returns_202_and_the_check_runs(web: str, upstream: Upstream) -> None:
    before = upstream.count('/fire')
    response = get(f'{web}/check', url=f'{upstream.url}/fire', ignore_result=1)
    assert response.status_code == 202
    assert response.json()['status'] == 'SENT' and response.json()['task_id']
    assert 'Location' not in response.headers  # it stores no result: nothing to poll
    wait_for(lambda: upstream.count('/fire') == before + 1, 10, message='the fire-and-forget check ran')


def test_slow_task_answers_202_then_result_polling(web: str, upstream: Upstream) -> None:
    response = get(f'{web}/check', url=f'{upstream.url}/slow?ms=4000', wait=10)
    assert response.status_code == 202  # the gateway waits WEB_WAIT=3 s
    location = response.headers['Location']
    assert get(f'{web}{location}').json()['status'] in {'PENDING', 'STARTED'}
    done = wait_for(lambda: (body := get(f'{web}{location}').json())['status'] == 'SUCCESS' and body,
                    15, 0.2, 'the slow check finished')
    assert done['result']['ok'] is True and done['result']['status'] == 200


def test_unknown_task_id_is_pending(web: str) -> None:
    body = get(f'{web}/result/00000000-0000-0000-0000-000000000000').json()
    assert body['status'] == 'PENDING' and body['result'] is None


def test_healthz(web: str) -> None:
    response = get(f'{web}/healthz')
    assert response.status_code == 200
    assert response.json() == {'broker': True, 'result_backend': True}


@pytest.mark.parametrize('path, params, status, message', BAD_REQUESTS)
def test_bad_input_is_a_json_4xx_and_sends_nothing(idle_web: str, idle_vhost: Vhost, path: str,
                                                   params: dict, status: int, message: str) -> None:
    before = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    response = get(f'{idle_web}{path}', **params)
    assert response.status_code == status
    assert response.headers['Content-Type'].startswith('application/json')
    assert message in response.json()['error']
    assert 'Traceback' not in response.text
    assert {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES} == before


def test_wrong_method_is_a_json_405(idle_web: str) -> None:
    response = requests.post(f'{idle_web}/add', timeout=5)
    assert response.status_code == 405 and response.json() == {'error': 'Method Not Allowed'}


@pytest.mark.parametrize('url', SSRF_TARGETS.values(), ids=SSRF_TARGETS.keys())
def test_ssrf_targets_are_refused_before_sending(idle_web: str, idle_vhost: Vhost, url: str) -> None:
    before = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    response = get(f'{idle_web}/check', url=url)
    assert response.status_code in (400, 403)
    assert response.json()['error']
    assert {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES} == before


@pytest.mark.parametrize('address, carried', CARRIED.values(), ids=CARRIED.keys())
def test_ipv6_forms_carrying_a_refused_ipv4_are_403(idle_web: str, idle_vhost: Vhost, address: str,
                                                    carried: str) -> None:
    """Issue 17: http://[2002:7f00:1::]/ (6to4 of 127.0.0.1) was sent to a worker."""
    before = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    for params in ({'url': f'http://[{address}]/'}, {'host': address, 'port': 80}):
        response = get(f'{idle_web}/check', **params)
        assert response.status_code == 403, (params, response.text)
        assert response.json()['error'].startswith('target refused: ') and carried in response.json()['error']
    assert {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES} == before


def test_tcp_ssrf_targets_are_refused(idle_web: str) -> None:
    for host in TCP_SSRF_HOSTS:
        response = get(f'{idle_web}/check', host=host, port=22)
        assert response.status_code == 403, host
        assert 'target refused' in response.json()['error']


def test_each_task_lands_in_its_own_queue(idle_web: str, idle_vhost: Vhost) -> None:
    """With no worker, what the gateway published stays put; count it per queue."""
    before = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    assert get(f'{idle_web}/add', x=1, y=2).status_code == 202
    assert get(f'{idle_web}/check', url='http://8.8.8.8/').status_code == 202
    assert get(f'{idle_web}/check', host='8.8.8.8', port=53).status_code == 202
    assert get(f'{idle_web}/check', url='http://8.8.8.8/', ignore_result=1).status_code == 202
    after = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    assert {q: after[q] - before[q] for q in routing.ALL_QUEUES} == {
        'default': 0, **{routing.QUEUE_OF[task]: 1 for task in routing.QUEUE_OF},
        routing.QUEUE_OF[routing.CHECK_MANY]: 0}  # POST /checks: tests/test_bulk.py


def test_the_loop_never_blocks_while_50_requests_wait(web: str, upstream: Upstream) -> None:
    """50 requests wait on slow checks; a cheap endpoint on the same process stays fast."""
    before = upstream.count('/slow')
    with ThreadPoolExecutor(50) as pool:
        slow = [pool.submit(get, f'{web}/check', url=f'{upstream.url}/slow?ms=2500') for _ in range(50)]
        wait_for(lambda: upstream.count('/slow') - before >= 50, 20, message='50 checks in flight')
        latencies = []
        for _ in range(10):
            started = time.perf_counter()
            assert get(f'{web}/healthz').status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
        answers = [future.result() for future in slow]
    assert max(latencies) < 50, latencies
    assert [(a.status_code, a.json().get('ok')) for a in answers] == [(200, True)] * 50


def test_broker_down_is_a_fast_503(log_dir, vhost: Vhost) -> None:
    dead = f'amqp://guest:guest@127.0.0.1:{free_port()}//'
    proc, url = start_web(base_env(BROKER_URL=dead), log_dir, name='web-dead-broker')
    try:
        started = time.monotonic()
        response = get(f'{url}/add', x=1, y=2)
        assert response.status_code == 503
        assert 'did not accept the task' in response.json()['error']
        assert time.monotonic() - started < 6
        assert get(f'{url}/healthz').status_code == 503
        assert get(f'{url}/check', url='http://127.0.0.1:1/', ignore_result=1).status_code == 503
    finally:
        proc.stop()


def test_sigterm_lets_requests_in_flight_finish(env: dict, log_dir, workers: dict,
                                                upstream: Upstream) -> None:
    """A web process told to stop (supervisorctl stop/restart) answers what it has accepted."""
    import signal
    import threading

    proc, url = start_web(dict(env, WEB_WAIT='10'), log_dir, name='web-graceful')
    answer: dict = {}

    def call() -> None:
        response = get(f'{url}/check', url=f'{upstream.url}/slow?ms=1500')
        answer.update(status=response.status_code, body=response.json())

    try:
        caller = threading.Thread(target=call)
        before = upstream.count('/slow')
        caller.start()
        wait_for(lambda: upstream.count('/slow') > before, 10, message='the check reached the upstream')
        proc.popen.send_signal(signal.SIGTERM)
        caller.join(15)
        assert answer == {'status': 200, 'body': {**answer['body'], 'ok': True}}
        assert proc.popen.wait(15) == 0
        assert 'stopping: 1 request(s) in flight' in proc.log()
    finally:
        proc.stop()
