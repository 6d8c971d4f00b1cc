"""Awaiting task results from Celery's Redis result backend with ``redis.asyncio``.

The backend SETs ``celery-task-meta-<id>`` and PUBLISHes the same payload on a channel of the
same name. Every task id this process makes starts with a random per-process prefix, and one
pattern subscription (``PSUBSCRIBE celery-task-meta-<prefix>*``) made once receives all their
results: a request costs no Redis command at all, only the one message it waits for.

Like Celery's own ResultConsumer we are subscribed *before* a task is published, so its result
is never missed. While the subscription is down (Redis restarting) no new watch starts; once it
is back, every pending key is fetched with one MGET, for results stored while we were away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from celery import states
from redis.exceptions import RedisError

from .errors import ResultBackendUnavailable, ResultTimeout
from .forget import Forgetter

log = logging.getLogger(__name__)

Meta = dict[str, Any]

# What the shared pub/sub connection can fail with while Redis restarts. Besides RedisError,
# redis-py's asyncio connection raises AttributeError ('NoneType' object has no attribute
# 'writelines') when a command is written while the same connection is being torn down.
_PUBSUB_ERRORS = (RedisError, OSError, AttributeError)


def _glob_escape(pattern: bytes) -> bytes:
    """A key prefix (``global_keyprefix`` may hold anything) as a literal in a Redis pattern."""
    for special in (b'\\', b'*', b'?', b'[', b']'):
        pattern = pattern.replace(special, b'\\' + special)
    return pattern


class Watch:
    """A task id whose result this process is waiting for, during an ``async with`` block.

    A class rather than an ``asynccontextmanager``: it is entered once per request, and the
    generator machinery cost more than the work it wraps.
    """

    def __init__(self, waiter: ResultWaiter, task_id: str):
        if not task_id.startswith(waiter.id_prefix):
            raise ValueError(f'{task_id} was not made by this waiter, so its result would not reach it')
        self.task_id = task_id
        self._waiter = waiter
        self._key = waiter.key_for(task_id)
        self.future: asyncio.Future[Meta] = asyncio.get_running_loop().create_future()

    async def __aenter__(self) -> Watch:
        await self._waiter.ensure_subscribed()
        self._waiter.waiting[self._key] = self.future
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        del self._waiter.waiting[self._key]

    async def result(self, timeout: float) -> Meta:
        """The task's ready meta, or ResultTimeout after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):  # cancels only this watch's own future
                return await self.future
        except TimeoutError:
            raise ResultTimeout(self.task_id, timeout) from None


class ResultWaiter:
    def __init__(self, client: aioredis.Redis, key_for: Callable[[str], bytes],
                 decode: Callable[[bytes], Meta], *, socket_timeout: float = 2.0,
                 on_subscription: Callable[[bool], None] = lambda up: None):
        # The client may follow a Sentinel master (result_store.py): each reconnect of the pub/sub
        # connection then lands on the current master, and is followed by the usual refetch.
        self._redis = client
        self._pubsub = self._redis.pubsub()
        self.key_for = key_for
        self._decode = decode
        self._timeout = socket_timeout
        self.id_prefix = secrets.token_hex(4)
        self._pattern = _glob_escape(key_for(self.id_prefix)) + b'*'
        self.waiting: dict[bytes, asyncio.Future[Meta]] = {}
        self._subscribed = asyncio.Event()  # set while the pattern subscription is confirmed
        self._subscribing = asyncio.Lock()
        self._reader: asyncio.Task | None = None
        self._reconnecting = False  # the subscription was lost; not set during the first one
        self._on_subscription = on_subscription  # told when the subscription is confirmed or lost
        self.forgetter = Forgetter(self._redis)

    def new_task_id(self) -> str:
        """A random UUID4 whose first group is this process's prefix, so our pattern matches it."""
        return self.id_prefix + str(uuid.uuid4())[8:]

    async def fetch(self, task_id: str) -> Meta | None:
        """The stored meta of a task, or None when the backend has none (unknown or pending)."""
        try:
            payload = await self._redis.get(self.key_for(task_id))
        except RedisError as exc:
            raise ResultBackendUnavailable(f'result backend unreachable: {exc}') from exc
        return None if payload is None else self._decode(payload)

    async def store(self, task_id: str, payload: bytes, expires: int | None) -> None:
        """Store a task's meta as Celery's Redis backend does (SET with its TTL, then PUBLISH, so
        whoever waits for it wakes)."""
        key = self.key_for(task_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.set(key, payload, ex=expires or None).publish(key, payload).execute()
        except RedisError as exc:
            raise ResultBackendUnavailable(f'result backend unreachable: {exc}', task_id) from exc

    def forget(self, task_id: str) -> None:
        """Delete the task's stored result soon (batched, in the background)."""
        self.forgetter.add(self.key_for(task_id))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    def watch(self, task_id: str) -> Watch:
        """Wait for ``task_id``'s result during an ``async with`` block; made by ``new_task_id``."""
        return Watch(self, task_id)

    async def ensure_subscribed(self) -> None:
        """Subscribe on first use (concurrent first requests wait for it); later, while the reader
        is reconnecting, refuse at once (the caller sends anyway and hands out the task id)
        rather than hold the request."""
        if self._subscribed.is_set():
            return
        if self._reconnecting:
            raise ResultBackendUnavailable('result backend unreachable: the result channel is reconnecting')
        try:
            async with asyncio.timeout(self._timeout):
                async with self._subscribing:
                    if self._reader is None:
                        await self._pubsub.psubscribe(self._pattern)
                        self._reader = asyncio.create_task(self._read(), name='tcelery-results')
                await self._subscribed.wait()
        except (TimeoutError, *_PUBSUB_ERRORS) as exc:
            raise ResultBackendUnavailable(f'result backend unreachable: {exc!r}') from exc

    async def _read(self) -> None:
        """Deliver results; on a lost connection redis-py reconnects and subscribes again."""
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except _PUBSUB_ERRORS as exc:
                if self._subscribed.is_set():
                    log.warning('result channel lost (%r); reconnecting', exc)
                    self._on_subscription(False)
                self._subscribed.clear()
                self._reconnecting = True
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            if message['type'] == 'pmessage':
                self._deliver(message['channel'], message['data'])
            elif message['type'] == 'psubscribe':
                self._reconnecting = False
                self._subscribed.set()
                self._on_subscription(True)
                await self._refetch()

    def _deliver(self, key: bytes, payload: bytes) -> None:
        future = self.waiting.get(key)
        if future is None or future.done():
            return
        meta = self._decode(payload)
        if meta['status'] in states.READY_STATES:
            future.set_result(meta)

    async def _refetch(self) -> None:
        """MGET every pending key: results stored while the subscription was down."""
        keys = [key for key, future in self.waiting.items() if not future.done()]
        if not keys:
            return
        try:
            payloads = await self._redis.mget(keys)
        except RedisError as exc:
            log.warning('refetch after reconnect failed: %r', exc)
            return
        for key, payload in zip(keys, payloads, strict=True):
            if payload is not None:
                self._deliver(key, payload)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.forgetter.close()
        await self._pubsub.aclose()
        await self._redis.aclose()
