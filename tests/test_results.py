"""tcelery's result waiter against a real Redis: its one pattern subscription."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from tcelery.results import ResultWaiter
from tests import REDIS_TEST_URL


def test_a_request_during_the_first_subscription_waits_for_it() -> None:
    """A second request that arrives while the first is still making the subscription waits for
    it instead of being told the result backend is unreachable (which would make it a 202)."""
    async def scenario() -> None:
        waiter = ResultWaiter(aioredis.from_url(REDIS_TEST_URL), lambda task_id: f'k-{task_id}'.encode(),
                              lambda payload: {})
        try:
            first = asyncio.create_task(waiter.watch(waiter.new_task_id()).__aenter__())
            while waiter._reader is None:  # the first request has sent PSUBSCRIBE, unconfirmed yet
                await asyncio.sleep(0)
            async with waiter.watch(waiter.new_task_id()):
                pass
            await first
        finally:
            await waiter.close()

    asyncio.run(asyncio.wait_for(scenario(), 10))
