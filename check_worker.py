"""Route checks: does an HTTP(S) URL, or a host:port, answer, how fast, and with what.

These tasks spend their time waiting on the network, so their queues are consumed by a
thread-pool worker (``-P threads``) with high concurrency; see README, "How it fits together".
Each task runs the probe engine's coroutine (probe/) on its pool thread's own event loop.
A target that refuses, times out or fails is a *result* with ``ok: false``, not a task failure:
the check did its job.
"""

from __future__ import annotations

import asyncio
from typing import Any

from celery import Task, signals
from celery.apps.worker import Worker

import probe.http
import probe.tcp
import routing
from main import app
from probe.options import DEFAULT_TIMEOUT, BadOption, CheckOptions
from probe.policy import Policy, TargetRefused, validate_port
from probe.runner import run

# CHECK_ALLOW, read once when the worker loads its tasks; the gateway builds its own.
ENV_POLICY = Policy.from_env()


def http_check(url: str, options: CheckOptions | None = None,
               policy: Policy | None = None) -> dict[str, Any]:
    """Request ``url`` as ``options`` say: see probe.http.check."""
    return run(probe.http.check(url, options or CheckOptions(), policy or ENV_POLICY))


def tcp_check(host: str, port: int, options: CheckOptions | None = None,
              policy: Policy | None = None) -> dict[str, Any]:
    """Connect to ``host:port`` as ``options`` say: see probe.tcp.check."""
    return run(probe.tcp.check(host, port, options or CheckOptions(), policy or ENV_POLICY))


def _refused(exc: ValueError, **fields: Any) -> dict[str, Any]:
    """The result of a task whose arguments no check could take (a client that bypassed the gateway)."""
    return {'ok': False, 'error': f'refused: {exc}', 'latency_ms': 0.0, **fields}


def _located(task: Task, result: dict[str, Any]) -> dict[str, Any]:
    """The result, saying where it was checked from: the worker's location (routing.location_of)."""
    return {**result, 'location': routing.location_of(task.request.hostname or '')}


# Idempotent by nature (a GET, a HEAD or a TCP connect), so a redelivery after a crash is harmless.
@app.task(bind=True, expires=routing.CHECK_EXPIRES)
def check(self: Task, url: str, follow_redirects: bool = False, timeout: float = DEFAULT_TIMEOUT,
          options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The HTTP(S) check of ``url``; ``options`` are CheckOptions.to_task()'s."""
    target = {'url': url, 'follow_redirects': follow_redirects, 'timeout': timeout, 'options': options}
    return _located(self, run(_check_one(target)))


@app.task(bind=True, expires=routing.CHECK_EXPIRES)
def common_check(self: Task, host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The TCP connect check of ``host:port`` (the seed's name); ``options`` as for ``check``."""
    target = {'host': host, 'port': port, 'timeout': timeout, 'options': options}
    return _located(self, run(_check_one(target)))


@app.task(ignore_result=True, expires=routing.CHECK_EXPIRES)
def check_ignore_result(url: str, follow_redirects: bool = False, timeout: float = DEFAULT_TIMEOUT,
                        options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``check`` for callers that do not wait: it stores no result."""
    return run(_check_one({'url': url, 'follow_redirects': follow_redirects, 'timeout': timeout,
                           'options': options}))


async def _check_one(target: dict[str, Any]) -> dict[str, Any]:
    """One check in the task form: ``url`` (with ``follow_redirects``) or ``host`` and ``port``,
    ``timeout`` and ``options`` (CheckOptions.to_task()'s). Every check task runs this, each item
    of a check_many chunk too (gateway/bulk.py sends that form); arguments no check can take (a
    client that bypassed the gateway) are a refused result, not a task failure."""
    options, timeout = target.get('options'), target.get('timeout', DEFAULT_TIMEOUT)
    is_url = 'url' in target
    try:
        if is_url:
            chosen = CheckOptions.from_task(options, follow_redirects=bool(target.get('follow_redirects')),
                                            timeout=timeout)
        else:
            chosen = CheckOptions.from_task(options, timeout=timeout)
            host, port = target['host'], validate_port(target['port'])
    except (BadOption, TargetRefused, KeyError, TypeError) as exc:
        reason = exc if isinstance(exc, ValueError) else ValueError(f'malformed target: {exc!r}')
        return _refused(reason, url=target['url'], status=None) if is_url else _refused(reason)
    if is_url:
        return await probe.http.check(target['url'], chosen, ENV_POLICY)
    return await probe.tcp.check(host, port, chosen, ENV_POLICY)


async def _check_all(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(_check_one(target) for target in targets)))


@app.task(bind=True, expires=routing.CHECK_EXPIRES)
def check_many(self: Task, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A chunk of checks, run at once on this thread's loop, each bounded by its own timeout and
    held to every rule of a single check. Results in the targets' order. Redelivered after a
    crash, the whole chunk runs again (its checks are idempotent)."""
    return [_located(self, result) for result in run(_check_all(targets))]


@signals.celeryd_after_setup.connect
def _consume_location_queues(sender: str, instance: Worker, **_: Any) -> None:
    """A check worker (``check.<location>@host``) also takes its location's queues, made as
    Celery makes any queue it was not told of (``queues[name]``), so the gateway, sending there
    by name, declares them alike: an exchange of the same name, QUEUE_TYPE's queue type."""
    location = routing.location_of(sender)
    queues = instance.app.amqp.queues
    if location is None or routing.QUEUE_OF[routing.HTTP_CHECK] not in queues.consume_from:
        return
    if not routing.LOCATION_NAME.fullmatch(location):
        raise SystemExit(f'location {location!r} of {sender}: letters, digits, - and _ only (LOCATION)')
    for name in routing.located_queues(location):
        queues.select_add(queues[name])
