"""Publishing Celery messages with aio-pika: confirmed, retried, and never blocking the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection
from kombu import Exchange, Queue
from kombu.transport.base import to_rabbitmq_queue_arguments
from kombu.utils.functional import fxrange

from .errors import BrokerUnavailable
from .messages import Publication

log = logging.getLogger(__name__)

# What a publish can fail with while the broker is away or the channel is being rebuilt.
# ChannelInvalidStateError is a RuntimeError, not an AMQPError: it is what publishing on a
# channel raises once its connection is gone. Without it here a broker restart turned every
# request into a 500 instead of a 503 (chaos test, scenario 3).
_TRANSIENT = (ConnectionError, OSError, asyncio.TimeoutError, aiormq.exceptions.AMQPError,
              aiormq.exceptions.ChannelInvalidStateError, aio_pika.exceptions.AMQPException)


def _amqp_value(value: Any) -> Any:
    """AMQP tables (pamqp) take lists and dicts, not tuples or UUIDs."""
    if isinstance(value, (list, tuple)):
        return [_amqp_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _amqp_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def amqp_message(publication: Publication) -> aio_pika.Message:
    """The aio-pika Message of a publication, its headers and expiration as AMQP wants them."""
    properties = dict(publication.properties)
    expiration = properties.pop('expiration', None)  # kombu gives milliseconds as text
    # aiormq needs a message_id to match a returned (unroutable) message to its publish, and
    # makes up a random one if there is none; the task id is a more useful one.
    properties.setdefault('message_id', properties.get('correlation_id'))
    return aio_pika.Message(
        publication.body,
        headers=_amqp_value(publication.headers),
        expiration=int(expiration) / 1000 if expiration is not None else None,
        **properties,
    )


def _declared_key(confirm: bool, entity: Exchange | Queue) -> tuple[bool, str, str]:
    """Where ``Publisher._declared`` keeps an entity declared on the channel of ``confirm``."""
    return confirm, 'queue' if isinstance(entity, Queue) else 'exchange', entity.name


def broker_urls(url: str) -> list[str]:
    """The nodes of a BROKER_URL, in Celery's form: ``amqp://n1//;amqp://n2//`` (kombu splits the same)."""
    urls = [part.strip() for part in url.split(';') if part.strip()]
    if not urls:
        raise ValueError('the broker URL names no node')
    return urls


@dataclass(frozen=True)
class _Channels:
    tasks: AbstractChannel  # publisher confirms: a task is accepted once the broker confirms it
    events: AbstractChannel  # no confirms: a lost task-sent event costs a line in Flower, not a task

    @property
    def open(self) -> bool:
        return not (self.tasks.is_closed or self.events.is_closed)

    def by_confirm(self, confirm: bool) -> AbstractChannel:
        return self.tasks if confirm else self.events


class QueueDepth(NamedTuple):
    """What a passive ``queue_declare`` tells of a queue."""

    messages: int  # ready, not yet delivered to a consumer
    consumers: int


