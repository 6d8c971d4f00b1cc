"""Which Celery workers are up, from the events they send: worker-online, worker-heartbeat (every
2 s) and worker-offline, read off the broker's event exchange as Flower reads them.

Celery's own ``events.state.State`` judges them: a worker is alive until its last heartbeat, timed
by our clock when it arrived, is older than twice its interval (4 s), and at once gone when it says
offline. Asking costs no I/O: the events come in the background, one small message per worker
every 2 s, on a connection of their own. While the broker is away no heartbeat arrives, so every
worker ages out: nothing can reach them then anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

import aio_pika
from celery import Celery
from celery.events.state import State, Worker
from kombu.serialization import loads

from .publisher import broker_urls

log = logging.getLogger('tcelery')

RECONNECT_DELAY = 1.0  # seconds between attempts, round the broker's nodes
# An event older than this is not worth reading: no heartbeat waits longer than its interval.
EVENT_TTL_MS = 10_000


class LiveWorkers:
    """``alive()`` is every worker heard from recently; ``start()`` begins listening."""

    def __init__(self, app: Celery, broker_url: str | None = None, *, heartbeat: int = 10,
                 connect_timeout: float = 2.0):
        self.app = app
        self.urls = broker_urls(broker_url or app.conf.broker_url)
        self.heartbeat = heartbeat  # AMQP's, so a silent half-open connection is found in seconds
        self.connect_timeout = connect_timeout
        self.state = State()
        self._listening: asyncio.Task | None = None

    def start(self) -> None:
        if self._listening is None:
            self._listening = asyncio.create_task(self._listen(), name='tcelery-workers')

    def alive(self) -> list[Worker]:
        return [worker for worker in self.state.workers.values() if worker.alive]

    def observe(self, event: dict) -> None:
        """Take one worker event (as Celery sends it): timed here, so clocks may differ."""
        self.state.event({**event, 'local_received': time.time()})

    async def _listen(self) -> None:
        failing = False  # logged once per outage, not once per attempt
        for url in itertools.cycle(self.urls):
            try:
                await self._consume(url)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away or restarting: try again, next node
                if not failing:
                    log.warning('worker events: %r; reconnecting every %g s', exc, RECONNECT_DELAY)
                failing = True
            await asyncio.sleep(RECONNECT_DELAY)

    async def _consume(self, url: str) -> None:
        connection = await aio_pika.connect(url, timeout=self.connect_timeout, heartbeat=self.heartbeat,
                                            client_properties={'connection_name': 'tcelery worker events'})
        async with connection:
            channel = await connection.channel()
            # Declared as Celery declares it (events/event.py): a durable topic exchange.
            exchange = await channel.declare_exchange(self.app.conf.event_exchange,
                                                      aio_pika.ExchangeType.TOPIC, durable=True)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True,
                                                arguments={'x-message-ttl': EVENT_TTL_MS})
            await queue.bind(exchange, 'worker.#')  # not the task events: those are many more
            closed = asyncio.get_running_loop().create_future()
            connection.close_callbacks.add(lambda *_: closed.done() or closed.set_result(None))
            await queue.consume(self._on_message, no_ack=True)
            log.info('worker events: listening on %s', url.rpartition('@')[2])
            await closed

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        with contextlib.suppress(Exception):  # one malformed event must not end the listening
            self.observe(loads(message.body, message.content_type, message.content_encoding or 'utf-8'))

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
