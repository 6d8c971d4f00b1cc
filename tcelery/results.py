"""Awaiting task results from Celery's Redis result backend with ``redis.asyncio``.

The backend SETs ``celery-task-meta-<id>`` and PUBLISHes the same payload on a channel of the
same name. Like Celery's own ResultConsumer we subscribe *before* the task is published, then
GET once, so a result that arrives before we listen is never missed. One pub/sub connection
serves every waiting request of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis.asyncio as aioredis
from celery import states
from redis.exceptions import RedisError

from .errors import ResultBackendUnavailable, ResultTimeout

log = logging.getLogger(__name__)

Meta = dict[str, Any]

# What the shared pub/sub connection can fail with while Redis restarts. Besides RedisError,
# redis-py's asyncio connection raises AttributeError ('NoneType' object has no attribute
# 'writelines') when a command is written while another coroutine is tearing the same connection
# down. Uncaught, that turned a request into a 500 during a Redis restart (chaos scenario 4).
_PUBSUB_ERRORS = (RedisError, OSError, AttributeError)


class Watch:
    """A subscription to one task's result."""

    def __init__(self, waiter: ResultWaiter, task_id: str, key: bytes, future: asyncio.Future[Meta]):
        self._waiter = waiter
        self.task_id = task_id
        self.key = key
        self.future = future

    async def result(self, timeout: float) -> Meta:
        """The task's ready meta; the GET catches a result stored before we subscribed."""
        if not self.future.done():
            try:
                meta = await self._waiter.fetch_key(self.key)
            except ResultBackendUnavailable as exc:
                raise ResultBackendUnavailable(str(exc), self.task_id) from exc
            if meta is not None and meta['status'] in states.READY_STATES:
                return meta
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), timeout)
        except TimeoutError:
            raise ResultTimeout(self.task_id, timeout) from None


class ResultWaiter:
    def __init__(self, url: str, key_for: Callable[[str], bytes], decode: Callable[[bytes], Meta], *,
                 socket_timeout: float = 2.0):
        # Short timeouts: a dead Redis must turn into a quick answer, not a hung request.
        self._redis = aioredis.from_url(url, socket_connect_timeout=socket_timeout,
                                        socket_timeout=socket_timeout, health_check_interval=30)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._key_for = key_for
        self._decode = decode
        self._waiting: dict[bytes, asyncio.Future[Meta]] = {}
        self._reader: asyncio.Task | None = None
        self._commands = asyncio.Lock()  # one writer at a time on the shared pub/sub connection

    async def fetch(self, task_id: str) -> Meta | None:
        """The stored meta of a task, or None when the backend has none (unknown or pending)."""
        return await self.fetch_key(self._key_for(task_id))

    async def fetch_key(self, key: bytes) -> Meta | None:
        try:
            payload = await self._redis.get(key)
        except RedisError as exc:
            raise ResultBackendUnavailable(f'result backend unreachable: {exc}') from exc
        return None if payload is None else self._decode(payload)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    @contextlib.asynccontextmanager
    async def watch(self, task_id: str) -> AsyncIterator[Watch]:
        """Subscribe to the task's result for the duration of the block."""
        key = self._key_for(task_id)
        future: asyncio.Future[Meta] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            try:
                async with self._commands:
                    await self._pubsub.subscribe(key)
                    self._ensure_reader()
            except _PUBSUB_ERRORS as exc:
                raise ResultBackendUnavailable(f'result backend unreachable: {exc!r}') from exc
            yield Watch(self, task_id, key, future)
        finally:
            del self._waiting[key]
            with contextlib.suppress(*_PUBSUB_ERRORS):  # best effort; a stale channel is ignored
                async with self._commands:
                    await self._pubsub.unsubscribe(key)

    def _ensure_reader(self) -> None:
        if self._reader is None:
            # On every (re)connect redis-py resubscribes first, then calls us to fetch what was
            # published while we were away.
            self._pubsub.connection.register_connect_callback(self._refetch)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name='tcelery-results')

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except _PUBSUB_ERRORS as exc:
                log.warning('result channel lost (%r); reconnecting', exc)
                await asyncio.sleep(0.5)
                continue
            if message and message['type'] == 'message':
                self._deliver(message['channel'], self._decode(message['data']))

    def _deliver(self, key: bytes, meta: Meta) -> None:
        future = self._waiting.get(key)
        if future is not None and not future.done() and meta['status'] in states.READY_STATES:
            future.set_result(meta)

    async def _refetch(self, _connection: Any = None) -> None:
        """MGET every pending key: results stored while the channel was down."""
        keys = [key for key, future in self._waiting.items() if not future.done()]
        if not keys:
            return
        try:
            payloads = await self._redis.mget(keys)
        except RedisError as exc:
            log.warning('refetch after reconnect failed: %r', exc)
            return
        for key, payload in zip(keys, payloads, strict=True):
            if payload is not None:
                self._deliver(key, self._decode(payload))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._pubsub.aclose()
        await self._redis.aclose()
