"""Flower over the supervised system: tasks, workers, control, broker, all behind basic auth."""

from __future__ import annotations

import socket

import pytest
import requests

import routing
from testbed.process import wait_for
from tests.supervised import System

HOST = socket.gethostname()
# Without LOCATION the check worker is at its host's short name, and consumes that location's queues too.
WORKERS = {f'add@{HOST}': set(routing.ADD_WORKER_QUEUES),
           f'check@{HOST}': {*routing.CHECK_WORKER_QUEUES, *routing.located_queues(HOST.split('.')[0])}}


def flower(system: System, method: str, path: str, **kwargs) -> requests.Response:
    auth = ('admin', system.secrets['FLOWER_PASSWORD'])
    return requests.request(method, f'{system.flower}{path}', auth=auth, timeout=15, **kwargs)


@pytest.fixture(scope='module')
def task_ids(system: System) -> dict[str, str]:
    """A few tasks through the gateway, then wait until Flower has seen them succeed and has
    their routing (the gateway's task-sent events leave in batches, up to 0.1 s later)."""
    add = requests.get(f'{system.web}/add', params={'x': 2, 'y': 3}, timeout=15)
    port = system.web.rsplit(':', 1)[1]
    check = requests.get(f'{system.web}/check', params={'host': '127.0.0.1', 'port': port}, timeout=15)
    url = requests.get(f'{system.web}/check', params={'url': f'{system.web}/healthz'}, timeout=15)
    assert add.json() == {'results': 5} and check.json()['ok'] and url.json()['ok']
    ids = {routing.ADD: None, routing.TCP_CHECK: check.json()['task_id'],
           routing.HTTP_CHECK: url.json()['task_id']}

    def seen() -> bool:
        tasks = flower(system, 'GET', '/api/tasks').json()
        for task_id, info in tasks.items():
            if info['name'] == routing.ADD and info.get('args') == '[2, 3]':
                ids[routing.ADD] = task_id
        return all(ids.values()) and all(tasks[i]['state'] == 'SUCCESS' and tasks[i]['routing_key']
                                         for i in ids.values())
    wait_for(seen, 30, 0.5, 'Flower to see every task succeed, with its routing')
    return ids


def test_task_list_and_detail_show_result_worker_and_routing(system: System, task_ids: dict) -> None:
    def routed(task_id: str) -> dict | None:
        info = flower(system, 'GET', f'/api/task/info/{task_id}').json()
        return info if info['routing_key'] else None

    for name, task_id in task_ids.items():
        # The gateway batches task-sent events (up to 0.1 s): the routing may come after SUCCESS.
        info = wait_for(lambda task_id=task_id: routed(task_id), 10, 0.2, 'the task-sent event')
        assert info['name'] == name and info['state'] == 'SUCCESS'
        assert info['worker'] in WORKERS and routing.QUEUE_OF[name] in WORKERS[info['worker']]
        assert info['routing_key'] == routing.QUEUE_OF[name] and info['exchange'] == ''
        assert info['runtime'] is not None and info['result'] is not None
    assert flower(system, 'GET', f'/api/task/info/{task_ids[routing.ADD]}').json()['result'] == '5'


def test_workers_and_their_queues(system: System) -> None:
    workers = flower(system, 'GET', '/api/workers', params={'refresh': 1}).json()
    assert set(WORKERS) <= set(workers)
    for name, queues in WORKERS.items():
        assert {q['name'] for q in workers[name]['active_queues']} == queues


def test_queue_lengths_from_the_broker_api(system: System) -> None:
    expected = set(routing.QUEUE_OF.values())

    def lengths() -> dict[str, int]:
        # RabbitMQ's management plugin reports a new queue's length after its next stats tick.
        queues = flower(system, 'GET', '/api/queues/length').json()['active_queues']
        return {q['name']: q['messages'] for q in queues if 'messages' in q}
    found = wait_for(lambda: expected <= set(lengths()) and lengths(), 30, 1, 'queue lengths for every queue')
    assert all(isinstance(n, int) and n >= 0 for n in found.values())


def test_pool_restart_keeps_add_working(system: System) -> None:
    response = flower(system, 'POST', f'/api/worker/pool/restart/add@{HOST}')
    assert response.status_code == 200, response.text
    assert 'restarting' in response.json()['message'].lower()
    wait_for(lambda: all(requests.get(f'{system.web}/add', params={'x': 1, 'y': 1}, timeout=15).json()
                         == {'results': 2} for _ in range(4)), 30, 0.2, '/add after a pool restart')


def test_shutdown_through_flower_is_undone_by_supervisord(system: System) -> None:
    before = system.states()['worker-check']['pid']
    response = flower(system, 'POST', f'/api/worker/shutdown/check@{HOST}')
    assert response.status_code == 200, response.text
    wait_for(lambda: (p := system.states()['worker-check'])['statename'] == 'RUNNING' and p['pid'] != before,
             60, 0.2, 'worker-check restarted by supervisord')
    check = lambda: requests.get(f'{system.web}/check', params={'url': f'{system.web}/healthz'},  # noqa: E731
                                 timeout=15).json().get('ok')
    wait_for(check, 60, 0.5, 'checks served again')


@pytest.mark.parametrize('path', ['/', '/tasks', '/workers', '/broker', '/api/tasks', '/api/workers',
                                  '/api/queues/length', '/api/task/info/x'])
def test_everything_needs_credentials(system: System, path: str) -> None:
    assert requests.get(f'{system.flower}{path}', timeout=10).status_code == 401
    assert requests.get(f'{system.flower}{path}', auth=('admin', 'admin'), timeout=10).status_code == 401


def test_control_needs_credentials(system: System) -> None:
    response = requests.post(f'{system.flower}/api/worker/shutdown/check@{HOST}', timeout=10)
    assert response.status_code == 401
    assert system.states()['worker-check']['statename'] == 'RUNNING'


@pytest.mark.browser
def test_task_list_in_a_real_browser(system: System, task_ids: dict, tmp_path) -> None:
    from tests.browser import chromium, screenshot_path

    with chromium() as browser:
        credentials = {'username': 'admin', 'password': system.secrets['FLOWER_PASSWORD']}
        page = browser.new_page(viewport={'width': 1400, 'height': 700}, http_credentials=credentials)
        page.goto(f'{system.flower}/tasks')
        for task_id in task_ids.values():
            page.wait_for_selector(f'text={task_id}', timeout=15000)
        assert page.locator('text=SUCCESS').count() >= len(task_ids)
        page.screenshot(path=screenshot_path(tmp_path, 'flower-tasks.png'))
