"""Deleting delivered results from Redis: Celery's ``AsyncResult.forget()``, batched.

A result the gateway has handed to its caller will not be asked for again, so keeping it until
``result_expires`` only fills Redis (~0.4 KB a result, hundreds a second). Keys are collected
and deleted with one ``UNLINK`` per batch (Redis frees the memory in a background thread), at
most ``delay`` seconds after the first key or as soon as ``limit`` are waiting: no request waits
for it. A failed batch is only logged: its keys expire with their TTL anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .batching import Batcher

log = logging.getLogger(__name__)


class Forgetter(Batcher):
    """Batches ``UNLINK``s of result keys; ``deleted`` and ``failed`` count keys, for metrics."""

    def __init__(self, client: aioredis.Redis, *, limit: int = 500, delay: float = 0.2):
        super().__init__(limit=limit, delay=delay)
        self._redis = client
        self.deleted = 0  # keys in batches Redis accepted (a key already gone counts too)
        self.failed = 0  # keys of batches that failed, left to their TTL
        self._keys: list[bytes] = []

    def add(self, key: bytes) -> None:
        self._keys.append(key)
        self.added()

    def take(self, count: int) -> list[Coroutine[Any, Any, None]]:
        keys, self._keys = self._keys, []
        return [self._unlink(keys)]

    async def _unlink(self, keys: list[bytes]) -> None:
        try:
            await self._redis.unlink(*keys)
        except (RedisError, OSError) as exc:
            self.failed += len(keys)
            log.warning('%d delivered result(s) not deleted, left to their TTL: %r', len(keys), exc)
            return
        self.deleted += len(keys)
