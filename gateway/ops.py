"""Endpoints for operators and tools: health, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from gateway import metrics, openapi
from gateway.base import ApiHandler


class HealthHandler(ApiHandler):
    endpoint = '/healthz'

    async def get(self) -> None:
        health = await self.producer.health()
        self.set_status(200 if all(health.values()) else 503)
        self.finish(health)


class MetricsHandler(ApiHandler):
    """Prometheus's text format, summed over the gateway's processes."""

    endpoint = '/metrics'

    def get(self) -> None:
        body, content_type = metrics.exposition()
        self.set_header('Content-Type', content_type)
        self.finish(body)


class OpenApiHandler(ApiHandler):
    """The API's contract, openapi.yaml, as JSON."""

    endpoint = '/openapi.json'

    def get(self) -> None:
        self.set_header('Content-Type', 'application/json')
        self.finish(openapi.document_json())


