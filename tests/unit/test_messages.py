"""The gateway's task messages are Celery's: built by tcelery from Celery's own code, compared
with what Celery's apply_async puts on kombu's in-memory transport. The same comparison over
RabbitMQ, through a running gateway, is in tests/test_celery.py. The per-task template the
gateway uses is compared with that full path, and the batched task-sent events are read back
with Celery's own event receiver."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from celery import Celery
from celery.events.receiver import EventReceiver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import Connection

import routing
from tcelery.events import SentEvents
from tcelery.messages import Publication, TaskMessages, build_task_messages

ARGS = {
    routing.ADD: [1, 2],
    routing.HTTP_CHECK: ['http://8.8.8.8/', False, 5.0],
    routing.TCP_CHECK: ['8.8.8.8', 53, 5.0],
    routing.HTTP_CHECK_NO_RESULT: ['http://8.8.8.8/', False, 5.0],
    routing.CHECK_MANY: [[{'host': '8.8.8.8', 'port': 53, 'timeout': 5.0}]],
}
# The task id, new for every message, and the expiry time (compared on its own).
VOLATILE = {'id', 'root_id', 'correlation_id', 'expires'}
EXPIRES = {routing.ADD: routing.ADD_EXPIRES, routing.HTTP_CHECK: routing.CHECK_EXPIRES,
           routing.TCP_CHECK: routing.CHECK_EXPIRES, routing.HTTP_CHECK_NO_RESULT: routing.CHECK_EXPIRES,
           routing.CHECK_MANY: routing.CHECK_EXPIRES}
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope='module')
def app():
    from main import app

    app.loader.import_default_modules()  # as web.py's run(): the tasks' options count
    return app


@pytest.mark.parametrize('name', ARGS)
def test_message_is_what_celery_sends(app, name: str) -> None:
    queue = routing.QUEUE_OF[name]
    with Connection('memory://') as conn:
        app.tasks[name].apply_async(args=ARGS[name], connection=conn)
        celerys = conn.default_channel.basic_get(queue, no_ack=True)
    _task_id, ours, events = build_task_messages(app, name, ARGS[name])

    assert (ours.exchange, ours.routing_key) == (celerys.delivery_info['exchange'], queue)
    assert ours.body == celerys.body
    assert {k: v for k, v in ours.headers.items() if k not in VOLATILE} == \
        {k: v for k, v in celerys.headers.items() if k not in VOLATILE}
    assert ours.properties['delivery_mode'] == celerys.properties['delivery_mode'] == 2
    assert (ours.properties['content_type'], ours.properties['content_encoding']) == \
        (celerys.content_type, celerys.content_encoding)
    assert ours.headers['ignore_result'] is (name == routing.HTTP_CHECK_NO_RESULT)
    assert [event.routing_key for event in events] == ['task.sent']


def test_custom_headers_travel_as_celerys(app, templates: dict) -> None:
    """``apply_async(headers=...)``: the gateway's request id reaches the worker the same way."""
    headers = {'request_id': 'req-1'}
    with mock.patch.object(app, 'now', return_value=NOW):  # the same expiry time for all three
        with Connection('memory://') as conn:
            app.tasks[routing.ADD].apply_async(args=[1, 2], connection=conn, headers=headers)
            celerys = conn.default_channel.basic_get(routing.QUEUE_OF[routing.ADD], no_ack=True)
        task_id, ours, _ = build_task_messages(app, routing.ADD, [1, 2], headers=headers)
        template = templates[routing.ADD].build(task_id, [1, 2], None, headers)[0]
    assert celerys.headers['request_id'] == ours.headers['request_id'] == 'req-1'
    assert {k: v for k, v in ours.headers.items() if k not in VOLATILE} == \
        {k: v for k, v in celerys.headers.items() if k not in VOLATILE}
    assert template == ours


TASKS = {
    routing.ADD: st.tuples(st.integers(), st.integers()),
    routing.HTTP_CHECK: st.tuples(st.text(), st.booleans(), st.floats(allow_nan=False)),
    routing.TCP_CHECK: st.tuples(st.text(), st.integers(1, 65535), st.floats(0.1, 30)),
    routing.HTTP_CHECK_NO_RESULT: st.tuples(st.text(), st.booleans(), st.floats(0.1, 30)),
    routing.CHECK_MANY: st.tuples(st.lists(st.fixed_dictionaries(
        {'host': st.text(), 'port': st.integers(1, 65535), 'timeout': st.floats(0.1, 30)}))),
}


@pytest.fixture(scope='module')
def templates(app) -> dict[str, TaskMessages]:
    return {name: TaskMessages(app, name) for name in TASKS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TASKS)).flatmap(lambda name: st.tuples(st.just(name), TASKS[name])),
       st.uuids())
