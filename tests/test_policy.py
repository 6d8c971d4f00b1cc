"""The SSRF guard, as a pure function: one test per spelling of a refused address."""

from __future__ import annotations

import pytest

import route_policy
from route_policy import Policy, TargetRefused

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
}


@pytest.mark.parametrize('host', REFUSED_SPELLINGS.values(), ids=REFUSED_SPELLINGS.keys())
def test_refused_spelling(host: str) -> None:
    host = route_policy.normalise_host(host)
    with pytest.raises(TargetRefused):
        STRICT.choose(host, route_policy.resolve(host, 80))


def test_this_machines_name_resolves_to_a_refused_address() -> None:
    import socket
    name = socket.gethostname()
    addresses = route_policy.resolve(name, 80)
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
        route_policy.parse_url(url)


def test_parse_url_keeps_what_the_request_needs() -> None:
    target = route_policy.parse_url('HTTP://[::1]:8080/a/b?c=d')
    assert (target.scheme, target.host, target.port, target.netloc, target.path) == \
        ('http', '::1', 8080, '[::1]:8080', '/a/b?c=d')
    assert route_policy.parse_url('https://Example.COM').port == 443


def test_worker_check_refuses_what_resolves_to_a_refused_address() -> None:
    """The worker vets again (the gateway may be bypassed, or DNS may have changed)."""
    import check_worker
    result = check_worker.http_check('http://localhost:1/', policy=STRICT)
    assert result['ok'] is False and result['error'].startswith('refused: localhost resolves to 127.0.0.1')
    result = check_worker.tcp_check('0x7f.1', 1, policy=STRICT)
    assert result['ok'] is False and 'loopback' in result['error']
