"""Which routes may be checked: the SSRF guard shared by the web gateway and the workers.

A check target is vetted by the *address* it resolves to, not by how it is spelled, so
decimal (2130706433), octal (0177.0.0.1), hex (0x7f.1), short (127.1) and IPv4-mapped IPv6
(::ffff:127.0.0.1) forms of a refused address are all refused. The worker connects to the
address it vetted, never resolving the name a second time (no DNS-rebinding window).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
SCHEMES = {'http': 80, 'https': 443}
# Seconds a check may take, redirects and the body included: the gateway refuses a larger
# ?timeout=, the tasks clamp theirs to it.
MIN_TIMEOUT, DEFAULT_TIMEOUT, MAX_TIMEOUT = 0.1, 5.0, 30.0

# Checked in this order, so the reason names the most specific class (0.0.0.0 is "unspecified",
# not "private").
_REFUSED_CLASSES = ('unspecified', 'loopback', 'link_local', 'multicast', 'private', 'reserved')


class TargetRefused(ValueError):
    """The target is malformed or not allowed; the message says why and is safe to show."""


@dataclass(frozen=True)
class HttpTarget:
    url: str
    scheme: str
    host: str  # lower-case, no brackets, no trailing dot
    port: int
    netloc: str  # what goes into the Host header
    path: str  # path and query, what goes into the request line


@dataclass(frozen=True)
class Policy:
    """Refuse every non-public address, except what the allow-list names exactly."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, value: str | None = None) -> Policy:
        """Parse ``CHECK_ALLOW``: comma-separated CIDRs (or single addresses) and host names."""
        raw = os.environ.get('CHECK_ALLOW', '') if value is None else value
        networks, hosts = [], set()
        for item in filter(None, (part.strip() for part in raw.split(','))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(normalise_host(item))
        return cls(tuple(networks), frozenset(hosts))

    def refusal(self, host: str, address: str) -> str | None:
        """Why ``address`` (which ``host`` resolved to) may not be contacted, or None."""
        if host in self.allow_hosts:
            return None
        ip = ipaddress.ip_address(address.split('%', 1)[0])
        mapped = getattr(ip, 'ipv4_mapped', None)
        if mapped is not None:
            ip = mapped
        if any(ip in network for network in self.allow_networks):
            return None
        for name in _REFUSED_CLASSES:
            if getattr(ip, f'is_{name}'):
                return f'{host} resolves to {ip} ({name.replace("_", "-")} address)'
        if not ip.is_global:
            return f'{host} resolves to {ip} (not a public address)'
        return None

    def choose(self, host: str, addresses: list[str]) -> str:
        """The first address to connect to, if every address of the host is allowed.

        All must pass: a name with one public and one private address could otherwise be
        used to reach the private one on a retry elsewhere.
        """
        if not addresses:
            raise TargetRefused(f'{host} does not resolve')
        for address in addresses:
            reason = self.refusal(host, address)
            if reason:
                raise TargetRefused(reason)
        return addresses[0]

    def vet(self, host: str, infos: list[tuple]) -> str:
        """``choose`` over ``getaddrinfo`` results (the gateway resolves on its event loop)."""
        return self.choose(host, addresses_of(infos))


def normalise_host(host: str) -> str:
    return host.strip().lower().rstrip('.').strip('[]')


def parse_url(url: str) -> HttpTarget:
    """Check the URL's shape; resolution and the address check come later."""
    if not url:
        raise TargetRefused('url is empty')
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f'url is longer than {MAX_URL_LENGTH} characters')
    if not url.isprintable() or any(c.isspace() for c in url):
        raise TargetRefused('url contains whitespace or control characters')
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f'url is malformed: {exc}') from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetRefused(f'scheme {scheme or "(none)"!r} is not allowed; use http or https')
    if parts.username is not None or parts.password is not None:
        raise TargetRefused('url must not carry credentials')
    host = validate_host(parts.hostname or '')
    netloc = parts.netloc
    path = parts.path or '/'
    if parts.query:
        path = f'{path}?{parts.query}'
    return HttpTarget(url, scheme, host, port or SCHEMES[scheme], netloc, path)


def validate_host(host: str) -> str:
    host = normalise_host(host)
    if not host:
        raise TargetRefused('host is empty')
    if len(host) > MAX_HOST_LENGTH:
        raise TargetRefused(f'host is longer than {MAX_HOST_LENGTH} characters')
    if not all(c.isalnum() or c in '.-_:%' for c in host) or not host.isascii():
        raise TargetRefused(f'host {host!r} has characters a host name cannot have')
    return host


def validate_port(port: str | int) -> int:
    try:
        value = int(port)
    except (TypeError, ValueError):
        raise TargetRefused(f'port {port!r} is not a number') from None
    if not 1 <= value <= 65535:
        raise TargetRefused(f'port {value} is outside 1-65535')
    return value


def addresses_of(infos: list[tuple]) -> list[str]:
    """Distinct addresses, in resolver order, from ``getaddrinfo`` results."""
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(sockaddr[0], None)
    return list(seen)


def resolve(host: str, port: int) -> list[str]:
    """Blocking resolution, for the worker's threads (the gateway uses the loop's resolver)."""
    try:
        return addresses_of(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f'{host} does not resolve: {exc}') from None
