"""route_check across machines, set up as docs/operations.md's "Adding a worker machine" says: RabbitMQ and
Redis on `mq`, the gateway, Flower and fleet on `gw`, the workers on `w1` and `w2`.

The tests run in file order and build on each other's state (one set of hosts for the module).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml
from amqp.exceptions import AccessRefused
from kombu import Connection

from testbed.process import ROOT, wait_for
from tests.hosts.cluster import Cluster, Load
from tests.processes import prometheus_server, promql

CHECK_W1, CHECK_W2 = 'check.east@w1', 'check.west@w2'  # their node names carry their LOCATION
ALL_WORKERS = {'add@w1', CHECK_W1, 'add@w2', CHECK_W2}
WORKERS = {'worker-add', 'worker-check'}  # a worker host's programs
IN_FLIGHT = 100
# What docs/operations.md's security notes say listens on the hosts' network; the rest is on loopback.
README_PORTS = {'mq': {5672, 6379}, 'gw': {8889, 5555, 9001}, 'w1': {2345}, 'w2': {2345}}


@pytest.fixture
def w2(cluster: Cluster) -> None:
    """w2 up: it joined in the test that starts it under load, or joins here (for -k runs)."""
    if 'w2' not in cluster.machines:
        cluster.start('w2', 'worker').wait_running()


def fleet_get(cluster: Cluster, http: requests.Session, path: str) -> Any:
    response = http.get(cluster.fleet + path, timeout=10)
    response.raise_for_status()
    return response.json()


def test_add_and_check_through_the_gateway(cluster: Cluster) -> None:
    response = requests.get(f'{cluster.web}/add', params={'x': 1, 'y': 2}, timeout=30)
    assert response.status_code == 200 and response.json() == {'results': 3}, response.text
    answers = cluster.checks(10, ms=50)
    assert [(a.status_code, a.json()['ok']) for a in answers] == [(200, True)] * 10
    ran_on = cluster.workers_of([a.json()['task_id'] for a in answers])
    assert set(ran_on.values()) == {CHECK_W1}  # w2 has not joined yet


def test_a_worker_host_added_under_load_takes_work_within_seconds(cluster: Cluster) -> None:
    with Load(cluster) as load:
        wait_for(lambda: len(load.answers) >= 10, 30, 0.1, 'load flowing through w1')
        w2 = cluster.start('w2', 'worker')
        w2.wait_running()
        running_at = time.monotonic()

        def ran_on_w2() -> bool:
            ids = load.task_ids(since=running_at)
            return CHECK_W2 in cluster.workers_of(ids).values() if ids else False
        wait_for(ran_on_w2, 10, 0.5, 'w2 taking /check tasks')
        joined = time.monotonic() - running_at
        answers = cluster.checks(20, ms=300)  # tasks run on both hosts now
    assert not load.failures(), load.failures()[:3]
    ran_on = cluster.workers_of([a.json()['task_id'] for a in answers])
    assert set(ran_on.values()) == {CHECK_W1, CHECK_W2}, ran_on
    print(f'w2 took work {joined:.1f} s after its workers were RUNNING')


@pytest.mark.usefixtures('w2')
def test_flower_lists_the_workers_of_both_hosts(cluster: Cluster) -> None:
    with ThreadPoolExecutor(20) as pool:
        sums = list(pool.map(lambda i: requests.get(f'{cluster.web}/add', params={'x': i, 'y': 1},
                                                    timeout=30), range(20)))
    assert [s.json() for s in sums] == [{'results': i + 1} for i in range(20)]
    listed = wait_for(lambda: ALL_WORKERS & set(cluster.flower_get('/api/workers?refresh=1')) == ALL_WORKERS,
                      30, 0.5, 'Flower listing every worker of w1 and w2')
    assert listed
    adds = cluster.flower_get('/api/tasks?taskname=add_task.add')
    assert {t['worker'] for t in adds.values()} == {'add@w1', 'add@w2'}


@pytest.mark.usefixtures('w2')
def test_stopping_every_worker_on_one_host_loses_nothing(cluster: Cluster) -> None:
    w1 = cluster.machines['w1']
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        futures = [pool.submit(cluster.check, 2000, f'stop-{i}-{time.time_ns()}') for i in range(IN_FLIGHT)]
        wait_for(lambda: cluster.upstream.busy() >= 30, 30, 0.05, 'checks running on both hosts')
        w1.ctl('stop', 'worker-add', 'worker-check')  # supervisorctl on w1; workers finish what they started
        answers = [f.result() for f in futures]
    assert set(w1.states().values()) == {'STOPPED'}  # its workers, and the programs a worker host leaves out
    assert [(a.status_code, a.json()['ok']) for a in answers] == [(200, True)] * IN_FLIGHT
    tasks = cluster.tasks([a.json()['task_id'] for a in answers]).values()
    ran_on = Counter(t['worker'] for t in tasks)
    # w1 finished the checks it had started; the ones still waiting when it stopped ran on w2:
    # every check started a second or more after w1's last one (checks start in waves of 2 s).
    w1_last = max(t['started'] for t in tasks if t['worker'] == CHECK_W1)
    later = Counter(t['worker'] for t in tasks if t['started'] > w1_last + 1)
    assert set(ran_on) == {CHECK_W1, CHECK_W2} and set(later) == {CHECK_W2}, (ran_on, later)
    print(f'{IN_FLIGHT} checks in flight while w1 stopped: ran on {dict(ran_on)}, {later[CHECK_W2]} '
          'of them started after w1 had stopped taking work')


@pytest.mark.usefixtures('w2')
def test_fleet_on_gw_stops_and_starts_the_workers_of_both_hosts(cluster: Cluster) -> None:
    http = cluster.fleet_session()
    wait_for(lambda: all(s['reachable'] for s in fleet_get(cluster, http, '/api/servers')['servers']),
             10, 0.1, 'fleet reaching gw, w1 and w2')
    for action, state in (('stop', 'STOPPED'), ('start', 'RUNNING')):
        answer = http.post(f'{cluster.fleet}/api/actions/{action}', json={'groups': ['workers']}, timeout=90)
        assert answer.status_code == 200 and answer.json()['ok'], answer.text
        assert {i['server'] for i in answer.json()['results']} == {'w1', 'w2'}
        for name in ('w1', 'w2'):
            states = cluster.machines[name].states()
            assert {states[w] for w in WORKERS} == {state}, (name, states)


@pytest.mark.usefixtures('w2')
def test_rolling_restart_under_load_loses_nothing(cluster: Cluster) -> None:
    http = cluster.fleet_session()
    samples: list[tuple[int, dict[str, set[str]]]] = []
    stop = threading.Event()

    def sample() -> None:  # consumers of the check queue, and which workers run on each host
        with Connection(cluster.broker.url_from_client) as amqp:
            while not stop.wait(0.2):
                consumers = amqp.default_channel.queue_declare('route_check', passive=True).consumer_count
                samples.append((consumers, {name: cluster.running_workers(name) for name in ('w1', 'w2')}))

    sampler = threading.Thread(target=sample, daemon=True)
    with Load(cluster) as load:
        wait_for(lambda: len(load.answers) >= 10, 30, 0.1, 'load flowing')
        sampler.start()
        started = time.monotonic()
        answer = http.post(f'{cluster.fleet}/api/groups/workers/rollout', json={}, timeout=150)
        took = time.monotonic() - started
        stop.set()
        sampler.join(5)
        count = len(load.answers)
        wait_for(lambda: len(load.answers) >= count + 10, 30, 0.1, 'load flowing after the rollout')
    report = answer.json()
    assert answer.status_code == 200 and report['ok'], report
    assert [s['server'] for s in report['steps']] == ['w1', 'w2'] and report['skipped'] == []
    assert load.answers and not load.failures(), load.failures()[:3]
    # At every moment some worker consumed the check queue, and one host or the other had all its
    # workers running; both hosts were restarted in between.
    assert len(samples) > 10 and all(consumers >= 1 for consumers, _ in samples), samples
    assert all(any(s == WORKERS for s in hosts.values()) for _, hosts in samples), samples
    assert {h for _, hosts in samples for h, s in hosts.items() if not s} == {'w1', 'w2'}, samples
    during = [t for t, _, _ in load.answers if started <= t <= started + took]
    gaps = [b - a for a, b in zip([started, *during], [*during, started + took], strict=True)]
    print(f'rollout of w1, w2 took {took:.1f} s ({[s["seconds"] for s in report["steps"]]}); '
          f'{len(load.answers)} answers, 0 lost; fewest consumers {min(c for c, _ in samples)}; '
          f'longest gap between answers {max(gaps):.2f} s')


@pytest.mark.usefixtures('w2')
def test_nothing_listens_on_the_bridge_but_what_the_readme_names(cluster: Cluster) -> None:
    for name, host in cluster.net.hosts.items():
        listening = cluster.net.listening(host)
        outside = {(addr, port) for addr, port in listening if not ipaddress.ip_address(addr).is_loopback}
        assert outside == {(host.address, port) for port in README_PORTS[name]}, (name, listening)
    w1 = cluster.net['w1'].address
    assert requests.post(f'http://{w1}:2345/RPC2', timeout=5).status_code == 401  # supervisord: credentials
    assert cluster.rpc('w1').getState()['statename'] == 'RUNNING'
    assert requests.get(f'{cluster.flower}/api/workers', timeout=5).status_code == 401
    assert requests.get(f'{cluster.fleet}/api/servers', timeout=5).status_code == 401
    mq = cluster.net['mq'].address
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=mq, socket_timeout=5).ping()
    guest = Connection(f'amqp://guest:guest@{mq}:5672//', connect_timeout=5)
    with pytest.raises(AccessRefused), guest:  # guest works from the broker's own host only
        guest.ensure_connection(max_retries=1)


@pytest.mark.usefixtures('w2')
def test_a_host_cut_off_is_unreachable_within_2s_and_the_others_stay_controllable(cluster: Cluster) -> None:
    http = cluster.fleet_session()

    def reachable() -> dict[str, bool]:
        return {s['name']: s['reachable'] for s in fleet_get(cluster, http, '/api/servers')['servers']}

    wait_for(lambda: all(reachable().values()), 10, 0.1, 'every host reachable')
    w1 = cluster.net['w1']
    cluster.net.link(w1, up=False)
    try:
        cut = time.monotonic()
        wait_for(lambda: reachable() == {'gw': True, 'w1': False, 'w2': True}, 5, 0.05, 'w1 unreachable')
        shown = time.monotonic() - cut
        answer = http.post(f'{cluster.fleet}/api/actions/restart', timeout=60, json={
            'processes': ['gw:flower:flower', 'w2:worker-add:worker-add', 'w1:worker-add:worker-add']})
        items = {i['id']: i['status'] for i in answer.json()['results']}
        assert items == {'gw:flower:flower': 'SUCCESS', 'w2:worker-add:worker-add': 'SUCCESS',
                         'w1:worker-add:worker-add': 'UNREACHABLE'}, answer.text
    finally:
        cluster.net.link(w1, up=True)
    assert shown < 2.0, shown
    wait_for(lambda: all(reachable().values()), 10, 0.1, 'w1 reachable again')
    print(f'w1 shown unreachable {shown:.2f} s after its link went down')


def located(cluster: Cluster, where: str, **params: str) -> requests.Response:
    """/check through gw of the route only east reaches, from ``where``."""
    return requests.get(f'{cluster.web}/check', timeout=60,
                        params={'url': f'{cluster.east_only.url}/ok', 'from': where, **params})


def live_locations(cluster: Cluster) -> set[str]:
    return set(requests.get(f'{cluster.web}/locations', timeout=10).json()['locations'])


@pytest.mark.usefixtures('w2')
def test_a_route_only_east_reaches_is_partial_from_all(cluster: Cluster) -> None:
    wait_for(lambda: live_locations(cluster) == {'east', 'west'}, 10, 0.2, 'east and west live')
    body = located(cluster, 'all').json()
    assert (body['verdict'], body['up'], body['down']) == ('partial', ['east'], ['west']), body
    assert body['locations']['east']['ok'] and body['locations']['west']['ok'] is False
    assert body['locations']['west']['error'], body  # why: west's kernel will not send there
    east, west = located(cluster, 'east').json(), located(cluster, 'west').json()
    assert (east['ok'], east['location'], west['ok'], west['location']) == (True, 'east', False, 'west')
    assert located(cluster, 'west', quorum='1').status_code == 400
    assert located(cluster, 'west,east', quorum='1').json()['verdict'] == 'down'
    print(f'from all: {body["verdict"]}; west said {body["locations"]["west"]["error"]!r}')


@pytest.mark.usefixtures('w2')
def test_west_stopped_under_load_is_unavailable_within_10s_and_back_within_5s(cluster: Cluster) -> None:
    w2 = cluster.machines['w2']
    answers: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            answers.append(located(cluster, 'all').status_code)

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(load)
        wait_for(lambda: len(answers) >= 8, 30, 0.1, 'located load flowing')
        stopped = time.monotonic()
        w2.ctl('stop', 'worker-check')
        wait_for(lambda: 'west' not in live_locations(cluster), 10, 0.1, 'west gone')
        gone_after = time.monotonic() - stopped
        stop.set()
    assert set(answers) == {200}, Counter(answers)
    refused = located(cluster, 'west')
    assert refused.status_code == 503 and 'west' in refused.json()['error']
    body = located(cluster, 'all').json()
    assert (body['verdict'], body['up'], body['unavailable']) == ('up', ['east'], []), body
    with Connection(cluster.broker.url_from_client) as amqp:  # what was queued for west expired
        def west_empty() -> bool:
            return all(amqp.default_channel.queue_declare(q, passive=True).message_count == 0
                       for q in ('route_check.west', 'common_check.west'))
        wait_for(west_empty, 90, 0.5, "west's queues empty")
    w2.ctl('start', 'worker-check')
    started = time.monotonic()
    wait_for(lambda: 'west' in live_locations(cluster), 10, 0.1, 'west back')
    back_after = time.monotonic() - started
    assert located(cluster, 'west').json()['location'] == 'west'
    assert back_after < 5.0, back_after
    print(f'west gone from /locations {gone_after:.1f} s after its worker was stopped, '
          f'back {back_after:.1f} s after it was started')


@pytest.mark.usefixtures('w2')
def test_prometheus_sees_the_route_up_from_east_and_down_from_west(cluster: Cluster, tmp_path: Path) -> None:
    """The shipped route_probe_locations job (location=all), pointed at gw: one series per location."""
    config = yaml.safe_load((ROOT / 'deploy/prometheus/prometheus.yml').read_text())
    job = next(j for j in config['scrape_configs'] if j['job_name'] == 'route_probe_locations')
    job['static_configs'] = [{'targets': [f'{cluster.east_only.url}/ok']}]
    job['relabel_configs'][-1]['replacement'] = cluster.web.removeprefix('http://')
    scraping = {'global': {'scrape_interval': '1s'}, 'scrape_configs': [job]}
    with prometheus_server(scraping, tmp_path, cluster.log_dir) as prometheus:
        for location, success in (('east', 1), ('west', 0)):
            query = f'probe_success{{job="route_probe_locations",location="{location}"}}'
            wait_for(lambda query=query, success=success: promql(prometheus, query) == success, 30, 0.5,
                     f'probe_success from {location}')
