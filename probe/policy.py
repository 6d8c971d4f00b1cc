"""Which routes may be checked: the SSRF guard shared by the web gateway and the workers.

A check target is vetted by the *address* it resolves to, not by how it is spelled, so
decimal (2130706433), octal (0177.0.0.1), hex (0x7f.1), short (127.1) and IPv4-mapped IPv6
(::ffff:127.0.0.1) forms of a refused address are all refused. IPv6 addresses that carry an IPv4
address (6to4, Teredo, NAT64, IPv4-compatible) are vetted as both: a tunnel, relay or translator
on the path delivers them to the IPv4 address. The worker connects to the address it vetted,
never resolving the name a second time (no DNS-rebinding window).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253
SCHEMES = {'http': 80, 'https': 443}

# The IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its updates), entry by
# entry, under the registry's names; all refused, the "globally reachable" anycast services and
# identifier prefixes too (no route check has any business there). Three entries are not here:
# ::ffff:0:0/96 (IPv4-mapped) is vetted as the IPv4 address it spells, and 2002::/16 (6to4,
# RFC 3056) and 64:ff9b::/96 (IPv4-IPv6 Translat., RFC 6052) as the IPv4 address they carry.
# ipaddress (whose tables differ between Python releases) still refuses what is missing here:
# multicast, and space the IETF has not allocated. Most specific entry first, so 127.0.0.1 is
# "loopback" and 192.0.0.9 not just "IETF protocol assignments".
SPECIAL_PURPOSE = tuple(sorted(((ipaddress.ip_network(block), name) for block, name in (
    ('0.0.0.0/8', 'this network'),  # RFC 791
    ('0.0.0.0/32', 'this host on this network'),  # RFC 1122
    ('10.0.0.0/8', 'private-use'),  # RFC 1918
    ('100.64.0.0/10', 'shared address space'),  # RFC 6598
    ('127.0.0.0/8', 'loopback'),  # RFC 1122
    ('169.254.0.0/16', 'link local'),  # RFC 3927
    ('172.16.0.0/12', 'private-use'),  # RFC 1918
    ('192.0.0.0/24', 'IETF protocol assignments'),  # RFC 6890
    ('192.0.0.0/29', 'IPv4 service continuity prefix'),  # RFC 7335
    ('192.0.0.8/32', 'IPv4 dummy address'),  # RFC 7600
    ('192.0.0.9/32', 'port control protocol anycast'),  # RFC 7723
    ('192.0.0.10/32', 'traversal using relays around NAT anycast'),  # RFC 8155
    ('192.0.0.170/32', 'NAT64/DNS64 discovery'),  # RFC 8880, RFC 7050
    ('192.0.0.171/32', 'NAT64/DNS64 discovery'),  # RFC 8880, RFC 7050
    ('192.0.2.0/24', 'documentation (TEST-NET-1)'),  # RFC 5737
    ('192.31.196.0/24', 'AS112-v4'),  # RFC 7535
    ('192.52.193.0/24', 'AMT'),  # RFC 7450
    ('192.88.99.0/24', 'deprecated (6to4 relay anycast)'),  # RFC 7526
    ('192.88.99.2/32', '6a44-relay anycast address'),  # RFC 6751
    ('192.168.0.0/16', 'private-use'),  # RFC 1918
    ('192.175.48.0/24', 'direct delegation AS112 service'),  # RFC 7534
    ('198.18.0.0/15', 'benchmarking'),  # RFC 2544, RFC 6815
    ('198.51.100.0/24', 'documentation (TEST-NET-2)'),  # RFC 5737
    ('203.0.113.0/24', 'documentation (TEST-NET-3)'),  # RFC 5737
    ('240.0.0.0/4', 'reserved'),  # RFC 1112
    ('255.255.255.255/32', 'limited broadcast'),  # RFC 8190, RFC 919
    ('::1/128', 'loopback address'),  # RFC 4291
    ('::/128', 'unspecified address'),  # RFC 4291
    ('64:ff9b:1::/48', 'IPv4-IPv6 translat. (local-use)'),  # RFC 8215
    ('100::/64', 'discard-only address block'),  # RFC 6666
    ('100:0:0:1::/64', 'dummy IPv6 prefix'),  # RFC 9780
    ('2001::/23', 'IETF protocol assignments'),  # RFC 2928
    ('2001::/32', 'Teredo'),  # RFC 4380, RFC 8190
    ('2001:1::1/128', 'port control protocol anycast'),  # RFC 7723
    ('2001:1::2/128', 'traversal using relays around NAT anycast'),  # RFC 8155
    ('2001:1::3/128', 'DNS-SD service registration protocol anycast'),  # RFC 9665
    ('2001:2::/48', 'benchmarking'),  # RFC 5180
    ('2001:3::/32', 'AMT'),  # RFC 7450
    ('2001:4:112::/48', 'AS112-v6'),  # RFC 7535
    ('2001:10::/28', 'deprecated (previously ORCHID)'),  # RFC 4843
    ('2001:20::/28', 'ORCHIDv2'),  # RFC 7343
    ('2001:30::/28', 'drone remote ID protocol entity tags'),  # RFC 9374
    ('2001:db8::/32', 'documentation'),  # RFC 3849
    ('2620:4f:8000::/48', 'direct delegation AS112 service'),  # RFC 7534
    ('3fff::/20', 'documentation'),  # RFC 9637
    ('5f00::/16', 'segment routing (SRv6) SIDs'),  # RFC 9602
    ('fc00::/7', 'unique-local'),  # RFC 4193, RFC 8190
    ('fec0::/10', 'site-local (deprecated)'),  # RFC 3879: not in the registry, yet routed inside sites
    ('fe80::/10', 'link-local unicast'),  # RFC 4291
)), key=lambda entry: -entry[0].prefixlen))
# Globally reachable as far as the registry goes: vetted by the IPv4 address they carry, though
# ipaddress counts 64:ff9b::/96 as reserved (it lies in ::/8).
_CARRIERS = (ipaddress.ip_network('2002::/16'), ipaddress.ip_network('64:ff9b::/96'))
_IPV4_COMPATIBLE = ipaddress.ip_network('::/96')  # ::a.b.c.d, deprecated by RFC 4291
# RFC 6052 §2.2: with a NAT64 prefix of each length, where the IPv4 address sits. The well-known
# prefix is used with /96 only; the local-use /48 (RFC 8215) may hold a prefix of any length from
# /48, and a translator's length is not knowable from here, so every reading is vetted.
_NAT64 = ((ipaddress.ip_network('64:ff9b::/96'), (96,)),
          (ipaddress.ip_network('64:ff9b:1::/48'), (96, 64, 56, 48)))


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

    def allows(self, ip: IPAddress) -> bool:
        return any(ip in network for network in self.allow_networks)

    def refusal(self, host: str, address: str) -> str | None:
        """Why ``address`` (which ``host`` resolved to) may not be contacted, or None.

        An IPv6 address that carries an IPv4 address is vetted as both: refused if the IPv4
        address is refused, and if the IPv6 address is. CHECK_ALLOW opening the IPv4 address
        alone does not open the IPv6 forms that lead there; naming both does.
        """
        if host in self.allow_hosts:
            return None
        ip = ipaddress.ip_address(address.split('%', 1)[0])
        ip = getattr(ip, 'ipv4_mapped', None) or ip  # the socket connects to this IPv4 address
        carried = [(form, inner, why) for form, inner in embedded_ipv4(ip) if (why := not_public(inner))]
        for form, inner, why in carried:
            if not self.allows(inner):
                return _embeds(host, ip, f'{inner} ({why}; {form})')
        if self.allows(ip):
            return None
        why = not_public(ip)
        if why:
            return f'{host} resolves to {ip} ({why})'
        if carried:
            form, inner, why = carried[0]
            return _embeds(host, ip, f'{inner} ({why}; {form}); CHECK_ALLOW opens {inner} but not {ip}')
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


def not_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (the registry entry or ipaddress class), or None.

    The IPv4 address an IPv6 address carries is not looked at here; ``embedded_ipv4`` finds it.
    """
    for network, name in SPECIAL_PURPOSE:
        if ip in network:
            return name
    if any(ip in network for network in _CARRIERS):
        return None
    for name in ('multicast', 'reserved'):
        if getattr(ip, f'is_{name}'):
            return name
    return None if ip.is_global else 'not a public address'


