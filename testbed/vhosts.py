"""Private RabbitMQ vhosts on the shared broker, so no stray worker of another run takes our tasks."""

from __future__ import annotations

import subprocess
import uuid

from kombu import Connection


def rabbitmqctl(*args: str) -> None:
    subprocess.run(['rabbitmqctl', '-q', *args], check=True, capture_output=True, timeout=60)


class Vhost:
    """A vhost of its own name. ``create=False`` only names it: a client pointed at it before
    create() is refused by the broker, and so never reaches anybody's workers."""

    def __init__(self, prefix: str = 'route_check_test', create: bool = True):
        self.name = f'{prefix}_{uuid.uuid4().hex[:10]}'
        self.url = f'amqp://guest:guest@127.0.0.1:5672/{self.name}'
        self.created = False
        if create:
            self.create()

    def create(self) -> None:
        rabbitmqctl('add_vhost', self.name)
        rabbitmqctl('set_permissions', '-p', self.name, 'guest', '.*', '.*', '.*')
        self.created = True

    def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (0 when it was never declared)."""
        with Connection(self.url) as conn:
            try:
                return conn.default_channel.queue_declare(queue, passive=True).message_count
            except Exception as exc:
                if getattr(exc, 'code', None) == 404:
                    return 0
                raise

    def __enter__(self) -> Vhost:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.delete()

    def delete(self) -> None:
        if self.created:
            rabbitmqctl('delete_vhost', self.name)
            self.created = False
