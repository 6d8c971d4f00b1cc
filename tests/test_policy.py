"""The SSRF guard, as a pure function: one test per spelling of a refused address."""

from __future__ import annotations

import re
import socket

import pytest

import check_worker
from probe.policy import (
    SPECIAL_PURPOSE,
    IPNetwork,
    Policy,
    TargetRefused,
    embedded_ipv4,
    normalise_host,
    parse_url,
    resolve,
)

pytestmark = pytest.mark.unit

STRICT = Policy.from_env('')

REFUSED_SPELLINGS = {
    'dotted loopback': '127.0.0.1',
    'decimal': '2130706433',
    'octal': '0177.0.0.1',
    'hex': '0x7f.0.0.1',
    'hex whole': '0x7f000001',
    'short': '127.1',
    'ipv4-mapped ipv6': '::ffff:127.0.0.1',
    'ipv6 loopback': '::1',
    'unspecified': '0.0.0.0',
    'zero': '0',
    'ipv6 unspecified': '::',
    'localhost': 'localhost',
    'localhost with dot': 'localhost.',
    'localhost upper case': 'LOCALHOST',
    'cloud metadata': '169.254.169.254',
    'private 10/8': '10.0.0.1',
    'private 172.16/12': '172.16.5.4',
    'private 192.168/16': '192.168.1.1',
    'ipv4-mapped private': '::ffff:10.1.2.3',
    'carrier-grade nat': '100.64.0.1',
    'multicast': '224.0.0.1',
    'reserved': '240.0.0.1',
    'broadcast': '255.255.255.255',
    'ipv6 link-local': 'fe80::1',
    'ipv6 unique-local': 'fd00::1',
    'ipv6 site-local (deprecated)': 'fec0::1',
    # IANA special-purpose entries that Python's ipaddress misses (in some releases).
    'ietf protocol assignments': '192.0.0.1',
    'pcp anycast': '192.0.0.9',
    'benchmarking': '198.19.255.1',
    '6a44 relay anycast': '192.88.99.2',
    'as112': '192.31.196.1',
    'discard-only': '100::1',
    'orchidv2': '2001:20::1',
    'ipv6 documentation': '2001:db8::1',
    'ipv6 documentation 3fff': '3fff::1',
    'srv6 sids': '5f00::1',
}

# Every IPv6 form that carries an IPv4 address, each carrying a refused one: (address, carried).
CARRIED = {
    'ipv4-mapped': ('::ffff:127.0.0.1', '127.0.0.1'),
    'ipv4-compatible': ('::7f00:1', '127.0.0.1'),
    '6to4': ('2002:7f00:1::', '127.0.0.1'),
    '6to4 metadata': ('2002:a9fe:a9fe::1', '169.254.169.254'),
    'teredo server': ('2001:0:7f00:1::f7f7:f7f7', '127.0.0.1'),  # client 8.8.8.8 (bits inverted)
    'teredo client': ('2001:0:808:808::f5ff:fffe', '10.0.0.1'),  # server 8.8.8.8
    'nat64': ('64:ff9b::7f00:1', '127.0.0.1'),
    'nat64 local-use /96': ('64:ff9b:1::7f00:1', '127.0.0.1'),
    'nat64 local-use /48': ('64:ff9b:1:a01:2:300:808:808', '10.1.2.3'),  # /56, /64, /96 read public
}


@pytest.mark.parametrize('host', REFUSED_SPELLINGS.values(), ids=REFUSED_SPELLINGS.keys())
def test_refused_spelling(host: str) -> None:
    host = normalise_host(host)
    with pytest.raises(TargetRefused):
        STRICT.choose(host, resolve(host, 80))


@pytest.mark.parametrize('address, carried', CARRIED.values(), ids=CARRIED.keys())
def test_an_ipv6_form_carrying_a_refused_ipv4_is_refused(address: str, carried: str) -> None:
    with pytest.raises(TargetRefused, match=re.escape(carried)):
        STRICT.choose(address, resolve(address, 80))
    if not address.startswith('::ffff:'):  # the mapped form is the IPv4 address itself
        assert STRICT.refusal(address, address).startswith(f'{address} embeds {carried} (')
    assert STRICT.refusal('evil.example', address).startswith('evil.example resolves to ')


@pytest.mark.parametrize('address, carried', CARRIED.values(), ids=CARRIED.keys())
def test_the_worker_refuses_each_form_before_connecting(address: str, carried: str) -> None:
    """The worker's own vetting (a redirect hop or a bypassed gateway lands here)."""
    result = check_worker.http_check(f'http://[{address}]:1/', policy=STRICT)
    assert result['ok'] is False and result['error'].startswith('refused: ') and carried in result['error']
    result = check_worker.tcp_check(address, 1, policy=STRICT)
    assert result['ok'] is False and result['error'].startswith('refused: ') and carried in result['error']


def test_the_carrying_ipv6_address_is_vetted_too() -> None:
    assert STRICT.choose('a', ['2002:808:808::1']) == '2002:808:808::1'  # 6to4 of a public address
    assert STRICT.choose('a', ['64:ff9b::808:808']) == '64:ff9b::808:808'  # NAT64 of a public address
    assert 'reserved' in STRICT.refusal('a', '::808:808')  # IPv4-compatible is deprecated
    assert 'Teredo' in STRICT.refusal('a', '2001:0:808:808::f7f7:f7f7')  # Teredo: both ends public
    assert 'local-use' in STRICT.refusal('a', '64:ff9b:1:808:8:808:808:808')  # 8.8.8.8 in every reading


