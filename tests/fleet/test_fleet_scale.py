"""Twenty supervisords, one running 55 processes and five behind a slow link: batches of 50
complete item by item, slow or briefly silent servers stay on screen, and actions stay quick.

The dashboard runs with its defaults: poll every 1 s, status calls time out after 1.5 s, and a
server shows as unreachable once its polls have failed for 3 s in a row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.fleet.servers import SlowProxy, Supervisord, wait_until

BIG = 55  # processes on one supervisord
BATCH = 50
SLOW = 0.5  # seconds each call to a slow server takes: within the 1.5 s timeout


def sleeps(**extra: str) -> str:
    # /bin/sleep rather than Python: 55 of them cost next to nothing.
    options = {'command': 'sleep 100000', 'startsecs': '0', 'stopwaitsecs': '5', **extra}
    return '\n'.join(f'{k}={v}' for k, v in options.items())


Farm = tuple[Supervisord, list[Supervisord], list[SlowProxy]]  # the big one, the small ones, the slow links


@pytest.fixture(scope='module')
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    directory = tmp_path_factory.mktemp('farm')
    big = Supervisord(directory, 'big', {'program:many': sleeps(
        numprocs=str(BIG), process_name='%(program_name)s-%(process_num)02d', startsecs='1')})
    small = [Supervisord(directory, f's{i:02d}', {'program:a': sleeps(), 'program:b': sleeps()})
             for i in range(1, 20)]
    proxies: list[SlowProxy] = []
    try:
        for server in (big, *small):
            server.launch()
        for server in (big, *small):
            server.wait_ready(timeout=30)  # twenty start at once on a small, busy machine
        for server in small[:5]:
            proxies.append(SlowProxy(server, SLOW))
            server.url = proxies[-1].url
        yield big, small, proxies
    finally:
        for proxy in proxies:
            proxy.stop()
        for server in (big, *small):
            server.stop()


@pytest.fixture(scope='module')
def scaled(farm, fleet_factory):
    big, small, _ = farm
    fleet = fleet_factory([big, *small], {'every-a': ['*:a']}, options={})
    http = fleet.session()
    fleet.wait_reachable(http, timeout=30)
    return fleet, http


class Watcher:
    """Reads /api/servers/NAME every 0.1 s in a thread, recording (reachable, failing, processes)."""

    def __init__(self, fleet, http, name: str):
        self.seen: list[tuple[bool, bool, int]] = []
        self._stop = threading.Event()

        def watch() -> None:
            while not self._stop.wait(0.1):
                answer = fleet.get(http, f'/api/servers/{name}')
                server = answer['server']
                failing = bool(server['failing_since'])
                self.seen.append((server['reachable'], failing, len(answer['processes'])))
        self._thread = threading.Thread(target=watch, daemon=True)
        self._thread.start()

    def stop(self) -> list[tuple[bool, bool, int]]:
        self._stop.set()
        self._thread.join(10)
        return self.seen


def test_a_batch_of_50_on_one_server_reports_every_process(scaled, farm):
    fleet, http = scaled
    big = farm[0]
    before = {i['name']: i['pid'] for i in big.rpc.getAllProcessInfo()}
    chosen = [f'many-{n:02d}' for n in range(BATCH)]
    watcher = Watcher(fleet, http, 'big')
    started = time.monotonic()
    response = fleet.post(http, '/api/actions/restart', {'processes': [f'big:many:{n}' for n in chosen]})
    took = time.monotonic() - started
    seen = watcher.stop()
    assert response.status_code == 200, response.text
    body = response.json()
    expected = [(f'big:many:{n}', 'SUCCESS') for n in chosen]
    assert sorted((r['id'], r['status']) for r in body['results']) == expected
    assert body['ok']
    after = {i['name']: (i['pid'], i['statename']) for i in big.rpc.getAllProcessInfo()}
    assert all(after[n][1] == 'RUNNING' and after[n][0] != before[n] for n in chosen)
    assert all(after[n][0] == before[n] for n in before if n not in chosen), 'the other 5 untouched'
    # The status polls went on during the batch: the server never blanked.
    assert seen and all(reachable and count == BIG for reachable, _, count in seen), seen
    print(f'restart of {BATCH} processes on one supervisord: {took:.1f} s')


def test_an_action_answers_within_a_second_while_slow_servers_are_polled(scaled, farm):
    fleet, http = scaled
    _, small, proxies = farm
    for proxy in proxies:
        proxy.delay = 1.2  # each poll of these five is in flight most of the time
    try:
        wait_until(lambda: fleet.get(http, '/api/servers/s01')['server']['reachable'], 5, 's01 polled')
        # Starting running processes: supervisord answers at once, so the time is the dashboard's.
        # (A real stop or start waits for supervisord's own 1 s tick.)
        for _ in range(3):
            started = time.monotonic()
            result = fleet.post(http, '/api/actions/start', {'processes': ['s10:a:a', 's11:b:b', 's12:a:a']})
            assert time.monotonic() - started < 1
            assert {r['status'] for r in result.json()['results']} == {'ALREADY_STARTED'}
        started = time.monotonic()
        assert len(fleet.get(http, '/api/servers')['servers']) == 20
        assert time.monotonic() - started < 0.5
    finally:
        for proxy in proxies:
            proxy.delay = SLOW


def test_a_missed_poll_keeps_the_server_and_failures_over_the_window_mark_it_unreachable(scaled, farm):
    fleet, http = scaled
    proxy = farm[2][0]  # s01's
    watcher = Watcher(fleet, http, 's01')
    proxy.miss(1, 2.0)  # one answer later than the 1.5 s timeout
    try:
        wait_until(lambda: any(failing for _, failing, _ in watcher.seen), 6, 'the missed poll to show')
        wait_until(lambda: not watcher.seen[-1][1], 6, 'the next poll to succeed')
    finally:
        seen = watcher.stop()
    assert all(reachable and count == 2 for reachable, _, count in seen), 'one miss does not blank it'

    proxy.delay = 2.0  # every poll fails now
    try:
        failing = wait_until(lambda: fleet.get(http, '/api/servers/s01')['server']['failing_since'], 5,
                             'the first failure')
        down = wait_until(lambda: (s := fleet.get(http, '/api/servers/s01'))['server']['reachable'] is False
                          and s, 8, 's01 to show as unreachable')
        # The window is counted from the start of the first failed poll (dashboard clock).
        assert down['now'] - failing >= 3
        assert down['processes'] == []
    finally:
        proxy.delay = SLOW
    wait_until(lambda: fleet.get(http, '/api/servers/s01')['server']['reachable'], 5, 's01 back')
