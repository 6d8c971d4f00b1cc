"""Checks from worker locations on one machine: two check workers named for east and west on a
vhost of their own, west forbidden the target by its own CHECK_ALLOW (as if its network could not
reach it), a real gateway learning both from their heartbeats. Across real hosts, with a route
only east can reach, see tests/hosts/test_locations.py."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

import routing
from testbed.process import Proc, wait_for
from testbed.vhosts import Vhost
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream

EXPIRES = 4  # CHECK_EXPIRES of this test: what a gone location's queued checks wait at most
LIVE_WITHIN, GONE_WITHIN = 5.0, 10.0  # the bounds


class Places:
    def __init__(self, vhost: Vhost, log_dir: Path) -> None:
        self.vhost, self.log_dir = vhost, log_dir
        self.env = base_env(BROKER_URL=vhost.url, CHECK_EXPIRES=str(EXPIRES))
        self.token = uuid.uuid4().hex[:6]
        self.workers: dict[str, Proc] = {}

    def start(self, location: str) -> float:
        """Start the check worker of ``location``; the time it said ready."""
        allow = {'west': ''}.get(location, '127.0.0.0/8')  # west may not reach loopback targets
        self.workers[location] = start_worker('check', dict(self.env, CHECK_ALLOW=allow), self.log_dir,
                                              concurrency=20, name=f'check-{location}',
                                              node=f'check.{location}@{self.token}')
        return time.monotonic()

    def stop(self, location: str, sig: signal.Signals = signal.SIGTERM) -> None:
        self.workers.pop(location).stop(sig=sig)


@pytest.fixture(scope='module')
def places(log_dir: Path) -> Iterator[Places]:
    with Vhost('route_check_locations') as vhost:
        found = Places(vhost, log_dir)
        try:
            yield found
        finally:
            for location in list(found.workers):
                found.stop(location)


@pytest.fixture(scope='module')
def gateway(places: Places, log_dir: Path) -> Iterator[str]:
    proc, url = start_web(dict(places.env, WEB_WAIT='5'), log_dir, name='web-locations')
    for location in ('east', 'west'):
        places.start(location)
    wait_for(lambda: set(live(url)) == {'east', 'west'}, LIVE_WITHIN, 0.1, 'east and west live')
    yield url
    proc.stop()


@pytest.fixture(scope='module')
def target() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def live(gateway: str) -> dict:
    return requests.get(f'{gateway}/locations', timeout=5).json()['locations']


def check(gateway: str, target: Upstream, **params: str) -> requests.Response:
    return requests.get(f'{gateway}/check', params={'url': f'{target.url}/ok', **params}, timeout=30)


def test_each_location_is_listed_with_its_worker(gateway: str, places: Places) -> None:
    locations = live(gateway)
    assert [w['name'] for w in locations['east']['workers']] == [f'check.east@{places.token}']
    assert abs(locations['west']['workers'][0]['last_seen'] - time.time()) < 5


def test_from_all_is_partial_when_one_location_fails(gateway: str, target: Upstream) -> None:
    answer = check(gateway, target, **{'from': 'all'})
    body = answer.json()
    assert answer.status_code == 200, body
    assert (body['verdict'], body['up'], body['down'], body['quorum']) == ('partial', ['east'], ['west'], 2)
    assert body['locations']['east']['ok'] and body['locations']['east']['location'] == 'east'
    assert 'refused' in body['locations']['west']['error']  # why west says down
    assert {body['locations'][p]['task_id'] for p in ('east', 'west')} != {None}


def test_from_one_location_runs_there(gateway: str, target: Upstream) -> None:
    east = check(gateway, target, **{'from': 'east'}).json()
    west = check(gateway, target, **{'from': 'west'}).json()
    assert (east['ok'], east['location']) == (True, 'east')
    assert (west['ok'], west['location']) == (False, 'west')
    assert check(gateway, target, **{'from': 'west'}, quorum='1').status_code == 400  # quorum: several only
    down = check(gateway, target, **{'from': 'west,east'}, quorum='1').json()
    assert down['verdict'] == 'down'


def test_without_from_the_answer_names_where_it_ran(gateway: str, target: Upstream) -> None:
    body = check(gateway, target).json()
    assert body['location'] in ('east', 'west')


def test_an_unknown_location_is_a_400_listing_the_live_ones(gateway: str, target: Upstream) -> None:
    answer = check(gateway, target, **{'from': 'north'})
    assert answer.status_code == 400 and answer.json()['locations'] == ['east', 'west']


def test_from_all_costs_one_round_trip_not_two(gateway: str, target: Upstream) -> None:
    """The two located checks of one request run at once: a 300 ms target takes ~300 ms, not 600."""
    slow = {'url': f'{target.url}/slow?ms=300', 'from': 'east,west'}
    started = time.monotonic()
    body = requests.get(f'{gateway}/check', params=slow, timeout=30).json()
    took = time.monotonic() - started
    assert body['locations']['east']['ok'] and took < 0.55, (took, body)


def test_bulk_checks_from_all_judge_each_target(gateway: str, target: Upstream) -> None:
    """POST /checks with from=all: each target's verdict, as /check?from=all gives it."""
    targets = [{'url': f'{target.url}/ok'}, {'host': '127.0.0.1', 'port': target.port}]
    body = requests.post(f'{gateway}/checks', json={'targets': targets * 60, 'from': 'all'},
                         timeout=30).json()
    assert body['summary'] == {'ok': 0, 'failed': 0, 'partial': 120, 'refused': 0, 'pending': 0, 'unsent': 0}
    first = body['results'][0]
    assert (first['verdict'], first['up'], first['down']) == ('partial', ['east'], ['west'])
    assert first['locations']['east']['location'] == 'east'
    assert 'refused' in first['locations']['west']['error']  # why west says down


