"""Admission control: refuse a task whose queue already holds more work than its workers can
drain within ``max_backlog`` seconds, before anything is published.

A queue that grows without limit only turns every answer into a late one: each caller waits
WEB_WAIT for a 202, and the workers then spend minutes on checks whose callers gave up. Saying
"busy, retry in N s" at once is the useful answer.

The decision costs no I/O: a background task reads each queue in use at most once per
``interval`` (a passive ``queue_declare`` gives the ready messages and the consumers) and its
consume rate (the acks per second RabbitMQ's management API reports for the whole queue, or,
when higher or when there is no management API, the drop of the depth plus what was published
meanwhile: what every gateway admitted, by a count they share (admitted.py), or this process's
own, an underestimate when there are several). Between two reads, what this process admitted,
less what the workers drain at that rate meanwhile, counts on top of the last depth.

The rate is measured while work waits in the queue at both reads of an interval, since only
then is it what the workers can do. A reading of 0/s while the queue has consumers says nothing
(the management API's samples lag the first seconds of a backlog, and publishes not yet counted
hide the drain), so only positive readings count: until the first one (a cold start) everything
is admitted. A backlog with no consumer is refused at once; one whose consumers take nothing for
``stall_after`` seconds (hung workers) is refused too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import TceleryError
from .publisher import QueueDepth

log = logging.getLogger(__name__)

# A queue is read while tasks were offered to it within this many seconds.
IDLE_AFTER = 10.0


class Overloaded(TceleryError):
    """The task's queue would take longer than ``max_backlog`` seconds to drain: not sent."""

    def __init__(self, queue: str, depth: int, rate: float, retry_after: int):
        drain = f'{depth / rate:.0f} s to drain at {rate:.0f}/s' if rate else 'no worker is taking them'
        super().__init__(f'{queue} holds {depth} waiting tasks ({drain})')
        self.queue = queue
        self.depth = depth
        self.rate = rate
        self.retry_after = retry_after


@dataclass
class QueueLoad:
    depth: int = 0  # ready messages at the last read
    rate: float | None = None  # messages consumed per second; None until measured
    own_rate: float | None = None  # the same, from the depths and publishes (a moving average)
    admitted: int = 0  # admitted by this process since the last read
    shared_total: int | None = None  # every gateway's admissions, as of the last read
    offered_at: float = 0.0  # monotonic time a task was last offered
    read_at: float = 0.0
    overloaded: bool = False
    stalled_since: float | None = None  # monotonic time of the first read of a backlog taking 0/s
    refused: int = 0  # since this process started


