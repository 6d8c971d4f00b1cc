"""The gateway's task messages and task-sent events are Celery's, without a broker."""

from __future__ import annotations

import asyncio
import json

import pytest
from celery import Celery
from celery.events.receiver import EventReceiver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from main import app
from tcelery.events import SentEvents
from tcelery.messages import Publication, TaskMessages, build_task_messages

pytestmark = pytest.mark.unit

TASKS = {
    'add_task.add': st.tuples(st.integers(), st.integers()),
    'check_worker.check': st.tuples(st.text(), st.booleans(), st.floats(allow_nan=False)),
    'check_worker.common_check': st.tuples(st.text(), st.integers(1, 65535), st.floats(0.1, 30)),
    'check_worker.check_ignore_result': st.tuples(st.text(), st.booleans(), st.floats(0.1, 30)),
}
TEMPLATES = {name: TaskMessages(app, name) for name in TASKS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(TASKS)).flatmap(lambda name: st.tuples(st.just(name), TASKS[name])),
       st.uuids())
def test_template_is_what_celery_builds(call: tuple, task_id) -> None:
    """Byte for byte the message of Celery's full path (router, as_task_v2, send_task_message),
    and the same task-sent fields (Celery adds clock and timestamp when it sends them)."""
    name, args = call
    _, expected, events = build_task_messages(app, name, list(args), None, str(task_id))
    message, sent = TEMPLATES[name].build(str(task_id), list(args))
    assert message == expected
    event = json.loads(events[0].body)
    assert sent == {key: value for key, value in event.items()
                    if key not in {'hostname', 'utcoffset', 'pid', 'clock', 'timestamp', 'type'}}


def test_sent_events_leave_in_batches_celery_receivers_read() -> None:
    published: list[Publication] = []

    async def publish(batch: Publication) -> None:
        published.append(batch)

    async def scenario() -> None:
        events = SentEvents(app, publish, limit=3, delay=0.05)
        for n in range(4):  # a full batch of 3 leaves at once, the 4th after the delay
            _, sent = TEMPLATES['add_task.add'].build(f'id-{n}', [n, n])
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
