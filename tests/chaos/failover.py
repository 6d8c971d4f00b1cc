"""Failover scenarios: a fault under steady load, then the counts and what must hold.

What must hold: every accepted request completes (lost 0); nothing but 200, 202 or a fast 503
is answered; service is back within MAX_OUTAGE seconds of the fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from testbed.process import wait_for
from tests.chaos.harness import Call, Load, collect
from tests.chaos.tally import Tally
from tests.upstream import Upstream

LOADERS = 4
MIN_REQUESTS = 100  # per scenario
MAX_OUTAGE = 10.0  # seconds without an accepted request after the fault


@dataclass
class Outcome:
    calls: list[Call]
    struck: float  # when the fault began (monotonic)
    outage: float  # the longest time without an accepted request, from the fault on
    duplicated: int


def under_load(web: str, upstream: Upstream, fault: Callable[[], None],
               back: Callable[[list[Call]], bool] | None = None) -> Outcome:
    """Run ``fault`` under steady load; keep the load until service is back and N is reached.

    Service is back when 10 requests were accepted in the last 2 s, or when ``back`` says so."""
    load = Load(web, upstream, LOADERS)
    try:
        wait_for(lambda: sum(c.accepted for c in load.since(0)) >= 10, 30, 0.05, 'steady load')
        struck = time.monotonic()
        fault()
        def recovered() -> bool:
            if back is not None:
                return back(load.since(0))
            return sum(c.accepted for c in load.since(time.monotonic() - 2)) >= 10

        wait_for(lambda: recovered() and len(load.since(0)) >= MIN_REQUESTS, 60, 0.1,
                 'service back after the fault')
    finally:
        calls = load.stop()
    collect(web, calls, timeout=60)
    answered = sorted(c.sent_at + c.latency for c in calls if c.accepted and c.sent_at + c.latency >= struck)
    outage = max(b - a for a, b in zip([struck, *answered], answered, strict=False))
    duplicated = sum(max(0, upstream.token_count(c.token) - 1) for c in calls if c.accepted)
    return Outcome(calls, struck, outage, duplicated)


def record_and_check(outcome: Outcome, tally: Tally, scenario: str, notes: str) -> None:
    calls = outcome.calls
    refused = [c for c in calls if c.status == 503]
    row = tally.record(scenario, calls, duplicated=outcome.duplicated,
                       notes=f'{notes}; longest without service {outcome.outage:.1f}s; '
                             f'503 max {max((c.latency for c in refused), default=0):.2f}s',
                       longest_without_service=outcome.outage)
    odd = [(c.status, c.error, c.body) for c in calls if not c.accepted and c.status != 503]
    assert not odd, odd  # never a 500, a connection error or a client timeout
    assert row.N >= MIN_REQUESTS
    assert row.lost == 0, [(c.task_id, c.status) for c in calls if c.accepted and c.final is None]
    assert all(c.final.get('ok') is True for c in calls if c.accepted)
    assert all(c.latency < 6.0 for c in refused)  # publish_timeout is 5 s
    assert outcome.outage < MAX_OUTAGE, outcome.outage
