"""Celery-level behaviour: the seed's client script, and the gateway's messages being Celery's."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import requests
from celery.result import AsyncResult
from kombu import Connection

import routing
from testbed.process import wait_for
from testbed.vhosts import Vhost
from tests.processes import base_env, start_worker


def test_seed_client_script(env: dict, log_dir) -> None:
    """The seed's script, as written: apply_async, ready(), get(), ready(), then a local call.

    On a vhost of its own whose worker starts only after the first ready(): otherwise a fast
    worker could finish the task before that line runs.
    """
    import add_task

    vhost = Vhost('route_check_seed_client')
    try:
        with Connection(vhost.url) as conn:
            result = add_task.add.apply_async((1, 2), connection=conn)
        assert isinstance(result, AsyncResult)
        assert result.ready() is False
        worker = start_worker('add', dict(env, BROKER_URL=vhost.url), log_dir, name='worker-seed-client')
        try:
            assert result.get(timeout=20) == 3
            assert result.ready() is True
        finally:
            worker.stop()
    finally:
        vhost.delete()
    assert add_task.add(1, 2) == 3  # runs here, no Celery involved


def _take(vhost: Vhost, queue: str):
    with Connection(vhost.url) as conn:
        return wait_for(lambda: conn.default_channel.basic_get(queue, no_ack=True), 10,
                        message=f'a message in {queue}')


def _purge(vhost: Vhost, queue: str) -> None:
    with Connection(vhost.url) as conn:
        conn.default_channel.queue_purge(queue)


def test_gateway_sends_what_celery_sends(idle_web: str, idle_vhost: Vhost) -> None:
    """The same task sent by Celery's own apply_async and by the gateway: the same message."""
    import add_task

    requests.get(f'{idle_web}/add', params={'x': 1, 'y': 2}, timeout=10)  # declares the queue
    _purge(idle_vhost, routing.QUEUE_OF[routing.ADD])
    with Connection(idle_vhost.url) as conn:  # as web.py calls it, the request id in the headers
        add_task.add.apply_async(args=[1, 2], connection=conn, headers={'request_id': 'compare-1'})
    celerys = _take(idle_vhost, routing.QUEUE_OF[routing.ADD])
    answer = requests.get(f'{idle_web}/add', params={'x': 1, 'y': 2}, headers={'X-Request-ID': 'compare-1'},
                          timeout=10)
    assert answer.status_code == 202
    ours = _take(idle_vhost, routing.QUEUE_OF[routing.ADD])

    # Per-message values; message_id is aiormq's addition (see tcelery/publisher.py). Celery also
    # sets the broker's TTL ('expiration') from expires; the gateway leaves expiry to the worker
    # (see tcelery/messages.py), and the expiry times are a few milliseconds apart.
    volatile = {'id', 'root_id', 'origin', 'correlation_id', 'reply_to', 'message_id', 'expiration',
                'expires'}
    expiry = [datetime.fromisoformat(m.headers['expires']) for m in (celerys, ours)]
    assert timedelta(0) <= expiry[1] - expiry[0] < timedelta(seconds=10)
    def comparable(message) -> dict:
        props = {k: v for k, v in message.properties.items() if k not in volatile | {'application_headers'}}
        headers = {k: v for k, v in message.headers.items() if k not in volatile}
        routing = {k: message.delivery_info[k] for k in ('exchange', 'routing_key')}
        return {'properties': props, 'headers': headers, 'body': message.body, 'routing': routing}

    assert comparable(ours) == comparable(celerys)
    assert ours.properties['delivery_mode'] == 2
    assert ours.properties['correlation_id'] == ours.properties['message_id'] == ours.headers['id']


def task_events_queue(channel) -> str:
    """An exclusive queue that receives every task event published on the vhost (Flower's view)."""
    channel.exchange_declare('celeryev', 'topic', durable=True, auto_delete=False)
    queue, _, _ = channel.queue_declare('', exclusive=True)
    channel.queue_bind(queue, 'celeryev', 'task.#')
    return queue


