"""Queue consume rates from RabbitMQ's management API, the one Flower's broker page reads."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient


class ManagementApi:
    """``http://user:password@host:15672/api/`` (RABBITMQ_API), for the queues of ``vhost``."""

    def __init__(self, api_url: str, vhost: str, timeout: float = 2.0):
        parts = urlsplit(api_url)
        self._auth = {'auth_username': unquote(parts.username or ''),
                      'auth_password': unquote(parts.password or '')}
        netloc = parts.hostname + (f':{parts.port}' if parts.port else '')
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip('/') + '/', '', ''))
        self._queues = f'{base}queues/{quote(vhost, safe="")}/'
        self._timeout = timeout
        self._client = AsyncHTTPClient()

    async def ack_rate(self, queue: str) -> float | None:
        """Messages acked per second (RabbitMQ's sample of the last few seconds); None if unknown."""
        response = await self._client.fetch(
            f'{self._queues}{quote(queue, safe="")}?columns=message_stats.ack_details.rate',
            request_timeout=self._timeout, raise_error=False, **self._auth)
        if response.code != 200:
            return None
        stats = json.loads(response.body).get('message_stats') or {}
        return float(stats.get('ack_details', {}).get('rate', 0.0))
