"""A count of the tasks every gateway admitted to each queue, shared through the result
backend's Redis, so that admission control can tell how fast the workers drain a queue.

Between two reads a queue's depth changes by what every gateway published less what the workers
took. One process alone knows only its own publishes: with N gateways it read the workers' rate
as about 1/N of the truth, and refused a healthy load (CI, issue 16). So each gateway adds its
admissions to this count at each read (one pipelined INCRBY and EXPIRE per queue and second),
and reads the total back: the others' part lags by at most one of their read intervals.
"""

from __future__ import annotations

import redis.asyncio as aioredis

TTL = 86400  # a count nobody adds to any more (a removed queue or vhost) goes after a day


class AdmittedCount:
    """The count for the queues of one broker vhost (queues of the same name in other vhosts
    are other queues). Two brokers whose gateways share a Redis database and a vhost name would
    share counts too, and read their workers' rates high: give each its own database."""

    def __init__(self, client: aioredis.Redis, vhost: str):
        self._redis = client
        self._prefix = f'tcelery-admitted:{vhost}:'

    async def add(self, queue: str, admitted: int) -> int:
        """Add ``admitted`` tasks of this process to ``queue``'s count; the total of every gateway."""
        key = self._prefix + queue
        async with self._redis.pipeline(transaction=False) as pipe:
            total, _ = await pipe.incrby(key, admitted).expire(key, TTL).execute()
        return int(total)