def embedded_ipv4(ip: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the form that carries it."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = []
    if ip.sixtofour:
        found.append(('6to4', ip.sixtofour))
    if ip.teredo:
        server, client = ip.teredo
        found += [('Teredo server', server), ('Teredo client', client)]
    for network, lengths in _NAT64:
        if ip in network:
            found += [(f'NAT64 /{length}', _rfc6052_ipv4(ip, length)) for length in lengths]
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # not :: and ::1, which are their own entries
        found.append(('IPv4-compatible', ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return found


def _rfc6052_ipv4(ip: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The 32 bits after a NAT64 prefix of ``prefix_length``, skipping bits 64-71 (RFC 6052 §2.2)."""
    octets = [octet for index, octet in enumerate(ip.packed) if index >= prefix_length // 8 and index != 8]
    return ipaddress.IPv4Address(bytes(octets[:4]))


def _embeds(host: str, ip: IPAddress, what: str) -> str:
    who = str(ip) if host == str(ip) else f'{host} resolves to {ip}, which'
    return f'{who} embeds {what}'


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


def literal_addresses(host: str) -> list[str] | None:
    """``[host]`` when it is an IP address in its standard form, else None (a name to resolve).

    Other spellings of an address (``127.1``, ``0x7f.1``) are left to the resolver, which
    turns them into the address they reach.
    """
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[str]:
    """Blocking resolution, for the worker's threads (the gateway uses the loop's resolver)."""
    try:
        return addresses_of(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f'{host} does not resolve: {exc}') from None
