"""A real Prometheus (Debian's package, scripts/prometheus.sh) scraping the supervised system:
both web.py processes through their one port, and Flower. deploy/prometheus/ is checked by
promtool, and its alert rules by promtool's rule tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from testbed.process import ROOT, free_port, wait_for
from tests.processes import gateway_metric, prometheus_server, promql, promtool
from tests.supervised import System
from tests.upstream import Upstream

DEPLOY = ROOT / 'deploy' / 'prometheus'
ADD_OK = 'sum(route_check_http_requests_total{endpoint="/add",status="200"})'
CHECK_BAD = 'sum(route_check_http_requests_total{endpoint="/check",status="400"})'


def test_the_shipped_config_and_rules_are_valid() -> None:
    assert 'SUCCESS' in promtool('check', 'config', str(DEPLOY / 'prometheus.yml'))
    assert 'SUCCESS: 10 rules found' in promtool('check', 'rules', str(DEPLOY / 'alerts.yml'))
    assert 'SUCCESS' in promtool('test', 'rules', str(DEPLOY / 'alerts_test.yml'))


def scrape_config(system: System, routes: list[str]) -> dict:
    """The shipped config on this system's ports, scraping every second; the probe job probes
    ``routes`` through the system's gateway, its relabelling as shipped but for the address."""
    config = yaml.safe_load((DEPLOY / 'prometheus.yml').read_text())
    config['global'] = {'scrape_interval': '1s', 'evaluation_interval': '1s'}
    config['rule_files'] = [str(DEPLOY / 'alerts.yml')]
    address = {'route_check_gateway': system.web, 'flower': system.flower}
    for job in config['scrape_configs']:
        if job['job_name'].startswith('route_probe'):
            job['static_configs'] = [{'targets': routes}]
            job['relabel_configs'][-1]['replacement'] = system.web.removeprefix('http://')
        else:
            job['static_configs'] = [{'targets': [address[job['job_name']].removeprefix('http://')]}]
    return config


@pytest.fixture(scope='module')
def probed(upstream: Upstream) -> dict[str, float]:
    """The routes the probe job watches, and the probe_success each must show."""
    return {f'{upstream.url}/ok': 1, f'http://127.0.0.1:{free_port()}/': 0}


@pytest.fixture(scope='module')
def prometheus(system: System, probed: dict[str, float], tmp_path_factory: pytest.TempPathFactory,
               log_dir: Path) -> Iterator[str]:
    with prometheus_server(scrape_config(system, list(probed)), tmp_path_factory.mktemp('prometheus'),
                           log_dir) as url:
        yield url


def settled(prometheus: str, query: str, expected: float) -> bool:
    """True once Prometheus's latest scrape shows ``expected``; fails at once if it goes past it."""
    value = promql(prometheus, query) or 0.0
    assert value <= expected, (query, value, expected)
    return value == expected


def test_prometheus_counts_the_requests_sent(system: System, prometheus: str) -> None:
    # Both processes' counts, whatever reached them before: what Prometheus sees now must match.
    requests_total = 'route_check_http_requests_total'
    base_add = gateway_metric(system.web, requests_total, endpoint='/add', status='200')
    base_bad = gateway_metric(system.web, requests_total, endpoint='/check', status='400')
    wait_for(lambda: settled(prometheus, ADD_OK, base_add) and settled(prometheus, CHECK_BAD, base_bad),
             30, 0.5, 'Prometheus caught up with the gateway')
    sent_add, sent_bad = 17, 5
    for n in range(sent_add):  # a new connection each: the kernel spreads them over both processes
        answer = requests.get(f'{system.web}/add', params={'x': n, 'y': 1}, timeout=15)
        assert answer.json() == {'results': n + 1}
    for _ in range(sent_bad):
        assert requests.get(f'{system.web}/check', params={'url': 'ftp://x/'}, timeout=15).status_code == 400
    wait_for(lambda: settled(prometheus, ADD_OK, base_add + sent_add)
             and settled(prometheus, CHECK_BAD, base_bad + sent_bad), 30, 0.5, 'Prometheus counting them')
    # Both web processes answered some of them, and each wrote its own counts.
    pids = {p['pid'] for name, p in system.states().items() if name.startswith('web-')}
    files = {path.name for path in (system.home / 'var/run/metrics').glob('counter_*.db')}
    assert {f'counter_{pid}.db' for pid in pids} <= files, (pids, files)
    published = 'sum(route_check_task_publishes_total{task="add_task.add",outcome="confirmed"})'
    assert promql(prometheus, published) >= sent_add
    assert promql(prometheus, 'min(route_check_broker_connected)') == 1


def test_prometheus_scrapes_flower(system: System, prometheus: str) -> None:
    requests.get(f'{system.web}/add', params={'x': 1, 'y': 1}, timeout=15)
    wait_for(lambda: promql(prometheus, 'up{job="flower"}') == 1, 30, 0.5, 'Flower scraped')
    # The gateway's batched task-sent events reach Flower, which counts them per task.
    wait_for(lambda: (promql(prometheus, 'sum(flower_events_total{type="task-sent",task="add_task.add"})')
                      or 0) > 0, 30, 0.5, "Flower's count of task-sent events")
    wait_for(lambda: promql(prometheus, 'count(flower_worker_online == 1)') == 2, 30, 0.5, 'workers online')

    def rules() -> list[dict]:
        return requests.get(f'{prometheus}/api/v1/rules', timeout=5).json()['data']['groups'][0]['rules']
    names = {rule['name'] for rule in rules()}
    assert {'GatewayErrorRatioHigh', 'WorkerMissing', 'TaskBacklogGrowing'} <= names
    wait_for(lambda: all(rule['health'] == 'ok' for rule in rules()), 30, 0.5, 'every rule evaluated')


def test_prometheus_probes_routes_through_the_gateway(system: System, prometheus: str,
                                                     probed: dict[str, float]) -> None:
    """blackbox_exporter's job, pointed at our /probe: PromQL reads each route's probe_success."""
    for route, success in probed.items():
        query = f'probe_success{{job="route_probe",instance="{route}"}}'
        wait_for(lambda query=query, success=success: promql(prometheus, query) == success, 30, 0.5,
                 f'{route} probed')
    ok = next(route for route, success in probed.items() if success)
    assert promql(prometheus, f'probe_http_status_code{{instance="{ok}"}}') == 200
