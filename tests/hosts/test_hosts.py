"""route_check across machines, set up as README's "Adding a worker machine" says: RabbitMQ and
Redis on `mq`, the gateway, Flower and fleet on `gw`, the workers on `w1` and `w2`.

The tests run in file order and build on each other's state (one set of hosts for the module).
"""

from __future__ import annotations

import requests

from tests.hosts.cluster import Cluster


def test_add_and_check_through_the_gateway(cluster: Cluster) -> None:
    response = requests.get(f'{cluster.web}/add', params={'x': 1, 'y': 2}, timeout=30)
    assert response.status_code == 200 and response.json() == {'results': 3}, response.text
    answers = cluster.checks(10, ms=50)
    assert [(a.status_code, a.json()['ok']) for a in answers] == [(200, True)] * 10
    ran_on = cluster.workers_of([a.json()['task_id'] for a in answers])
    assert set(ran_on.values()) == {'check@w1'}  # w2 has not joined yet
