"""The non-blocking producer: send a task over aio-pika, await its result over redis.asyncio."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task
from kombu import Connection

from .admission import Admission
from .admitted import AdmittedCount
from .errors import BrokerUnavailable, ResultBackendUnavailable
from .events import SentEvents
from .management import ManagementApi
from .messages import TaskMessages
from .observer import Observer
from .publisher import Publisher
from .result_store import celery_backend, result_redis
from .results import Meta, ResultWaiter
from .revoke import revoke_publication, revoked_payload

RESULT_TIMEOUT = 2.0  # seconds for a Redis command or connect: a dead Redis is a quick answer
PUBLISH_TIMEOUT = 5.0  # seconds a send may take, retries included, before BrokerUnavailable


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    status: str
    result: Any
    traceback: str | None = None

    @classmethod
    def from_meta(cls, task_id: str, meta: Meta | None) -> TaskResult:
        if meta is None:  # Celery's convention: an unknown task is PENDING
            return cls(task_id, 'PENDING', None)
        return cls(task_id, meta['status'], meta.get('result'), meta.get('traceback'))

    @property
    def expired(self) -> bool:
        """Discarded by a worker because its ``expires`` had passed (REVOKED, reason "expired")."""
        return (self.status == 'REVOKED' and isinstance(self.result, dict)
                and self.result.get('exc_message') in (['expired'], 'expired'))


class NonBlockingProducer:
    """Everything the gateway needs from Celery, as coroutines.

    ``publish_timeout`` bounds a send, retries included, so a dead broker turns into
    BrokerUnavailable quickly instead of a hung request. With ``max_backlog`` (seconds), a task
    whose queue would take longer than that to drain is refused with Overloaded (admission.py);
    ``management_url`` (RabbitMQ's management API) gives the consume rates of every consumer.
    """

    def __init__(self, celery_app: Celery, *, broker_url: str | None = None,
                 result_url: str | None = None, publish_timeout: float = PUBLISH_TIMEOUT,
                 observer: Observer | None = None, max_backlog: float | None = None,
                 management_url: str | None = None):
        self.app = celery_app
        self.observer = observer or Observer()
        backend = self.backend = celery_backend(celery_app, result_url)  # key naming, coding, URL parsing
        broker_url = broker_url or celery_app.conf.broker_url
        self.publisher = Publisher(broker_url, publish_timeout=publish_timeout,
                                   on_connection=self.observer.broker_connection)
        result_client = result_redis(backend, timeout=RESULT_TIMEOUT)
        self.admission: Admission | None = None
        if max_backlog is not None:
            vhost = Connection(broker_url).virtual_host
            api = ManagementApi(management_url, vhost) if management_url else None
            self.admission = Admission(self.publisher.depth, max_backlog, rate=api and api.ack_rate,
                                       shared=AdmittedCount(result_client, vhost).add)
        self.results = ResultWaiter(result_client,
                                    backend.get_key_for_task, backend.decode, socket_timeout=RESULT_TIMEOUT,
                                    on_subscription=self.observer.result_backend_connection)
        self._messages: dict[tuple[str, str | None], TaskMessages] = {}
        self.sent_events = SentEvents(celery_app, functools.partial(self.publisher.publish, confirm=False))

    async def send(self, task: Task | str, args: list | tuple = (), kwargs: dict | None = None,
                   task_id: str | None = None, headers: dict[str, str] | None = None,
                   queue: str | None = None) -> str:
        """Publish the task; return its id once the broker has confirmed it.

        ``headers`` are added to the message's, as ``apply_async(headers=...)`` adds them;
        ``queue`` sends it to that queue instead of its routed one, as ``apply_async(queue=...)``
        does, and its ``expires`` then also drops it unconsumed on the broker (messages.py).
        Raises Overloaded, before publishing anything, when admission control refuses it.
        """
        name = task if isinstance(task, str) else task.name
        key = (name, queue)
        if key not in self._messages:
            self._messages[key] = TaskMessages(self.app, name, queue)
        messages = self._messages[key]
        if self.admission is not None:
            self.admission.admit(messages.queue)
        task_id = task_id or self.results.new_task_id()
        message, sent_event = messages.build(task_id, args, kwargs, headers)
        started = time.perf_counter()
        try:
            await self.publisher.publish(message)
        except BrokerUnavailable:
            self.observer.published(name, time.perf_counter() - started, False)
            raise
        self.observer.published(name, time.perf_counter() - started, True)
        if sent_event is not None:  # the headers too, so that a monitor such as Flower can show them
            self.sent_events.add({**sent_event, **(headers or {})})
        return task_id

    async def apply_async(self, task: Task | str, args: list | tuple = (), kwargs: dict | None = None,
                          timeout: float = 10.0, headers: dict[str, str] | None = None,
                          queue: str | None = None) -> TaskResult:
        """Send the task (to ``queue``, as ``send`` does) and wait up to ``timeout`` seconds for
        its result.

        Raises BrokerUnavailable (not sent), ResultTimeout (sent, not ready yet) or
        ResultBackendUnavailable (sent, with its ``task_id``: the result will be stored when
        Redis is back, so the caller can hand out the id instead of refusing the work).
        """
        task_id = self.results.new_task_id()
        try:
            async with self.results.watch(task_id) as watch:
                await self.send(task, args, kwargs, task_id, headers, queue)
                return TaskResult.from_meta(task_id, await watch.result(timeout))
        except ResultBackendUnavailable as exc:  # we could not listen, so nothing was sent yet
            await self.send(task, args, kwargs, task_id, headers, queue)
            raise ResultBackendUnavailable(str(exc), task_id) from exc

    async def result(self, task_id: str) -> TaskResult:
        """What the result backend knows of the task now."""
        return TaskResult.from_meta(task_id, await self.results.fetch(task_id))

    async def revoke(self, task_id: str) -> None:
        """Revoke a task that has not run yet, as ``app.control.revoke`` does (revoke.py), and
        store REVOKED for it. The broadcast is not confirmed: a fanout that no worker listens to
        routes nowhere, and that is no failure. Raises BrokerUnavailable or ResultBackendUnavailable."""
        await self.publisher.publish(revoke_publication(self.app, task_id), confirm=False)
        await self.results.store(task_id, revoked_payload(self.backend, task_id), self.backend.expires)

    def forget(self, task_id: str) -> None:
        """Delete the task's result: its caller has it. Batched and off the request path."""
        self.results.forget(task_id)

    async def health(self) -> dict[str, bool]:
        try:
            await self.publisher.connect()
        except BrokerUnavailable:
            pass
        return {'broker': self.publisher.connected, 'result_backend': await self.results.ping()}

    async def close(self) -> None:
        if self.admission is not None:
            await self.admission.close()
        await self.sent_events.close()
        await self.results.close()
        await self.publisher.close()
