"""Admission control's decision (tcelery/admission.py) with scripted queue depths and rates; the
real path, over RabbitMQ and a gateway, is tests/test_admission.py."""

from __future__ import annotations

import asyncio
import time

import pytest

from tcelery.admission import Admission, Overloaded, QueueLoad
from tcelery.publisher import QueueDepth


class Broker:
    """What the poller reads: a queue's depth, consumers and consume rate, set by the test."""

    def __init__(self) -> None:
        self.depth, self.consumers, self.rate, self.reads = 0, 1, None, 0

    async def read_depth(self, queue: str) -> QueueDepth:
        self.reads += 1
        return QueueDepth(self.depth, self.consumers)

    async def read_rate(self, queue: str) -> float | None:
        return self.rate


async def next_read(broker: Broker) -> None:
    """Until a whole read of the values set now has been stored: the poller reads one queue after
    the other, so once a second read has begun, the first one (depth and rate) is done."""
    reads = broker.reads
    while broker.reads < reads + 2:
        await asyncio.sleep(0.001)


def test_refuses_beyond_the_drain_time_and_says_when_to_retry() -> None:
    broker = Broker()

    async def scenario() -> None:
        admission = Admission(broker.read_depth, 10, rate=broker.read_rate, interval=0.01, min_depth=5)
        for _ in range(50):  # nothing read yet: admitted
            admission.admit('q')
        broker.depth, broker.rate = 4, 0.0  # the workers keep up: the rate is the demand, unused
        await next_read(broker)
        for _ in range(50):
            admission.admit('q')
        broker.depth, broker.rate = 500, 20.0  # 25 s of work at 20/s: over 10 s
        await next_read(broker)
        await next_read(broker)  # a rate counts once the backlog was there at both ends of a read
        with pytest.raises(Overloaded) as refused:
            admission.admit('q')
        assert (refused.value.queue, refused.value.depth, refused.value.retry_after) == ('q', 500, 10)
        broker.depth, broker.rate = 1010, 100.0  # 0.1 s over
        await next_read(broker)
        with pytest.raises(Overloaded) as refused:
            admission.admit('q')
        assert refused.value.retry_after == 1
        broker.rate = 200.0  # 5 s of work
        await next_read(broker)
        admission.admit('q')
        assert admission.queues['q'].refused == 2 and admission.queues['q'].admitted == 1
        await admission.close()
        admission = Admission(broker.read_depth, 10, rate=broker.read_rate, interval=0.01, min_depth=5)
        broker.depth, broker.consumers = 50, 0  # the workers are gone
        admission.admit('q')
        await next_read(broker)
        with pytest.raises(Overloaded) as refused:
            admission.admit('q')
        assert 'no worker is taking them' in str(refused.value) and refused.value.retry_after == 10
        await admission.close()

    asyncio.run(scenario())


def test_without_a_management_api_the_rate_is_what_left_the_queue() -> None:
    broker = Broker()

    async def scenario() -> None:
        admission = Admission(broker.read_depth, 1, interval=0.05, min_depth=1)
        broker.depth = 400
        admission.admit('q')  # starts the poller
        await next_read(broker)
        broker.depth = 300  # ~100 taken by the workers in ~0.05 s: ~2000/s
        await next_read(broker)
        assert admission.queues['q'].rate > 300
        admission.admit('q')  # 300 waiting drain in well under 1 s
        await admission.close()

    asyncio.run(scenario())


def test_a_zero_rate_while_workers_consume_is_no_reading() -> None:
    """RabbitMQ's rate lags a new backlog by seconds and reads 0/s, while the workers take it
    at full speed: that refused half of a healthy load before (issue 16)."""
    broker = Broker()

    async def scenario() -> None:
        admission = Admission(broker.read_depth, 1, rate=broker.read_rate, interval=0.01,
                              min_depth=5, stall_after=0.2)
        broker.depth, broker.rate = 18, 0.0
        admission.admit('q')
        await next_read(broker)
        for _ in range(50):
            admission.admit('q')
        broker.rate = 100.0  # measured now: 18 drain in well under 1 s
        await next_read(broker)
        broker.depth, broker.rate = 30, 0.0  # a 0 after a real rate keeps a real one
        await next_read(broker)
        assert admission.queues['q'].rate >= 100.0
        admission.admit('q')
        await asyncio.sleep(0.25)  # the consumers took nothing for stall_after: hung
        await next_read(broker)
        with pytest.raises(Overloaded, match='no worker is taking them'):
            admission.admit('q')
        broker.rate = 50.0  # they take work again
        await next_read(broker)
        admission.admit('q')
        await admission.close()

    asyncio.run(scenario())


