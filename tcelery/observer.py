"""What the producer reports as it works, for whoever watches it (the gateway's metrics).

tcelery itself depends on no metrics library: it calls an Observer, whose methods here do nothing.
"""

from __future__ import annotations


class Observer:
    """Override what you need; each method is called on the event loop and must not block."""

    def published(self, task: str, seconds: float, accepted: bool) -> None:
        """A task message was confirmed by the broker (``accepted``) or given up on, after
        ``seconds`` including retries."""

    def broker_connection(self, up: bool) -> None:
        """The AMQP connection came up or went down (aio-pika then reconnects by itself)."""

    def result_backend_connection(self, up: bool) -> None:
        """The Redis result subscription was confirmed, or lost."""
