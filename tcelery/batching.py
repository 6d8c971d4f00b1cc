"""Work collected from requests and sent in batches, off the request path."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Batcher:
    """A batch leaves when ``limit`` items wait or ``delay`` seconds after its first item.

    A subclass keeps the items, calls ``added()`` after each, and says in ``take(count)`` what
    sending them means: coroutines, each run in a task of its own.
    """

    def __init__(self, *, limit: int, delay: float):
        self.limit = limit
        self.delay = delay
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task] = set()

    def added(self) -> None:
        self._count += 1
        if self._count >= self.limit:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self.flush)

    def take(self, count: int) -> list[Coroutine[Any, Any, None]]:
        raise NotImplementedError

    def flush(self) -> None:
        """Send what waits."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        count, self._count = self._count, 0
        for sending in self.take(count) if count else ():
            task = asyncio.create_task(sending)
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def close(self) -> None:
        """Send what is left and wait for every batch."""
        self.flush()
        await asyncio.gather(*self._sending)
