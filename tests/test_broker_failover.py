"""BROKER_URL with several nodes, Celery's form: the gateway uses the first that answers.

The real failover (a node killed under load) is in tests/chaos/test_cluster.py; this is the
cheap check that runs with every test run, on the shared broker.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from testbed.process import Proc, free_port
from testbed.vhosts import Vhost
from tests.processes import base_env, start_web


def test_a_dead_first_node_is_skipped(vhost: Vhost, workers: dict[str, Proc], log_dir: Path) -> None:
    dead = f'amqp://guest:guest@127.0.0.1:{free_port()}//'
    proc, url = start_web(base_env(BROKER_URL=f'{dead};{vhost.url}'), log_dir, name='web-two-nodes')
    try:
        started = time.monotonic()
        response = requests.get(f'{url}/add', params={'x': 1, 'y': 2}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json() == {'results': 3}  # the workers behind the live node ran it
        assert time.monotonic() - started < 3  # a refused connect costs no timeout
        assert requests.get(f'{url}/healthz', timeout=10).json() == {'broker': True, 'result_backend': True}
    finally:
        proc.stop()
