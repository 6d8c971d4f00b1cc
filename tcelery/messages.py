"""Task messages built by Celery's own code, ready for any AMQP client.

Celery's ``app.amqp.send_task_message`` decides the exchange, routing key, delivery mode,
headers, the entities to declare and the "task-sent" event; kombu's ``Producer.publish`` then
serializes the body and fills the properties. We let both run against a producer that records
the final publish call instead of writing to a socket, so what aio-pika sends is byte for byte
what Celery would have sent.

That whole path costs ~80 µs, and most of it (routing, exchange, properties, declarations, event
routing) is the same for every call of a task. ``TaskMessages`` runs it once per task name and
afterwards calls only the per-call part of Celery's code: ``as_task_v2`` for the headers, body and
the task-sent event's fields.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from celery import Celery
from kombu import Exchange, Producer, Queue
from kombu.serialization import dumps, loads


@dataclass(frozen=True)
class Publication:
    """One AMQP publish: where to, the encoded body, and its properties."""

    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    properties: dict[str, Any]  # content_type, content_encoding, delivery_mode, correlation_id...
    declare: tuple[Exchange | Queue, ...] = ()
    retry_policy: dict[str, Any] | None = field(default=None)  # None: do not retry


class RecordingProducer(Producer):
    """A kombu Producer without a channel that keeps what it would have published."""

    def __init__(self) -> None:
        super().__init__(None)
        self.publications: list[Publication] = []
        self._retry_policy: dict[str, Any] | None = None

    def publish(self, body: Any, retry: bool = False, retry_policy: dict | None = None,
                **kwargs: Any) -> None:
        # kombu's own retry needs a blocking connection; the publisher retries instead.
        self._retry_policy = dict(retry_policy or {}) if retry else None
        super().publish(body, retry=False, **kwargs)

    def _publish(self, body: bytes, priority: int | None, content_type: str, content_encoding: str,
                 headers: dict, properties: dict, routing_key: str, mandatory: bool, immediate: bool,
                 exchange: str, declare: list, *args: Any, **kwargs: Any) -> None:
        properties = dict(properties, content_type=content_type, content_encoding=content_encoding)
        if priority:
            properties['priority'] = priority
        self.publications.append(Publication(
            exchange=exchange or '',
            routing_key=routing_key or '',
            body=body if isinstance(body, bytes) else body.encode(content_encoding or 'utf-8'),
            headers=headers,
            properties=properties,
            declare=tuple(declare),
            retry_policy=self._retry_policy,
        ))


def _task_options(app: Celery, name: str, args: list | tuple, kwargs: dict | None,
                  queue: str | None = None) -> tuple[dict, dict]:
    """(as_task_v2's keyword arguments, send_task_message's options), as ``Celery.send_task``
    works them out: the task's own options, then the router. ``queue`` is apply_async's."""
    task = app.tasks.get(name)
    exec_options = task._get_exec_options() if task else {}
    options: dict[str, Any] = {k: v for k, v in exec_options.items() if v is not None}
    if queue is not None:
        options['queue'] = queue
    message_options = {
        'reply_to': app.thread_oid,
        'time_limit': options.pop('time_limit', None),
        'soft_time_limit': options.pop('soft_time_limit', None),
        # Seconds, which as_task_v2 turns into an absolute time on every call. Unlike
        # send_task we do not also set the AMQP ``expiration``: RabbitMQ would drop an expired
        # message without a trace, while the worker discards it and stores REVOKED ("expired"),
        # an answer for whoever holds its task id.
        'expires': options.pop('expires', None),
        'create_sent_event': app.conf.task_send_sent_event,
        'ignore_result': bool(task and task.ignore_result),
    }
    options = app.amqp.router.route(options, name, args, kwargs, task)
    if queue is not None and message_options['expires'] is not None:
        # A queue named by the caller may lose its consumers for good (a worker location that
        # went away): there the broker drops the task once it is not worth running, which is
        # what Celery's send_task does with every expiring task (AMQP expiration).
        options['expiration'] = message_options['expires']
    return {**message_options, **options}, options


def build_task_messages(app: Celery, name: str, args: list | tuple = (), kwargs: dict | None = None,
                        task_id: str | None = None, headers: dict[str, Any] | None = None,
                        queue: str | None = None) -> tuple[str, Publication, list[Publication]]:
    """The task's message and its events (the "task-sent" event when enabled), as Celery makes them.

    Mirrors the steps of ``Celery.send_task``: the task's own options, the router, then
    ``as_task_v2`` and ``send_task_message``, which adds ``headers`` (``apply_async(headers=...)``)
    to the message's own.
    """
    task_id = task_id or str(uuid.uuid4())
    message_options, options = _task_options(app, name, args, kwargs, queue)
    message = app.amqp.as_task_v2(task_id, name, args, kwargs, **message_options)
    recorder = RecordingProducer()
    app.amqp.send_task_message(recorder, name, message, headers=headers, **options)
    task_message, *events = recorder.publications
    return task_id, task_message, events


class TaskMessages:
    """One task's messages to one queue (its routed one, or ``queue``): ``build_task_messages``
    run once, then only the per-call part.

    The router, exchange, routing key, delivery mode, declarations and retry policy do not
    depend on the arguments of a call (our routes are by task name).
    """

    def __init__(self, app: Celery, name: str, queue: str | None = None):
        self._app = app
        self._name = name
        self._options, _ = _task_options(app, name, (), None, queue)
        _, self._task, events = build_task_messages(app, name, queue=queue)
        if 'compression' in self._task.headers:
            raise NotImplementedError('tcelery does not compress task messages (task_compression)')
        self._route: dict[str, Any] = {}
        if events:  # where send_task_message says the task went, for its task-sent event
            sent = loads(events[0].body, events[0].properties['content_type'],
                         events[0].properties['content_encoding'])
            self._route = {key: sent[key] for key in ('queue', 'exchange', 'routing_key')}
        self._serializer = app.conf.task_serializer
        queue = self._options.get('queue')
        self.queue: str = queue.name if isinstance(queue, Queue) else self._task.routing_key

    def build(self, task_id: str, args: list | tuple = (), kwargs: dict | None = None,
              headers: dict[str, Any] | None = None) -> tuple[Publication, dict[str, Any] | None]:
        """The task's message for one call, the same as ``build_task_messages``, and the fields
        of its task-sent event (None when those events are off)."""
        message = self._app.amqp.as_task_v2(task_id, self._name, args, kwargs, **self._options)
        _, _, body = dumps(message.body, serializer=self._serializer)
        task = replace(self._task, body=body.encode() if isinstance(body, str) else body,
                       headers={**self._task.headers, **message.headers, **(headers or {})},
                       properties={**self._task.properties, **message.properties})
        if message.sent_event is None:
            return task, None
        return task, {**message.sent_event, **self._route}