def test_between_reads_what_was_admitted_drains_at_the_measured_rate() -> None:
    """A process admitting as fast as the workers consume holds the queue steady: its admissions
    since the last read are not all still waiting (issue 16: that refused a healthy load)."""
    broker = Broker()

    async def scenario() -> None:
        admission = Admission(broker.read_depth, 1, rate=broker.read_rate, interval=60, min_depth=5)
        broker.depth, broker.rate = 20, 100.0
        admission.queues['q'] = load = QueueLoad(depth=20, read_at=time.monotonic() - 1)
        admission.admit('q')  # the backlog was there at the last read too: a rate is measured
        while load.read_at < time.monotonic() - 0.5:  # this read only: the next is a minute away
            await asyncio.sleep(0.001)
        assert (load.depth, load.rate) == (20, 100.0)
        load.read_at -= 1.0  # as if read a second ago: ~100 drained since
        for _ in range(150):
            admission.admit('q')  # 20 + 150 - 100 = 70 waiting: under a second's work
        with pytest.raises(Overloaded):
            for _ in range(40):
                admission.admit('q')
        await admission.close()

    asyncio.run(scenario())


def test_a_burst_into_an_empty_queue_measures_no_rate() -> None:
    """Sixty clients at once on a cold gateway: a read finds them queued, and a rate read over
    an interval that began with the queue empty is the demand, lagging at that (9/s for workers
    doing 500/s on a busy CI machine refused a healthy load)."""
    depths = [0, 56]
    two_read, go_on = asyncio.Event(), asyncio.Event()

    async def read_depth(queue: str) -> QueueDepth:
        if not depths:  # the third read: hold it until the test has admitted its burst
            two_read.set()
            await go_on.wait()
        return QueueDepth(depths.pop(0) if depths else 0, 1)

    async def lagging_rate(queue: str) -> float:
        return 9.0

    async def scenario() -> None:
        admission = Admission(read_depth, 1, rate=lagging_rate, interval=0.01, min_depth=10)
        admission.admit('q')
        await two_read.wait()
        for _ in range(100):
            admission.admit('q')
        assert admission.queues['q'].rate is None
        go_on.set()
        await admission.close()

    asyncio.run(scenario())


def test_every_gateways_admissions_count_toward_the_drain() -> None:
    """Two gateways each admitting 100 a second to a queue that stays at 50: the workers take
    200 a second. Each gateway published only half of that, and by its own count alone read
    100/s; the count they share (AdmittedCount in production) tells it the whole."""
    broker = Broker()
    broker.depth = 50
    total = 0

    async def shared(queue: str, admitted: int) -> int:
        nonlocal total
        total += admitted
        return total

    async def scenario() -> None:
        gateways = [Admission(broker.read_depth, 1, shared=shared, interval=60) for _ in range(2)]
        loads = []
        for gateway in gateways:
            gateway.admit('q')  # its first read now, the next a minute away: the test reads
            loads.append(gateway.queues['q'])
        while not all(load.read_at for load in loads):
            await asyncio.sleep(0.001)
        for gateway, load in zip(gateways, loads, strict=True):
            for _ in range(100):
                gateway.admit('q')
            load.read_at -= 1.0  # as if read a second ago
        for gateway, load in zip(gateways, loads, strict=True):
            await gateway._read('q', load)
        # The second to read sees both hundreds; the first saw the other's next read's share
        # late, as a gateway's count lags by at most one of the others' read intervals.
        assert loads[1].rate == pytest.approx(200, rel=0.01)
        assert loads[0].rate == pytest.approx(101, rel=0.01)
        for gateway in gateways:
            await gateway.close()

    asyncio.run(scenario())
