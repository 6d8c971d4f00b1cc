"""Name resolution for a check: the preferred IP protocol first, every address vetted.

``getaddrinfo`` runs in the loop's resolver threads; the caller's deadline (``asyncio.timeout``)
bounds the wait, so a slow resolver cannot make a check outlast its timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from probe.options import CheckOptions
from probe.policy import Policy, TargetRefused, addresses_of, literal_addresses

_FAMILY = {'ip4': socket.AF_INET, 'ip6': socket.AF_INET6}
_OTHER = {'ip4': 'ip6', 'ip6': 'ip4'}


async def _lookup(host: str, port: int, family: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return addresses_of(infos)


async def addresses(host: str, port: int, options: CheckOptions) -> list[str]:
    """The addresses to try, in order: of the preferred protocol, else (with fallback) the other's."""
    literal = literal_addresses(host)
    if literal is not None:
        return literal
    preferred = options.ip_protocol
    if preferred is None:
        found = await _lookup(host, port, socket.AF_UNSPEC)
    else:
        found = await _lookup(host, port, _FAMILY[preferred])
        if not found and options.ip_fallback:
            found = await _lookup(host, port, _FAMILY[_OTHER[preferred]])
    if not found:
        raise TargetRefused(f'{host} does not resolve')
    return found


async def vetted_address(host: str, port: int, options: CheckOptions, policy: Policy) -> str:
    """The address to connect to: every address the name has must pass the policy."""
    return policy.choose(host, await addresses(host, port, options))


def ip_protocol(address: str) -> int:
    """4 or 6."""
    return ipaddress.ip_address(address.split('%', 1)[0]).version
