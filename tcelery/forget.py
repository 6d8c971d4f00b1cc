"""Deleting delivered results from Redis: Celery's ``AsyncResult.forget()``, batched.

A result the gateway has handed to its caller will not be asked for again, so keeping it until
``result_expires`` only fills Redis (~0.4 KB a result, hundreds a second). Keys are collected
and deleted with one ``UNLINK`` per batch (Redis frees the memory in a background thread), at
most ``delay`` seconds after the first key or as soon as ``limit`` are waiting: no request waits
for it. A failed batch is only logged: its keys expire with their TTL anyway.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Forgetter:
    """Batches ``UNLINK``s of result keys; ``deleted`` and ``failed`` count keys, for metrics."""

    def __init__(self, client: aioredis.Redis, *, limit: int = 500, delay: float = 0.2):
        self._redis = client
        self.limit = limit
        self.delay = delay
        self.deleted = 0  # keys in batches Redis accepted (a key already gone counts too)
        self.failed = 0  # keys of batches that failed, left to their TTL
        self._keys: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._unlinking: set[asyncio.Task] = set()

    def add(self, key: bytes) -> None:
        self._keys.append(key)
        if len(self._keys) >= self.limit:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self.flush)

    def flush(self) -> None:
        """Delete what is waiting, in a task of its own."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._keys:
            return
        keys, self._keys = self._keys, []
        task = asyncio.create_task(self._unlink(keys))
        self._unlinking.add(task)
        task.add_done_callback(self._unlinking.discard)

    async def _unlink(self, keys: list[bytes]) -> None:
        try:
            await self._redis.unlink(*keys)
        except (RedisError, OSError) as exc:
            self.failed += len(keys)
            log.warning('%d delivered result(s) not deleted, left to their TTL: %r', len(keys), exc)
            return
        self.deleted += len(keys)

    async def close(self) -> None:
        """Delete what is left and wait for every batch."""
        self.flush()
        await asyncio.gather(*self._unlinking)