class Publisher:
    """One AMQP connection per process, to one node of the broker, with a confirmed channel for tasks.

    The broker may be several nodes (a cluster): the publisher connects to the first that answers
    and, when that connection is lost, to the next one, round the list. A publish caught by the
    loss fails with a transient error, and ``publish`` retries it on the new connection.

    Events (task-sent) go over a second channel without confirms: losing one costs a line in
    Flower, not a task, and they should not add a round trip to every request.
    """

    def __init__(self, url: str, *, connect_timeout: float = 2.0, confirm_timeout: float = 2.0,
                 publish_timeout: float = 5.0, heartbeat: int = 30,
                 on_connection: Callable[[bool], None] = lambda up: None):
        self.urls = broker_urls(url)
        self._on_connection = on_connection  # told when the connection comes up or goes down
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self.publish_timeout = publish_timeout
        self.heartbeat = heartbeat
        self.node = 0  # index in ``urls`` of the node connected to, or to try first
        self._connection: AbstractConnection | None = None
        self._channels: _Channels | None = None
        self._declared: set[tuple[bool, str, str]] = set()  # (confirm, kind, name)
        self._connecting: asyncio.Future | None = None

    @property
    def connected(self) -> bool:
        return (self._connection is not None and not self._connection.is_closed
                and self._channels is not None and self._channels.open)

    async def connect(self) -> None:
        """Connect unless connected; after a loss this is what moves to the next node.

        The attempt is a task of its own, shielded from the requests waiting for it: one that
        gives up (its publish timeout) must not cancel it half-way.
        """
        if self.connected:
            return
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._open())
        await asyncio.shield(self._connecting)

    async def _open(self) -> None:
        """Try every node once, starting with ``self.node``; keep the first that answers."""
        await self._discard()
        errors = []
        for step in range(len(self.urls)):
            node = (self.node + step) % len(self.urls)
            try:
                connection, channels = await self._open_node(self.urls[node])
            except _TRANSIENT as exc:
                errors.append(f'node {node + 1}: {exc!r}')
                continue
            self.node, self._connection, self._channels = node, connection, channels
            self._declared.clear()  # after any publish on the old channels has returned
            connection.close_callbacks.add(self._lost)
            self._on_connection(True)
            if errors:
                log.warning('connected to broker node %d of %d', node + 1, len(self.urls))
            return
        raise BrokerUnavailable('cannot connect to the broker: ' + '; '.join(errors))

    async def _open_node(self, url: str) -> tuple[AbstractConnection, _Channels]:
        connection = await aio_pika.connect(
            url, timeout=self.connect_timeout, heartbeat=self.heartbeat,
            client_properties={'connection_name': 'tcelery gateway'},
        )
        try:
            return connection, _Channels(
                tasks=await connection.channel(publisher_confirms=True, on_return_raises=True),
                events=await connection.channel(publisher_confirms=False),
            )
        except BaseException:
            await connection.close()
            raise

    def _lost(self, connection: AbstractConnection, exc: BaseException | None) -> None:
        """The node went away (or closed us): the next connect starts with the next node."""
        if connection is not self._connection:
            return
        log.warning('lost broker node %d of %d (%r)', self.node + 1, len(self.urls), exc)
        self.node = (self.node + 1) % len(self.urls)
        self._forget()

    def _forget(self) -> None:
        # The old channels stay until new ones replace them: a publish still holding them gets a
        # transient error (and is retried), not a KeyError.
        if self._connection is not None:
            self._on_connection(False)
        self._connection = None
        self._declared.clear()

    async def _discard(self) -> None:
        """Close what is left of a connection that is no longer usable (e.g. a closed channel)."""
        connection = self._connection
        self._forget()
        if connection is not None and not connection.is_closed:
            connection.close_callbacks.discard(self._lost)
            with contextlib.suppress(*_TRANSIENT):
                await connection.close()

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        await self._discard()

    async def depth(self, queue: str) -> QueueDepth:
        """Messages ready in ``queue`` and its consumers, by a passive declare (none for a queue
        not declared yet).

        On the events channel's own AMQP channel: aio-pika's robust channel answers a passive
        declare of a known queue from its cache, and reopens the channel a 404 closes.
        """
        await self.connect()
        channel = await self._channels.events.get_underlay_channel()
        try:
            declared = await channel.queue_declare(queue, passive=True, timeout=self.confirm_timeout)
        except aiormq.exceptions.ChannelNotFoundEntity:
            return QueueDepth(0, 0)
        return QueueDepth(declared.message_count or 0, declared.consumer_count or 0)

    async def publish(self, publication: Publication, *, confirm: bool = True) -> None:
        """Publish, retrying as the message's retry policy says, within ``publish_timeout``.

        With ``confirm`` it returns only once the broker has confirmed the message (routed, and
        written to disk when persistent), and raises BrokerUnavailable otherwise.
        """
        policy = publication.retry_policy or {}
        max_retries = policy.get('max_retries') or 0
        intervals = None
        try:
            async with asyncio.timeout(self.publish_timeout):
                for attempt in range(max_retries + 1):
                    try:
                        await self.connect()
                        await self._publish_once(publication, confirm)
                        return
                    except (BrokerUnavailable, *_TRANSIENT) as exc:
                        if attempt == max_retries:
                            raise
                        log.warning('publish failed (%r), retry %d/%d', exc, attempt + 1, max_retries)
                        intervals = intervals or fxrange(
                            policy.get('interval_start', 0),
                            policy.get('interval_max', 1) + policy.get('interval_start', 0),
                            policy.get('interval_step', 0.2), repeatlast=True)
                        await asyncio.sleep(next(intervals))
        except BrokerUnavailable:
            raise
        except _TRANSIENT as exc:  # includes PublishError: returned as unroutable
            raise BrokerUnavailable(f'broker did not accept the message: {exc!r}') from exc

    async def _publish_once(self, publication: Publication, confirm: bool) -> None:
        for entity in publication.declare:
            if _declared_key(confirm, entity) not in self._declared:  # once per connection
                await self._declare(confirm, entity)
        channel = await self._channels.by_confirm(confirm).get_underlay_channel()
        message = amqp_message(publication)
        # aiormq's publish, as aio-pika's Exchange.publish calls it, but with wait=False: the
        # request does not also wait for aiormq's writer to have written the frame, a wake-up of
        # its own per request. The broker's confirm (or a Basic.Return: PublishError, since the
        # channel has on_return_raises) is what the request waits for.
        await channel.basic_publish(message.body, exchange=publication.exchange,
                                    routing_key=publication.routing_key, properties=message.properties,
                                    mandatory=confirm, timeout=self.confirm_timeout if confirm else None,
                                    wait=False)

    async def _declare(self, confirm: bool, entity: Exchange | Queue) -> None:
        """Declare as kombu would, with the same arguments."""
        channel = self._channels.by_confirm(confirm)
        exchange = entity.exchange if isinstance(entity, Queue) else entity
        declared_exchange = None
        if exchange is not None and exchange.name:
            declared_exchange = await channel.declare_exchange(
                exchange.name, type=exchange.type, durable=exchange.durable,
                auto_delete=exchange.auto_delete, arguments=exchange.arguments,
            )
            self._declared.add((confirm, 'exchange', exchange.name))
        if isinstance(entity, Queue):
            queue = await channel.declare_queue(
                entity.name, durable=entity.durable, exclusive=entity.exclusive,
                auto_delete=entity.auto_delete,
                arguments=to_rabbitmq_queue_arguments(
                    entity.queue_arguments or {}, expires=entity.expires,
                    message_ttl=entity.message_ttl, max_length=entity.max_length,
                    max_length_bytes=entity.max_length_bytes, max_priority=entity.max_priority,
                ),
            )
            if declared_exchange is not None:
                await queue.bind(declared_exchange, routing_key=entity.routing_key,
                                 arguments=entity.binding_arguments)
            self._declared.add(_declared_key(confirm, entity))