def test_allowing_the_carried_ipv4_alone_does_not_open_the_ipv6_form() -> None:
    """Vetted as both: CHECK_ALLOW must open the IPv4 address and the IPv6 form that leads there."""
    loopback = Policy.from_env('127.0.0.0/8')
    assert loopback.refusal('a', '127.0.0.1') is None
    assert loopback.refusal('a', '::ffff:127.0.0.1') is None  # a spelling of 127.0.0.1
    assert loopback.refusal('2002:7f00:1::', '2002:7f00:1::') == \
        '2002:7f00:1:: embeds 127.0.0.1 (loopback; 6to4); CHECK_ALLOW opens 127.0.0.1 but not 2002:7f00:1::'
    six_to_four = Policy.from_env('2002::/16')
    assert 'embeds 127.0.0.1 (loopback; 6to4)' in six_to_four.refusal('a', '2002:7f00:1::')
    assert six_to_four.refusal('a', '2002:808:808::') is None
    assert Policy.from_env('127.0.0.0/8, 2002:7f00::/24').refusal('a', '2002:7f00:1::') is None


@pytest.mark.parametrize('network, name', SPECIAL_PURPOSE, ids=str)
def test_each_special_purpose_entry_is_refused_and_can_be_opened(network: IPNetwork,
                                                                 name: str) -> None:
    address = network[-2] if network.num_addresses > 2 else network[0]  # 240/4 ends in its own entry
    carried = [str(inner) for _form, inner in embedded_ipv4(address)]
    reason = STRICT.refusal('a', str(address))
    assert reason is not None and (carried or reason.endswith(f'({name})')), reason
    assert Policy.from_env(','.join([str(network), *carried])).refusal('a', str(address)) is None


def test_this_machines_name_resolves_to_a_refused_address() -> None:
    import socket
    name = socket.gethostname()
    addresses = resolve(name, 80)
    if all(STRICT.refusal(name, a) is None for a in addresses):
        pytest.skip(f'{name} resolves to public addresses here')
    with pytest.raises(TargetRefused, match='resolves to'):
        STRICT.choose(name, addresses)


def test_public_address_is_allowed() -> None:
    assert STRICT.choose('8.8.8.8', ['8.8.8.8']) == '8.8.8.8'


def test_every_address_of_a_name_must_pass() -> None:
    with pytest.raises(TargetRefused, match='10.0.0.1'):
        STRICT.choose('mixed.example', ['8.8.8.8', '10.0.0.1'])


def test_allow_list_opens_exactly_what_it_names() -> None:
    policy = Policy.from_env('127.0.0.0/8, internal.example, 10.1.0.0/16')
    assert policy.refusal('a', '127.0.0.5') is None
    assert policy.refusal('a', '::ffff:127.0.0.5') is None
    assert policy.refusal('internal.example', '10.9.9.9') is None
    assert policy.refusal('a', '10.1.2.3') is None
    assert policy.refusal('a', '10.2.0.1') is not None
    assert policy.refusal('a', '::1') is not None
    assert policy.refusal('other.example', '192.168.0.1') is not None
    assert Policy.from_env('198.18.0.0/15').refusal('a', '198.19.0.1') is None  # the multi-host tests


@pytest.mark.parametrize('url, reason', [
    ('file:///etc/passwd', 'scheme'),
    ('gopher://127.0.0.1:70/', 'scheme'),
    ('ftp://example.com/', 'scheme'),
    ('javascript:alert(1)', 'scheme'),
    ('//example.com/', 'scheme'),
    ('http://user:pw@example.com/', 'credentials'),
    ('http://example.com@127.0.0.1/', 'credentials'),
    ('http://exa mple.com/', 'whitespace'),
    ('http://example.com:99999/', 'malformed'),
    ('http:///nohost', 'host is empty'),
    ('http://' + 'a' * 300 + '/', 'longer'),
    ('http://example.com/' + 'a' * 3000, 'longer'),
    ('http://ex\x00ample.com/', 'control'),
    ('', 'empty'),
])
def test_malformed_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        parse_url(url)


def test_parse_url_keeps_what_the_request_needs() -> None:
    target = parse_url('HTTP://[::1]:8080/a/b?c=d')
    assert (target.scheme, target.host, target.port, target.netloc, target.path) == \
        ('http', '::1', 8080, '[::1]:8080', '/a/b?c=d')
    assert parse_url('https://Example.COM').port == 443


def test_worker_check_refuses_what_resolves_to_a_refused_address() -> None:
    """The worker vets again (the gateway may be bypassed, or DNS may have changed)."""
    result = check_worker.http_check('http://localhost:1/', policy=STRICT)
    assert result['ok'] is False and result['error'].startswith('refused: localhost resolves to 127.0.0.1')
    result = check_worker.tcp_check('0x7f.1', 1, policy=STRICT)
    assert result['ok'] is False and 'loopback' in result['error']


def test_a_port_above_65535_is_refused_not_wrapped() -> None:
    """The socket layer takes a port modulo 65536: 65536 + P would reach P."""
    with socket.create_server(('127.0.0.1', 0)) as listening:
        port = listening.getsockname()[1]
        loopback = Policy.from_env('127.0.0.0/8')
        assert check_worker.tcp_check('127.0.0.1', port, policy=loopback)['ok']
        wrapped = check_worker.tcp_check('127.0.0.1', port + 65536, policy=loopback)
        assert wrapped['ok'] is False and 'outside 1-65535' in wrapped['error']
