"""The batching of deleted results (tcelery/forget.py) against a recording client; the real path,
over Redis, is tests/test_bounded.py."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError

from tcelery.forget import Forgetter


class RecordingRedis:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, ...]] = []
        self.down = False

    async def unlink(self, *keys: bytes) -> int:
        if self.down:
            raise RedisConnectionError('down')
        self.calls.append(keys)
        return len(keys)


def test_keys_leave_in_batches_and_failures_are_counted() -> None:
    client = RecordingRedis()

    async def scenario() -> Forgetter:
        forgetter = Forgetter(client, limit=2, delay=0.05)  # type: ignore[arg-type]
        for key in (b'a', b'b', b'c'):  # a full batch of 2 leaves at once, the 3rd after the delay
            forgetter.add(key)
        await asyncio.sleep(0)
        assert client.calls == [(b'a', b'b')]
        await asyncio.sleep(0.1)
        assert client.calls == [(b'a', b'b'), (b'c',)]
        client.down = True
        forgetter.add(b'd')
        await forgetter.close()
        return forgetter

    forgetter = asyncio.run(scenario())
    assert (forgetter.deleted, forgetter.failed) == (3, 1)
