"""Route checks: does an HTTP(S) URL, or a host:port, answer, how fast, and with what.

These tasks spend their time waiting on the network, so their queues are consumed by a
thread-pool worker (``-P threads``) with high concurrency; see README, "How it fits together".
Each task runs the probe engine's coroutine (probe/) on its pool thread's own event loop.
A target that refuses, times out or fails is a *result* with ``ok: false``, not a task failure:
the check did its job.
"""

from __future__ import annotations

from typing import Any

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


def _http_task(url: str, follow_redirects: bool, timeout: float,
               options: dict[str, Any] | None) -> dict[str, Any]:
    try:
        chosen = CheckOptions.from_task(options, follow_redirects=bool(follow_redirects), timeout=timeout)
    except BadOption as exc:
        return _refused(exc, url=url, status=None)
    return http_check(url, chosen)


# Idempotent by nature (a GET, a HEAD or a TCP connect), so a redelivery after a crash is harmless.
@app.task(expires=routing.CHECK_EXPIRES)
def check(url: str, follow_redirects: bool = False, timeout: float = DEFAULT_TIMEOUT,
          options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The HTTP(S) check of ``url``; ``options`` are CheckOptions.to_task()'s."""
    return _http_task(url, follow_redirects, timeout, options)


@app.task(expires=routing.CHECK_EXPIRES)
def common_check(host: str, port: int, timeout: float = DEFAULT_TIMEOUT,
                 options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The TCP connect check of ``host:port`` (the seed's name); ``options`` as for ``check``."""
    try:
        chosen = CheckOptions.from_task(options, timeout=timeout)
        port = validate_port(port)
    except (BadOption, TargetRefused) as exc:
        return _refused(exc)
    return tcp_check(host, port, chosen)


@app.task(ignore_result=True, expires=routing.CHECK_EXPIRES)
def check_ignore_result(url: str, follow_redirects: bool = False, timeout: float = DEFAULT_TIMEOUT,
                        options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``check`` for callers that do not wait: it stores no result."""
    return _http_task(url, follow_redirects, timeout, options)