def test_probe_from_all_labels_each_location(gateway: str, target: Upstream) -> None:
    text = requests.get(f'{gateway}/probe', params={'module': 'http_2xx', 'target': f'{target.url}/ok',
                                                    'location': 'all'}, timeout=30).text
    lines = text.splitlines()
    assert 'probe_success{location="east"} 1' in lines and 'probe_success{location="west"} 0' in lines


def test_a_location_comes_and_goes_with_its_workers(gateway: str, target: Upstream, places: Places) -> None:
    """Stopped under load: gone within 10 s, a 503 at once, nothing left in its queues (what was
    queued expires); started again: back within 5 s. Killed: gone within 10 s too."""
    stop_at = {}

    def load() -> list[int]:
        codes = []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            codes.append(check(gateway, target, **{'from': 'all'}).status_code)
        return codes

    with ThreadPoolExecutor(8) as pool:
        loads = [pool.submit(load) for _ in range(8)]
        time.sleep(1)  # the load is running
        stop_at['west'] = time.monotonic()
        places.stop('west')
        wait_for(lambda: 'west' not in live(gateway), GONE_WITHIN, 0.1, 'west gone from /locations')
        codes = [code for future in loads for code in future.result()]
    assert set(codes) == {200}, set(codes)
    gone = check(gateway, target, **{'from': 'west'})
    assert gone.status_code == 503 and 'nothing is live at west' in gone.json()['error']
    partial = check(gateway, target, **{'from': 'all'}).json()
    assert (partial['verdict'], partial['up']) == ('up', ['east'])  # all: the live ones
    for queue in routing.located_queues('west'):
        wait_for(lambda queue=queue: places.vhost.depth(queue) == 0, EXPIRES + 10, 0.2, f'{queue} empty')

    ready = places.start('west')
    wait_for(lambda: 'west' in live(gateway), LIVE_WITHIN, 0.1, 'west back')
    assert time.monotonic() - ready < LIVE_WITHIN
    assert check(gateway, target, **{'from': 'west'}).json()['location'] == 'west'

    places.stop('west', signal.SIGKILL)  # no offline event: its heartbeats stop
    killed = time.monotonic()
    wait_for(lambda: 'west' not in live(gateway), GONE_WITHIN, 0.2, 'killed west gone')
    assert time.monotonic() - killed < GONE_WITHIN
