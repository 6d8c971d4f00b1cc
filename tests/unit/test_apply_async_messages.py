"""The gateway's task messages are Celery's: built by tcelery from Celery's own code, compared
with what Celery's apply_async puts on kombu's in-memory transport. The same comparison over
RabbitMQ, through a running gateway, is in tests/test_celery.py."""

from __future__ import annotations

import pytest
from kombu import Connection

import celeryconfig as routes
from tcelery.messages import build_task_messages

pytestmark = pytest.mark.unit

ARGS = {
    routes.ADD: [1, 2],
    routes.HTTP_CHECK: ['http://8.8.8.8/', False, 5.0],
    routes.TCP_CHECK: ['8.8.8.8', 53, 5.0],
    routes.HTTP_CHECK_NO_RESULT: ['http://8.8.8.8/', False, 5.0],
}
VOLATILE = {'id', 'root_id', 'correlation_id'}  # the task id, new for every message


@pytest.fixture(scope='module')
def app():
    from main import app

    app.loader.import_default_modules()  # as web.py's run(): the tasks' options count
    return app


@pytest.mark.parametrize('name', ARGS)
def test_message_is_what_celery_sends(app, name: str) -> None:
    queue = routes.QUEUE_OF[name]
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
    assert ours.headers['ignore_result'] is (name == routes.HTTP_CHECK_NO_RESULT)
    assert [event.routing_key for event in events] == ['task.sent']
