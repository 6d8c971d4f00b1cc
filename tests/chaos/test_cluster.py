"""A 3-node RabbitMQ cluster with quorum queues, under load, losing nodes (private nodes only).

Besides what every failover must hold (failover.py), the gateway and the worker move to the
remaining nodes by themselves, without a restart.

The worker connects to n1 first, so it declares the queues there and n1 holds their leaders;
the gateway lists n2 first. Killing "the gateway's node" and "the leaders' node" are then two
different failures, checked on the cluster itself (``connected_node``, ``leaders``).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import routing
from testbed.private_rabbit import PrivateCluster, PrivateRabbit
from testbed.process import Proc, wait_for
from tests.chaos.failover import record_and_check, under_load
from tests.chaos.tally import Tally
from tests.processes import base_env, start_web, start_worker
from tests.upstream import Upstream

GATEWAY = 'tcelery gateway'  # the publisher's AMQP connection name


@dataclass
class Stack:
    cluster: PrivateCluster
    worker: Proc
    web: Proc
    url: str


@pytest.fixture(scope='module')
def stack(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[Stack]:
    with PrivateCluster(tmp_path_factory.mktemp('cluster')) as cluster:
        worker = web = None
        try:
            # Admission control off: these scenarios measure failover, and a re-election's backlog
            # would be refused as overload (scenarios 4 and 12 cover refusals). RABBITMQ_API also
            # names the machine's broker, not this private cluster.
            env = base_env(QUEUE_TYPE='quorum', MAX_BACKLOG_SECONDS='0')
            worker = start_worker('check', dict(env, BROKER_URL=cluster.url(0, 1, 2)), log_dir, concurrency=8,
                                  name='chaos-worker-cluster', queues=(routing.QUEUE_OF[routing.HTTP_CHECK],))
            web, url = start_web(dict(env, BROKER_URL=cluster.url(1, 2, 0), WEB_WAIT='2'), log_dir,
                                 name='chaos-web-cluster')
            # The gateway connects lazily; its health check makes it connect now.
            wait_for(lambda: requests.get(f'{url}/healthz', timeout=5).ok, 30, 0.2, 'gateway healthy')
            yield Stack(cluster, worker, web, url)
        finally:
            for proc in (web, worker):
                if proc is not None:
                    proc.stop()


def rejoin(cluster: PrivateCluster, node: PrivateRabbit) -> None:
    node.start()
    wait_for(lambda: cluster.running() == len(cluster.nodes), 60, 0.5, f'{node.node} back in the cluster')


def test_kill_the_gateways_node(stack: Stack, upstream: Upstream, tally: Tally) -> None:
    victim = stack.cluster.connected_node(GATEWAY)
    assert victim is stack.cluster.nodes[1]  # the first of its list
    outcome = under_load(stack.url, upstream, lambda: victim.stop(signal.SIGKILL))
    survivor = stack.cluster.connected_node(GATEWAY)
    rejoin(stack.cluster, victim)
    record_and_check(outcome, tally, '8. RabbitMQ cluster: kill -9 of the node the gateway is connected to',
          f'3 nodes, quorum queues; gateway moved {victim.node.split("@")[0]} -> '
          f'{survivor.node.split("@")[0]}')
    assert survivor is not victim
    assert stack.web.popen.poll() is None and stack.worker.popen.poll() is None


def test_kill_the_node_holding_the_queue_leaders(stack: Stack, upstream: Upstream, tally: Tally) -> None:
    leaders = task_queue_leaders(stack.cluster)
    leader_node = Counter(leaders.values()).most_common(1)[0][0]
    victim = next(n for n in stack.cluster.nodes if n.node == leader_node)
    assert victim is not stack.cluster.connected_node(GATEWAY)  # a failure of its own kind
    outcome = under_load(stack.url, upstream, lambda: victim.stop(signal.SIGKILL))
    moved = task_queue_leaders(stack.cluster)
    rejoin(stack.cluster, victim)
    record_and_check(outcome, tally, '9. RabbitMQ cluster: kill -9 of the node holding the queue leaders',
                     f'task queues whose leader moved: {sum(n == leader_node for n in leaders.values())}')
    assert leader_node not in moved.values()


def task_queue_leaders(cluster: PrivateCluster) -> dict[str, str]:
    """The leaders of our task queues: the worker declared them first, on n1. (Celery's own
    celery_delayed_* queues are declared through each broker node in no fixed order.)"""
    return {queue: node for queue, node in cluster.leaders().items() if queue in routing.ALL_QUEUES}


def test_rolling_restart(stack: Stack, upstream: Upstream, tally: Tally) -> None:
    def restart_each() -> None:
        for node in stack.cluster.nodes:
            # What an operator runs before stopping a node: wait until every quorum queue keeps
            # a majority without it.
            node.ctl('await_online_quorum_plus_one', '-t', '120', tool='rabbitmq-upgrade', timeout=150)
            node.stop()
            rejoin(stack.cluster, node)
    started = time.monotonic()
    outcome = under_load(stack.url, upstream, restart_each)
    record_and_check(outcome, tally, '10. RabbitMQ cluster: rolling restart, one node at a time',
          f'3 graceful stops and starts in {time.monotonic() - started:.0f}s')
