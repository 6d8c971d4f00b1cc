"""Host `mq`: a RabbitMQ node and a Redis server of their own, as an operator would set them up
for remote workers (docs/operations.md, "Adding a worker machine"): AMQP and Redis on the host's bridge
address, a RabbitMQ user other than guest, a Redis password. Erlang's epmd and distribution port
stay on the host's loopback.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

from testbed.process import Proc, wait_for
from tests.hosts.network import Host

RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'  # /usr/sbin's switches to the rabbitmq user
RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl'
USER = 'route_check'


class Broker:
    """RabbitMQ and Redis on ``host``; stop() ends both."""

    def __init__(self, host: Host, directory: Path, log_dir: Path):
        self.host = host
        self.dir = directory
        self.password = secrets.token_urlsafe(12)
        self.redis_password = secrets.token_urlsafe(12)
        self.broker_url = f'amqp://{USER}:{self.password}@{host.name}:5672//'
        self.result_backend = f'redis://:{self.redis_password}@{host.name}:6379/0'
        # The same, from the test runner (the bridge's address), which has no name for the host
        self.url_from_client = f'amqp://{USER}:{self.password}@{host.address}:5672//'
        self.env = self._rabbitmq_env()
        self.rabbitmq = Proc('mq-rabbitmq', host.on(RABBITMQ_SERVER), self.env, log_dir, cwd=directory)
        self.redis = Proc('mq-redis', host.on(
            'redis-server', '--bind', host.address, '--port', '6379', '--requirepass', self.redis_password,
            '--save', '', '--appendonly', 'no', '--dir', str(directory)), dict(os.environ), log_dir)

    def _rabbitmq_env(self) -> dict[str, str]:
        d = self.dir
        (d / 'home').mkdir(parents=True)
        cookie = d / 'home/.erlang.cookie'
        cookie.write_text(secrets.token_hex(16))
        cookie.chmod(0o400)
        # Our own env file: the machine's pins the node name and distribution to its loopback.
        (d / 'rabbitmq-env.conf').write_text('')
        (d / 'rabbitmq.conf').write_text('log.console = false\n')
        (d / 'enabled_plugins').write_text('[].\n')
        return dict(
            os.environ, HOME=str(d / 'home'), RABBITMQ_CONF_ENV_FILE=str(d / 'rabbitmq-env.conf'),
            RABBITMQ_CONFIG_FILE=str(d / 'rabbitmq.conf'),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / 'enabled_plugins'),
            RABBITMQ_NODENAME='rabbit@localhost', RABBITMQ_NODE_IP_ADDRESS=self.host.address,
            RABBITMQ_NODE_PORT='5672', RABBITMQ_DIST_PORT='25672', ERL_EPMD_ADDRESS='127.0.0.1',
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}',
            RABBITMQ_MNESIA_BASE=str(d / 'mnesia'), RABBITMQ_LOG_BASE=str(d / 'log'),
            RABBITMQ_PID_FILE=str(d / 'rabbitmq.pid'))

    def ctl(self, *args: str) -> None:
        subprocess.run(self.host.on(RABBITMQCTL, '-q', *args), env=self.env, check=True, capture_output=True,
                       timeout=60)

    def ready(self, timeout: float = 90) -> None:
        """Wait for both, then add the workers' RabbitMQ user the way docs/operations.md does."""
        self.ctl('wait', '--timeout', str(int(timeout)), str(self.dir / 'rabbitmq.pid'))
        self.ctl('add_user', USER, self.password)
        self.ctl('set_permissions', '-p', '/', USER, '.*', '.*', '.*')
        wait_for(lambda: 'Ready to accept connections' in self.redis.log(), 30, 0.1, 'redis ready')

    def stop(self) -> None:
        pid_file = self.dir / 'rabbitmq.pid'
        if pid_file.exists():  # the server script forks beam.smp: end the node by its own pid
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        self.rabbitmq.stop(timeout=30)
        self.redis.stop()
        # The node started epmd, which outlives it.
        subprocess.run(self.host.on('epmd', '-kill'), env=self.env, capture_output=True, timeout=30)
