"""Web processes killed under load, under supervisord (`make run` in a temporary copy).

Both web processes are SIGKILLed while requests are in flight. supervisord must restart them,
and every task accepted before the kill must complete, as seen through GET /result/<id> on the
restarted processes (both were killed, so whoever answers the poll is a new process).
"""

from __future__ import annotations

import os
import signal
import time

from testbed.process import wait_for
from tests.chaos.harness import Load, collect
from tests.chaos.tally import Tally
from tests.supervised import System
from tests.upstream import Upstream

WEBS = ('web-0', 'web-1')


def test_kill_9_web_processes_under_load(supervised: System, upstream: Upstream,
                                         tally: Tally) -> None:
    before = {name: supervised.states()[name]['pid'] for name in WEBS}
    # WEB_WAIT is 1 s in this system and a check takes 1.5 s: callers get 202 and a task id.
    # Clients back off 0.25 s after a failed request, as a polite client would.
    load = Load(supervised.web, upstream, 12, ms=1500, error_pause=0.25)
    try:
        wait_for(lambda: sum(c.accepted for c in load.since(0)) >= 25, 30, 0.02, '25 requests accepted')
        killed_at = time.monotonic()
        for name in WEBS:
            os.kill(before[name], signal.SIGKILL)

        def restarted() -> bool:
            states = supervised.states()
            return all(states[n]['statename'] == 'RUNNING' and states[n]['pid'] != before[n] for n in WEBS)
        wait_for(restarted, 30, 0.1, 'supervisord restarted both web processes')
        back_at = time.monotonic()
        wait_for(lambda: sum(c.accepted for c in load.since(back_at)) >= 25, 30, 0.02,
                 '25 requests accepted by the restarted processes')
    finally:
        calls = load.stop()
    accepted_before = [c for c in calls if c.accepted and c.sent_at < killed_at]
    collect(supervised.web, calls, timeout=60)
    dup = sum(max(0, upstream.token_count(c.token) - 1) for c in calls if c.accepted)
    errors = [c for c in calls if c.status is None]
    row = tally.record(
        '5. kill -9 both web processes (supervisord)', calls, duplicated=dup,
        notes=(f'{len(accepted_before)} accepted before the kill; {len(errors)} connection errors '
               f'(in flight on a killed process, or sent while none was up: not accepted); '
               f'webs back {back_at - killed_at:.1f}s after the kill; results polled from the new processes'))
    assert len(accepted_before) >= 25
    assert row.lost == 0, [c.task_id for c in calls if c.accepted and c.final is None]
    assert all(c.final.get('ok') is True for c in calls if c.accepted)
    assert all(c.status in (200, 202, None) for c in calls), {c.status for c in calls}
    assert dup == 0
