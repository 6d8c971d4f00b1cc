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

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from celery import Celery

from .errors import BrokerUnavailable
from .messages import Publication, RecordingProducer

log = logging.getLogger(__name__)


class SentEvents:
    """Buffers task-sent events and publishes each batch with ``publish``, off the request path."""

    def __init__(self, app: Celery, publish: Callable[[Publication], Awaitable[None]], *,
                 limit: int = 100, delay: float = 0.1):
        self._publish = publish
        self.limit = limit
        self.delay = delay
        self._recorder = RecordingProducer()
        # We decide when to flush (full, or ``delay`` after the first event), so the
        # dispatcher's own limit is never reached.
        self._dispatcher = app.events.Dispatcher(buffer_group=['task'], buffer_limit=2**31,
                                                 buffer_while_offline=False)
        self._dispatcher.producer = self._recorder  # publishes are recorded, not sent
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._publishing: set[asyncio.Task] = set()

    def add(self, fields: dict[str, Any]) -> None:
        """Buffer one task's event (the ``sent_event`` fields ``send_task_message`` sends)."""
        self._dispatcher.send('task-sent', **fields)
        self._count += 1
        if self._count >= self.limit:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self.flush)

    def flush(self) -> None:
        """Publish what is buffered, as one message, in a task of its own."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._dispatcher.flush(errors=False)
        count, self._count = self._count, 0
        for batch in self._recorder.publications:
            task = asyncio.create_task(self._send(batch, count))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)
        self._recorder.publications = []

    async def _send(self, batch: Publication, count: int) -> None:
        try:
            await self._publish(batch)
        except BrokerUnavailable as exc:  # the tasks are safe; only their "sent" line in Flower is lost
            log.warning('%d task-sent event(s) dropped: %s', count, exc)

    async def close(self) -> None:
        """Publish what is left and wait for every batch."""
        self.flush()
        await asyncio.gather(*self._publishing)