def test_template_is_what_celery_builds(app, templates: dict, call: tuple, task_id) -> None:
    """Byte for byte the message of Celery's full path (router, as_task_v2, send_task_message),
    and the same task-sent fields (Celery adds clock and timestamp when it sends them)."""
    name, args = call
    with mock.patch.object(app, 'now', return_value=NOW):  # the same expiry time for both
        _, expected, events = build_task_messages(app, name, list(args), None, str(task_id))
        message, sent = templates[name].build(str(task_id), list(args))
    assert message == expected
    event = json.loads(events[0].body)
    assert sent == {key: value for key, value in event.items()
                    if key not in {'hostname', 'utcoffset', 'pid', 'clock', 'timestamp', 'type'}}


@pytest.mark.parametrize('name', ARGS)
def test_expires_is_made_absolute_per_call_as_apply_async_makes_it(app, templates: dict, name: str) -> None:
    """Each task carries its ``expires`` (seconds) as the time it was sent plus those seconds,
    worked out on every call, as apply_async does; no AMQP expiration (see messages.py)."""
    seconds = timedelta(seconds=EXPIRES[name])
    before = app.now()
    with Connection('memory://') as conn:
        app.tasks[name].apply_async(args=ARGS[name], connection=conn)
        celerys = conn.default_channel.basic_get(routing.QUEUE_OF[name], no_ack=True)
    message, _ = templates[name].build(str(uuid.uuid4()), ARGS[name])
    after = app.now()
    theirs, ours = (datetime.fromisoformat(m.headers['expires']) for m in (celerys, message))
    assert before + seconds <= theirs <= ours <= after + seconds
    assert float(celerys.properties['expiration']) / 1000 == EXPIRES[name]  # Celery's broker TTL
    assert not {'expiration', 'expires'} & message.properties.keys()
    for moment in (NOW, NOW + timedelta(hours=1)):
        with mock.patch.object(app, 'now', return_value=moment):
            message, _ = templates[name].build(str(uuid.uuid4()), ARGS[name])
        assert datetime.fromisoformat(message.headers['expires']) == moment + seconds


def test_sent_events_leave_in_batches_celery_receivers_read(app, templates: dict) -> None:
    published: list[Publication] = []

    async def publish(batch: Publication) -> None:
        published.append(batch)

    async def scenario() -> None:
        events = SentEvents(app, publish, limit=3, delay=0.05)
        for n in range(4):  # a full batch of 3 leaves at once, the 4th after the delay
            _, sent = templates[routing.ADD].build(f'id-{n}', [n, n])
            events.add(sent)
        await asyncio.sleep(0)
        assert len(published) == 1
        await events.close()

    asyncio.run(scenario())
    assert len(published) == 2
    received: list[dict] = []
    receiver = EventReceiver(None, handlers={'*': received.append}, app=app)
    for batch in published:
        assert (batch.exchange, batch.routing_key) == ('celeryev', 'task.multi')
        receiver._receive(json.loads(batch.body), None)
    assert [(e['type'], e['uuid'], e['queue']) for e in received] == [
        ('task-sent', f'id-{n}', 'add_queue') for n in range(4)]
    clocks = [e['clock'] for e in received]
    assert clocks == sorted(clocks) and len(set(clocks)) == 4


def test_compressed_messages_are_refused() -> None:
    """The template fills in an uncompressed body, so it refuses a compressing app."""
    compressing = Celery('compressing', broker='memory://', set_as_current=False)
    compressing.conf.task_compression = 'gzip'

    @compressing.task(name='t')
    def t() -> None: ...

    with pytest.raises(NotImplementedError):
        TaskMessages(compressing, 't')


@pytest.mark.parametrize('name', routing.LOCATED)
def test_a_located_check_goes_where_celerys_apply_async_queue_sends_it(app, name: str) -> None:
    """``queue=``: the queue and exchange Celery makes for a name it was not told of, and the
    task's expiry as the message's AMQP expiration, as Celery's send_task sets it."""
    queue = routing.located_queue(name, 'east')
    with Connection('memory://') as conn:
        app.tasks[name].apply_async(args=ARGS[name], connection=conn, queue=queue)
        celerys = conn.default_channel.basic_get(queue, no_ack=True)
    task_id, ours, _ = build_task_messages(app, name, ARGS[name], queue=queue)
    assert (ours.exchange, ours.routing_key) == (celerys.delivery_info['exchange'], queue)
    assert ours.properties['expiration'] == celerys.properties['expiration'] == str(int(EXPIRES[name] * 1000))
    declared = {entity.name for entity in ours.declare}
    assert queue in declared
    template = TaskMessages(app, name, queue)
    assert template.queue == queue
    built = template.build(task_id, ARGS[name])[0]
    assert (built.exchange, built.routing_key, built.properties['expiration']) == \
        (ours.exchange, ours.routing_key, ours.properties['expiration'])
    unlocated = build_task_messages(app, name, ARGS[name])[1]
    assert 'expiration' not in unlocated.properties and unlocated.routing_key == routing.QUEUE_OF[name]
