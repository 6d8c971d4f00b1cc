"""The TCP check: connect to the vetted address of ``host:port``, and with ``tls`` shake hands.

Phases as for HTTP: ``resolve``, ``connect``, ``tls``. A TLS handshake verifies the certificate
against the host (or ``server_name``) unless ``insecure``, and reports what it learnt.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from probe import resolve, tls
from probe.failures import describe
from probe.options import CheckOptions
from probe.policy import Policy, TargetRefused, validate_port

PHASES = ('resolve', 'connect', 'tls')


async def check(host: str, port: int, options: CheckOptions, policy: Policy) -> dict[str, Any]:
    """Connect to ``host:port`` and report ``{ok, latency_ms, error, phases_ms, address, ...}``."""
    started = time.perf_counter()
    phases = dict.fromkeys(PHASES, 0.0)
    result: dict[str, Any] = {'ok': False, 'latency_ms': None, 'error': None, 'phases_ms': phases}
    try:
        port = validate_port(port)  # the socket layer takes a port modulo 65536: 65616 would be 80
        async with asyncio.timeout(options.timeout):
            await _connect(host, port, options, policy, result, phases)
        result['ok'] = True
    except TargetRefused as exc:
        result['error'] = f'refused: {exc}'
    except (OSError, TimeoutError) as exc:
        result['error'] = describe(exc)
    result['latency_ms'] = round((time.perf_counter() - started) * 1000, 2)
    for name, seconds in phases.items():
        phases[name] = round(seconds * 1000, 3)
    return result


async def _connect(host: str, port: int, options: CheckOptions, policy: Policy,
                   result: dict[str, Any], phases: dict[str, float]) -> None:
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    address = await resolve.vetted_address(host, port, options, policy)
    connecting = time.perf_counter()
    phases['resolve'] = connecting - began
    result.update(dns_lookup_ms=round(phases['resolve'] * 1000, 3), address=address,
                  ip_protocol=resolve.ip_protocol(address))
    transport, protocol = await loop.create_connection(asyncio.Protocol, address, port)
    try:
        connected = time.perf_counter()
        phases['connect'] = connected - connecting
        if options.tls:
            transport = await loop.start_tls(transport, protocol, tls.client_context(options),
                                             server_hostname=options.server_name or host)
            phases['tls'] = time.perf_counter() - connected
            result['tls'] = tls.facts(transport.get_extra_info('ssl_object'))
    finally:
        transport.abort()
