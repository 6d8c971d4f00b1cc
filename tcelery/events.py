"""Task-sent events, batched the way a Celery worker batches its task events.

Flower learns of a task's "sent" state, queue and routing from a ``task-sent`` event. One AMQP
publish per event costs the gateway about as much as the task's own publish, so the events are
buffered by Celery's own ``EventDispatcher`` (``buffer_group=['task']``) and published as one
message holding a list of events, routing key ``task.multi``: what Celery's event receivers,
Flower's included, read since Celery 4. A batch leaves when it is full or ``delay`` seconds
after its first event. An event that arrives after the worker's own events still fills in the
task's routing in Flower; it does not move the task back to SENT.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from celery import Celery

from .batching import Batcher
from .errors import BrokerUnavailable
from .messages import Publication, RecordingProducer

log = logging.getLogger(__name__)


class SentEvents(Batcher):
    """Buffers task-sent events and publishes each batch with ``publish``, off the request path."""

    def __init__(self, app: Celery, publish: Callable[[Publication], Awaitable[None]], *,
                 limit: int = 100, delay: float = 0.1):
        super().__init__(limit=limit, delay=delay)
        self._publish = publish
        self._recorder = RecordingProducer()
        # We decide when to flush (full, or ``delay`` after the first event), so the
        # dispatcher's own limit is never reached.
        self._dispatcher = app.events.Dispatcher(buffer_group=['task'], buffer_limit=2**31,
                                                 buffer_while_offline=False)
        self._dispatcher.producer = self._recorder  # publishes are recorded, not sent

    def add(self, fields: dict[str, Any]) -> None:
        """Buffer one task's event (the ``sent_event`` fields ``send_task_message`` sends)."""
        self._dispatcher.send('task-sent', **fields)
        self.added()

    def take(self, count: int) -> list[Coroutine[Any, Any, None]]:
        """What is buffered, as one message."""
        self._dispatcher.flush(errors=False)
        batches, self._recorder.publications = self._recorder.publications, []
        return [self._send(batch, count) for batch in batches]

    async def _send(self, batch: Publication, count: int) -> None:
        try:
            await self._publish(batch)
        except BrokerUnavailable as exc:  # the tasks are safe; only their "sent" line in Flower is lost
            log.warning('%d task-sent event(s) dropped: %s', count, exc)
