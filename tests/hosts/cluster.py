"""route_check on the test hosts: the machines, and clients for the gateway, Flower and fleet on
`gw`, as a user on the client machine (the bridge's address) reaches them."""

from __future__ import annotations

import threading
import time
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from testbed.process import wait_for
from tests.fleet.servers import TimeoutTransport
from tests.hosts.machines import Machine
from tests.hosts.mq import Broker
from tests.hosts.network import Network
from tests.upstream import Upstream

LOCATIONS = {'w1': 'east', 'w2': 'west'}  # each worker host's LOCATION
ROLE_SETTINGS = {  # besides the shared broker and backend: what docs/operations.md tells each machine to set
    'worker': dict(ADD_CONCURRENCY='1', CHECK_CONCURRENCY='20'),
    # WEB_WAIT: the longest test keeps 100 two-second checks waiting on one host's 20 threads
    'gateway': dict(WEB_PROCESSES='1', WEB_WAIT='20', FLEET_CONFIG='fleet/examples/hosts.toml'),
}


@dataclass
class Cluster:
    net: Network
    broker: Broker
    upstream: Upstream
    east_only: Upstream  # on the client's second address, which west (w2) has a blackhole route to
    directory: Path
    log_dir: Path
    passwords: dict[str, str]
    machines: dict[str, Machine] = field(default_factory=dict)

    def start(self, name: str, role: str) -> Machine:
        host = self.net[name]
        settings = dict(BROKER_URL=self.broker.broker_url, RESULT_BACKEND=self.broker.result_backend,
                        CHECK_ALLOW=f'{self.net.client}/32,{self.net.client_alt}/32',
                        SUPERVISOR_PASSWORD=self.passwords[name], **ROLE_SETTINGS[role])
        if role == 'worker':  # fleet on gw reaches this supervisord over the network
            settings.update(SUPERVISOR_HOST=host.address, LOCATION=LOCATIONS[name])
        else:
            settings.update(WEB_HOST=host.address, FLOWER_HOST=host.address, FLEET_HOST=host.address,
                            FLOWER_PASSWORD=self.passwords['flower'],
                            FLEET_ADMIN_PASSWORD=self.passwords['fleet'],
                            W1_SUPERVISOR_PASSWORD=self.passwords['w1'],
                            W2_SUPERVISOR_PASSWORD=self.passwords['w2'])
        machine = Machine(host, self.directory / name, self.log_dir, role, **settings)
        self.machines[name] = machine
        return machine

    def stop(self) -> None:
        for machine in self.machines.values():
            machine.stop()

    @property
    def web(self) -> str:
        return f'http://{self.net["gw"].address}:8889'

    @property
    def flower(self) -> str:
        return f'http://{self.net["gw"].address}:5555'

    @property
    def fleet(self) -> str:
        return f'http://{self.net["gw"].address}:9001'

    def wait_gateway(self) -> None:
        """RUNNING (startsecs) is not listening yet, on a busy machine: wait for the answers."""
        for url in (f'{self.web}/healthz', f'{self.flower}/healthcheck', f'{self.fleet}/login'):
            wait_for(lambda url=url: requests.get(url, timeout=5).ok, 60, 0.2, f'{url} answering')

    def slow_url(self, ms: int, token: str) -> str:
        return f'{self.upstream.url}/slow?ms={ms}&t={token}'

    def check(self, ms: int, token: str) -> requests.Response:
        return requests.get(f'{self.web}/check', params={'url': self.slow_url(ms, token)}, timeout=60)

    def checks(self, count: int, ms: int) -> list[requests.Response]:
        """``count`` concurrent /check requests through gw, all in flight at once."""
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(lambda i: self.check(ms, f'c{i}-{time.monotonic_ns()}'), range(count)))

    def flower_get(self, path: str) -> Any:
        response = requests.get(self.flower + path, auth=('admin', self.passwords['flower']), timeout=30)
        response.raise_for_status()
        return response.json()

    def tasks(self, task_ids: list[str], timeout: float = 20) -> dict[str, dict]:
        """{task id: Flower's record of it}, once Flower knows the worker that ran each."""
        def known() -> dict[str, dict] | None:
            tasks = self.flower_get('/api/tasks')
            found = {t: tasks[t] for t in task_ids if t in tasks and tasks[t].get('worker')}
            return found if len(found) == len(task_ids) else None
        return wait_for(known, timeout, 0.5, 'Flower knowing the worker of every task')

    def workers_of(self, task_ids: list[str]) -> dict[str, str]:
        """{task id: hostname of the worker that ran it}, from Flower's API."""
        return {task_id: task['worker'] for task_id, task in self.tasks(task_ids).items()}

    def rpc(self, name: str) -> Any:
        """A worker host's supervisord over the network, as fleet on gw reaches it."""
        url = f'http://admin:{self.passwords[name]}@{self.net[name].address}:2345/RPC2'
        return xmlrpc.client.ServerProxy(url, transport=TimeoutTransport()).supervisor

    def running_workers(self, name: str) -> set[str]:
        return {p['name'] for p in self.rpc(name).getAllProcessInfo()
                if p['statename'] == 'RUNNING' and p['name'].startswith('worker-')}

    def fleet_session(self) -> requests.Session:
        """Logged in to fleet on gw, sending the XSRF token as its pages' scripts do."""
        http = requests.Session()
        http.get(f'{self.fleet}/login', timeout=10)
        response = http.post(f'{self.fleet}/login', timeout=10, allow_redirects=False, data={
            'username': 'admin', 'password': self.passwords['fleet'], '_xsrf': http.cookies['_xsrf']})
        assert response.status_code == 302, response.text
        http.headers['X-XSRFToken'] = http.cookies['_xsrf']
        return http


@dataclass
class Load:
    """``clients`` threads sending /check through gw one after another until stop() (at most
    ``limit`` seconds): bounded in time and count. Keeps every answer with when it came."""

    cluster: Cluster
    clients: int = 6
    ms: int = 300
    limit: float = 60
    answers: list[tuple[float, int, dict]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
                         for i in range(self.clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _client(self, index: int) -> None:
        deadline = time.monotonic() + self.limit
        n = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            n += 1
            try:
                response = self.cluster.check(self.ms, f'load{index}-{n}-{time.monotonic_ns()}')
                answer = (time.monotonic(), response.status_code, response.json())
            except (requests.RequestException, ValueError) as exc:
                answer = (time.monotonic(), 0, {'error': repr(exc)})
            self.answers.append(answer)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(70)

    def task_ids(self, since: float = 0) -> list[str]:
        return [body['task_id'] for t, status, body in self.answers if t >= since and status == 200]

    def failures(self) -> list[tuple[float, int, dict]]:
        return [a for a in self.answers if a[1] != 200 or not a[2].get('ok')]
