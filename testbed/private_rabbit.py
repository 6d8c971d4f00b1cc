"""Private RabbitMQ nodes, alone or clustered, for tests and the benchmark.

Each node runs from its own data, log and home dirs (its Erlang cookie) on free loopback ports,
as a child process group of ours, and is ended by that group only: the shared broker
(127.0.0.1:5672) is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kombu import Connection

from testbed.process import PrivateService, free_port, stop_group, wait_for

RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'  # not the wrapper: it would su to rabbitmq
RABBITMQ_BIN = Path('/usr/lib/rabbitmq/bin')  # the CLI tools, likewise; with the node's HOME (cookie)


class PrivateRabbit(PrivateService):
    """A RabbitMQ node of our own on free ports, with its data under ``base``.

    HOME points into ``base`` too, so its Erlang cookie is private and root's home is untouched.
    Stopping and starting it again keeps the Mnesia directory: durable queues and persistent
    messages survive, as they would across a real broker restart. Nodes given the same ``cookie``
    can form a cluster (see PrivateCluster).
    """

    def __init__(self, base: Path, cookie: str | None = None):
        self.base = base
        self.port, self.dist_port = free_port(), free_port()
        self.node = f'rc_private_{uuid.uuid4().hex[:8]}@localhost'
        for sub in ('home', 'mnesia', 'log'):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / 'enabled_plugins').write_text('[].\n')
        (base / 'rabbitmq.conf').write_text(f'listeners.tcp.default = 127.0.0.1:{self.port}\n')
        (base / 'rabbitmq-env.conf').write_text('')  # not /etc/rabbitmq's (it names the shared node)
        if cookie is not None:
            cookie_file = base / 'home' / '.erlang.cookie'
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        self.env = dict(
            os.environ, HOME=str(base / 'home'), RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1', RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port), RABBITMQ_MNESIA_BASE=str(base / 'mnesia'),
            RABBITMQ_LOG_BASE=str(base / 'log'), RABBITMQ_ENABLED_PLUGINS_FILE=str(base / 'enabled_plugins'),
            RABBITMQ_CONFIG_FILE=str(base / 'rabbitmq.conf'),
            RABBITMQ_CONF_ENV_FILE=str(base / 'rabbitmq-env.conf'),
            ERL_FLAGS='-kernel inet_dist_use_interface {127,0,0,1}',
        )
        self.url = f'amqp://guest:guest@127.0.0.1:{self.port}//'
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 90.0) -> float:
        """Start the node and wait until it takes AMQP connections; return how long that took."""
        started = time.monotonic()
        self.starts += 1
        log = open(self.base / f'server-{self.starts}.out', 'ab')  # the child owns it
        self.popen = subprocess.Popen([RABBITMQ_SERVER], env=self.env, cwd=self.base, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

        def answering() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(f'rabbitmq-server exited: see {self.base}')
            with Connection(self.url, connect_timeout=1) as conn:
                conn.connect()
                return True
        wait_for(answering, timeout, 0.2, f'private RabbitMQ {self.node} up')
        return time.monotonic() - started

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM is RabbitMQ's graceful stop; the process group takes epmd-free children along."""
        if self.popen is not None:
            stop_group(self.popen, sig, timeout=60)

    def depth(self, queue: str) -> int:
        with Connection(self.url) as conn:
            return conn.default_channel.queue_declare(queue, passive=True).message_count

    def ctl(self, *args: str, tool: str = 'rabbitmqctl', timeout: float = 90.0) -> str:
        """A RabbitMQ CLI tool (rabbitmqctl, rabbitmq-upgrade...) against this node."""
        return subprocess.run([str(RABBITMQ_BIN / tool), '-q', '-n', self.node, *args], env=self.env,
                              check=True, capture_output=True, text=True, timeout=timeout).stdout

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class PrivateCluster(PrivateService):
    """Three (``size``) private RabbitMQ nodes clustered on loopback: one cookie, own ports and dirs.

    Each node is a PrivateRabbit; the others join the first with ``join_cluster`` once, and a
    node stopped and started again rejoins by itself (its Mnesia directory says where it belongs).
    """

    def __init__(self, base: Path, size: int = 3):
        cookie = uuid.uuid4().hex.upper()
        self.nodes = [PrivateRabbit(base / f'n{i + 1}', cookie) for i in range(size)]

    def start(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(), self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl('stop_app')
            node.ctl('join_cluster', first.node)
            node.ctl('start_app')
        wait_for(lambda: self.running() == len(self.nodes), 60, 0.5, 'every node in the cluster')

    def running(self) -> int:
        """How many nodes the first live node sees running in the cluster."""
        node = next(n for n in self.nodes if n.alive)
        status = node.ctl('cluster_status', '--formatter', 'json')
        return len(json.loads(status)['running_nodes'])

    def url(self, *order: int) -> str:
        """BROKER_URL in Celery's failover form, the nodes in ``order`` (indexes) or all in turn."""
        return ';'.join(self.nodes[i].url for i in (order or range(len(self.nodes))))

    def leaders(self) -> dict[str, str]:
        """Queue name -> the node name holding its quorum leader."""
        node = next(n for n in self.nodes if n.alive)
        rows = json.loads(node.ctl('list_queues', 'name', 'type', 'leader', '--formatter', 'json'))
        return {row['name']: row['leader'] for row in rows if row.get('type') == 'quorum'}

    def connected_node(self, connection_name: str) -> PrivateRabbit:
        """The node that holds the client connection named ``connection_name``."""
        node = next(n for n in self.nodes if n.alive)
        rows = json.loads(node.ctl('list_connections', 'port', 'client_properties', '--formatter', 'json'))
        ports = {row['port'] for row in rows  # each node listens on its own port
                 if [connection_name] == [value for key, _, value in row['client_properties']
                                          if key == 'connection_name']}
        assert len(ports) == 1, (connection_name, rows)
        return next(n for n in self.nodes if n.port in ports)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
