"""The hosts `mq`, `gw`, `w1` and `w2` (network namespaces), and route_check on them as
docs/operations.md's "Adding a worker machine" sets it up. `w2` joins later, under load, in the tests.

Teardown ends every process, removes every namespace, veth and the bridge by name (even when a
test failed), and asserts that `ip netns list` no longer shows them.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from tests.hosts.cluster import Cluster
from tests.hosts.mq import Broker
from tests.hosts.network import Network, NoNamespaces, namespaces
from tests.upstream import Upstream


@pytest.fixture(scope='module')
def network() -> Iterator[Network]:
    try:
        net = Network(['mq', 'gw', 'w1', 'w2'])
    except NoNamespaces as exc:
        pytest.skip(f'no test hosts: {exc}')
    left: dict[str, list[str]] = {}
    try:
        yield net
    finally:
        for host in net.hosts.values():  # every process of ours has ended by now
            pids = subprocess.run(['ip', 'netns', 'pids', host.netns], capture_output=True, text=True).stdout
            if pids.split():
                left[host.name] = pids.split()
        net.close()
    assert not {n for n in namespaces() if n.startswith(net.prefix)}, 'namespaces left behind'
    assert not left, f'processes left running on the hosts: {left}'


@pytest.fixture(scope='module')
def cluster(network: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp('hosts')
    log_dir = directory / 'logs'
    log_dir.mkdir()
    broker = Broker(network['mq'], directory / 'mq', log_dir)
    upstream = Upstream(network.client)  # the routes checked live on the client machine
    east_only = Upstream(network.client_alt)
    network.blackhole(network['w2'], network.client_alt)
    cluster = Cluster(network, broker, upstream, east_only, directory, log_dir, {
        name: secrets.token_urlsafe(12) for name in ('gw', 'w1', 'w2', 'flower', 'fleet')})
    try:
        broker.ready()
        cluster.start('w1', 'worker')
        cluster.start('gw', 'gateway')
        for machine in cluster.machines.values():
            machine.wait_running()
        cluster.wait_gateway()
        yield cluster
    finally:
        cluster.stop()
        upstream.close()
        east_only.close()
        broker.stop()