class Admission:
    """Per-process admission of tasks by their queue's backlog; ``refused`` counts per queue.

    ``depth(queue)`` reads a queue's ready messages and consumers; ``rate(queue)``, when given,
    its consume rate in messages per second (None when unknown); ``shared(queue, n)``, when
    given, adds this process's ``n`` admissions to a count every gateway adds to, and returns
    the total (AdmittedCount.add).
    """

    def __init__(self, depth: Callable[[str], Awaitable[QueueDepth]], max_backlog: float, *,
                 rate: Callable[[str], Awaitable[float | None]] | None = None,
                 shared: Callable[[str, int], Awaitable[int]] | None = None,
                 interval: float = 1.0, min_depth: int = 10, stall_after: float = 10.0):
        self._depth = depth
        self._rate = rate
        self._shared = shared
        self.max_backlog = max_backlog
        self.interval = interval
        self.min_depth = min_depth  # a queue holding fewer is keeping up: always admitted
        self.stall_after = stall_after
        self.queues: dict[str, QueueLoad] = {}
        self._poller: asyncio.Task | None = None

    def admit(self, queue: str) -> None:
        """Count one task for ``queue``, or raise Overloaded. No I/O."""
        load = self.queues.get(queue)
        if load is None:
            load = self.queues[queue] = QueueLoad()
        load.offered_at = now = time.monotonic()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll(), name='tcelery-admission')
        # What was admitted since the last read, less what the workers took meanwhile: without
        # the drain, a steady load the workers keep up with looked like a backlog (issue 16).
        drained = (load.rate or 0.0) * (now - load.read_at)
        depth = max(load.depth, round(load.depth + load.admitted - drained))
        if self._backlogged(load, depth):
            load.refused += 1
            rate = load.rate or 0.0
            wait = (depth - rate * self.max_backlog) / rate if rate else self.max_backlog
            retry_after = max(1, min(math.ceil(wait), math.ceil(self.max_backlog)))
            raise Overloaded(queue, depth, rate, retry_after)
        load.admitted += 1

    def _backlogged(self, load: QueueLoad, depth: int) -> bool:
        """Whether ``depth`` tasks are more than the workers drain in ``max_backlog`` seconds.

        Until a rate has been measured (see _read) the workers' capacity is unknown and
        everything is admitted; the next read comes within ``interval``.
        """
        return load.rate is not None and depth >= max(self.min_depth, load.rate * self.max_backlog)

    async def _poll(self) -> None:
        while True:
            now = time.monotonic()
            for queue, load in list(self.queues.items()):
                if now - load.offered_at < IDLE_AFTER:
                    await self._read(queue, load)
            await asyncio.sleep(self.interval)

    async def _read(self, queue: str, load: QueueLoad) -> None:
        rate_read = asyncio.ensure_future(self._read_rate(queue))
        try:
            depth, consumers = await self._depth(queue)
        except Exception as exc:  # the broker is away: publishing fails on its own, fast
            log.debug('depth of %s unknown: %r', queue, exc)
            rate_read.cancel()
            return
        published = await self._published(queue, load)
        rate = await rate_read
        now = time.monotonic()
        # A rate says what the workers can do only while work waits for them all along: over an
        # interval that began or ended with the queue (nearly) empty it is the demand. Counting
        # one that began empty once measured 9/s at a cold start for workers doing 500/s, and
        # refused a healthy load (CI, issue 16). So it is measured over a backlog at both reads.
        backlog = min(depth, load.depth) >= self.min_depth
        drained = None
        if backlog and load.read_at:  # what left the queue since the last read
            drained = max(0.0, (load.depth + published - depth) / (now - load.read_at))
            if drained:  # 0 when uncounted publishes outgrew the drain: no reading
                previous = drained if load.own_rate is None else load.own_rate
                load.own_rate = 0.7 * previous + 0.3 * drained
        load.depth, load.read_at = depth, now
        if backlog or (not consumers and depth >= self.min_depth):  # no worker: no rate to wait for
            load.rate = self._capacity(load, consumers, rate, drained, now)
        elif consumers and load.rate == 0:  # workers are back and took the queue: unknown again
            load.rate = None
        overloaded = self._backlogged(load, depth)
        if overloaded != load.overloaded:
            load.overloaded = overloaded
            log.warning('%s: %d waiting, %d consumers, consumed %.0f/s: %s (%d refused so far)',
                        queue, depth, consumers, load.rate or 0,
                        'refusing new tasks' if overloaded else 'admitting again', load.refused)

    def _capacity(self, load: QueueLoad, consumers: int, rate: float | None, drained: float | None,
                  now: float) -> float | None:
        """The consume rate to judge a backlog by: 0 with no consumer, or once the consumers
        have taken nothing for ``stall_after`` seconds (by this read's ``rate`` and ``drained``);
        otherwise the best positive reading, or the last known rate (None at a cold start)."""
        if not consumers:
            load.stalled_since = None
            return 0.0
        if rate or drained:
            load.stalled_since = None
        elif load.stalled_since is None:
            load.stalled_since = now
        elif now - load.stalled_since >= self.stall_after:
            return 0.0
        positive = [r for r in (rate, load.own_rate) if r]
        return max(positive) if positive else load.rate or None  # a 0 left by a stall is no rate

    async def _published(self, queue: str, load: QueueLoad) -> int:
        """What was published to ``queue`` since the last read: every gateway's admissions by the
        shared count, or this process's own when there is none (or Redis is away)."""
        mine, load.admitted = load.admitted, 0
        if self._shared is None:
            return mine
        try:
            total = await asyncio.wait_for(self._shared(queue, mine), self.interval)
        except Exception as exc:
            log.debug('shared admission count of %s unknown: %r', queue, exc)
            load.shared_total = None
            return mine
        since = total - load.shared_total if load.shared_total is not None else mine
        load.shared_total = total
        return max(since, mine)  # less than mine: a new count (Redis failed over or flushed)

    async def _read_rate(self, queue: str) -> float | None:
        """The rate the management API reports, or None; never holding up the depth reads."""
        if self._rate is None:
            return None
        try:
            return await asyncio.wait_for(self._rate(queue), self.interval)
        except Exception as exc:  # slow or away: this process's own measure still counts
            log.debug('rate of %s unknown: %r', queue, exc)
            return None

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