def test_gateway_publishes_the_task_sent_event(idle_web: str, idle_vhost: Vhost) -> None:
    """Flower's "sent" state and routing come from this event, batched as a worker batches
    its task events: a list of events per message, routing key task.multi."""
    with Connection(idle_vhost.url) as conn:
        channel = conn.default_channel
        queue = task_events_queue(channel)
        response = requests.get(f'{idle_web}/check', params={'url': 'http://8.8.8.8/'}, timeout=10)
        message = wait_for(lambda: channel.basic_get(queue, no_ack=True), 10, message='a task-sent event')
    assert message.delivery_info['routing_key'] == 'task.multi'
    [event] = [e for e in json.loads(message.body) if e['uuid'] == response.json()['task_id']]
    assert event['type'] == 'task-sent'
    assert event['name'] == routing.HTTP_CHECK
    queue = routing.QUEUE_OF[routing.HTTP_CHECK]
    assert (event['queue'], event['routing_key']) == (queue, queue)


def test_workers_publish_without_confirms_clients_with(workers: dict) -> None:
    """Confirms stall a thread-pool worker's event publishing (see main.py); clients keep them."""
    from main import app

    assert app.conf.broker_transport_options['confirm_publish'] is True
    confs = app.control.inspect(timeout=5).conf(with_defaults=True)
    assert len(confs) == 2
    assert all(conf['broker_transport_options']['confirm_publish'] is False for conf in confs.values())
    # One result backend per worker, not one per pool thread (or per task under a green pool).
    assert not app.conf.get('result_backend_thread_safe')
    assert all(conf['result_backend_thread_safe'] is True for conf in confs.values())


def test_workers_log_failures_but_not_every_task(workers: dict) -> None:
    """TASK_LOG_LEVEL (WARNING by default) drops Celery's two INFO lines per task; failures stay."""
    from add_task import add

    done = add.apply_async((2, 3))
    failed = add.apply_async(('two', 3))
    assert done.get(timeout=30) == 5
    with pytest.raises(TypeError):
        failed.get(timeout=30)
    wait_for(lambda: failed.id in workers['add'].log(), 10, 0.05, 'the failure logged')
    log = workers['add'].log()
    assert done.id not in log
    assert ' received' not in log and ' succeeded in ' not in log


def test_fire_and_forget_message_asks_for_no_result(idle_web: str, idle_vhost: Vhost) -> None:
    """The worker honours the message's ignore_result header: the gateway must send the task's own."""
    response = requests.get(f'{idle_web}/check', params={'url': 'http://8.8.8.8/', 'ignore_result': 1},
                            timeout=10)
    assert response.status_code == 202
    message = _take(idle_vhost, routing.QUEUE_OF[routing.HTTP_CHECK_NO_RESULT])
    assert message.headers['task'] == routing.HTTP_CHECK_NO_RESULT
    assert message.headers['ignore_result'] is True


def test_the_thread_pool_worker_batches_its_task_events(log_dir) -> None:
    """Flower's view of the check worker: every task's received, started and succeeded events,
    in task.multi batches. The thread pool runs under Celery's event loop (the hub), which
    buffers task events as it does for prefork: they are not a publish each."""
    from main import app

    with Vhost('route_check_events') as vhost, Connection(vhost.url) as conn:
        channel = conn.default_channel
        queue = task_events_queue(channel)
        worker = start_worker('check', base_env(BROKER_URL=vhost.url), log_dir, name='worker-events')
        try:
            ids = {app.send_task(routing.TCP_CHECK, args=['127.0.0.1', 9, 1.0], connection=conn).id
                   for _ in range(30)}
            batches: list[list[dict]] = []
            seen: dict[str, set[str]] = {}

            def all_succeeded() -> bool:
                while (message := channel.basic_get(queue, no_ack=True)) is not None:
                    events = json.loads(message.body)
                    if isinstance(events, dict):
                        events = [events]
                    key = message.delivery_info['routing_key']
                    batches.append([{**e, 'routing_key': key} for e in events])
                    for event in events:
                        seen.setdefault(event['uuid'], set()).add(event['type'])
                return all('task-succeeded' in seen.get(i, ()) for i in ids)

            wait_for(all_succeeded, 30, 0.05, 'every task succeeded, by its events')
        finally:
            worker.stop()
    worker_batches = [b for b in batches if b[0]['type'] != 'task-sent']
    assert {e['routing_key'] for b in worker_batches for e in b} == {'task.multi'}
    assert len(worker_batches) < sum(map(len, worker_batches)), [len(b) for b in worker_batches]
    assert all(seen[i] >= {'task-received', 'task-started', 'task-succeeded'} for i in ids)
