"""The rows of a run: one measured (or stalled) run of one stack at one client count, by the
stack's key, with each component's CPU per request."""

from __future__ import annotations

from dataclasses import dataclass

from bench.apps.upstream import MEAN
from bench.load import Run

STACKS = {
    'a': 'a. uWSGI + Flask (10 processes x 3 threads)',
    'b': 'b. web.py + prefork check worker -c 10 (seed)',
    'c': 'c. N x web.py + thread check worker (ours)',
    'ours': 'web.py (ours)',
    'c-quorum': 'c on a 3-node RabbitMQ cluster, quorum queues',
    'ours-quorum': 'web.py (ours), 3-node RabbitMQ cluster, quorum queues',
    'naive': 'naive Tornado (apply_async + run_in_executor(get))',
    'plain': 'plain Celery client, threads (ceiling)',
    'fastapi': 'FastAPI + uvicorn --workers N, Celery client in the thread pool (peer)',
    'floor': 'floor: N x Tornado answering after the same wait, nothing behind it',
    'bare': 'bare: N x Tornado + as_task_v2 + aio-pika + redis.asyncio, nothing else',
    'probe': 'c answering /probe: N x web.py + thread check worker, RabbitMQ, Redis (ours)',
    'blackbox': "Debian's blackbox_exporter, one process (reference)",
    'one-check': 'c with two check workers at east and west: a single /check',
    'from-all': 'the same stack: /check from=all, one check at each of the 2 locations',
}
# CPU per request: the stack's own components; the upstream is what is checked, not the stack.
STACK_COMPONENTS = ('web', 'uwsgi', 'exporter', 'worker', 'rabbitmq', 'redis')
# Endpoints that call the slow upstream once per request: bounded by clients / its mean latency.
UPSTREAM_BOUND = ('/check', '/probe')


@dataclass
class Row:
    endpoint: str
    stack: str
    clients: int
    qps: float
    per_min: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    ok: int
    errors: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    bound_qps: float | None  # /check and /probe: clients / mean upstream latency
    client_cpu_pct: float  # wrk (or the plain client), % of one core
    machine_busy_pct: float
    cpu_pct: dict[str, float]
    note: str = ''  # why a run has no figures
    redis_memory: tuple[int, int] | None = None  # Redis used_memory before and after, bytes

    @classmethod
    def stalled(cls, endpoint: str, stack: str, clients: int, why: str) -> Row:
        bound = round(clients / MEAN, 1) if endpoint in UPSTREAM_BOUND else None
        return cls(
            endpoint,
            stack,
            clients,
            0.0,
            0,
            0.0,
            0.0,
            0.0,
            0,
            0,
            {},
            {},
            bound,
            0.0,
            0.0,
            {},
            note=f'not measured: stack stalled ({why})',
        )

    @classmethod
    def of(cls, endpoint: str, stack: str, run: Run) -> Row:
        return cls(
            endpoint=endpoint,
            stack=stack,
            clients=run.clients,
            qps=round(run.qps, 1),
            per_min=round(run.qps * 60),
            p50_ms=round(run.latency_ms['p50'], 2),
            p90_ms=round(run.latency_ms['p90'], 2),
            p99_ms=round(run.latency_ms['p99'], 2),
            ok=run.ok,
            errors=run.errors,
            statuses=run.statuses,
            socket_errors=run.socket_errors,
            bound_qps=round(run.clients / MEAN, 1) if endpoint in UPSTREAM_BOUND else None,
            client_cpu_pct=round(run.client_cpu_pct, 1),
            machine_busy_pct=round(run.machine_busy_pct, 1),
            cpu_pct=run.cpu_pct,
            redis_memory=run.redis_memory,
        )

    def cpu_ms(self, component: str) -> float | None:
        """CPU milliseconds a component spent per answered request (% of one core / qps)."""
        if component not in self.cpu_pct or not self.qps:
            return None
        return self.cpu_pct[component] * 10 / self.qps

    @property
    def stack_cpu_ms(self) -> float | None:
        parts = [self.cpu_ms(c) for c in STACK_COMPONENTS if c in self.cpu_pct]
        return sum(p for p in parts if p is not None) if parts and self.qps else None


def find_row(rows: list[Row], endpoint: str, stack: str, clients: int) -> Row | None:
    return next((r for r in rows if (r.endpoint, r.stack, r.clients) == (endpoint, stack, clients)), None)
