"""A check's result in Prometheus's text format, under blackbox_exporter's metric names.

The names, help texts, labels and meanings are blackbox_exporter 0.23's (prober/http.go, tcp.go,
tls.go, utils.go and its probe handler), so a Prometheus job, dashboard or alert written for it
reads ours unchanged. Families are written sorted by name, as its registry gathers them.
"""

from __future__ import annotations

import ipaddress
import math
from decimal import Decimal
from typing import Any

Sample = tuple[dict[str, str], float]
Families = dict[str, list[Sample]]
HELP = {
    'probe_dns_lookup_time_seconds': 'Returns the time taken for probe dns lookup in seconds',
    'probe_duration_seconds': 'Returns how long the probe took to complete in seconds',
    'probe_failed_due_to_regex': 'Indicates if probe failed due to regex',
    'probe_http_content_length': 'Length of http content response',
    'probe_http_duration_seconds': 'Duration of http request by phase, summed over all redirects',
    'probe_http_redirects': 'The number of redirects',
    'probe_http_ssl': 'Indicates if SSL was used for the final redirect',
    'probe_http_status_code': 'Response HTTP status code',
    'probe_http_uncompressed_body_length': 'Length of uncompressed response body',
    'probe_http_version': 'Returns the version of HTTP of the probe response',
    'probe_ip_addr_hash': "Specifies the hash of IP address. It's useful to detect if the IP address "
                          'changes.',
    'probe_ip_protocol': 'Specifies whether probe ip protocol is IP4 or IP6',
    'probe_ssl_earliest_cert_expiry': 'Returns last SSL chain expiry in unixtime',
    'probe_ssl_last_chain_expiry_timestamp_seconds': 'Returns last SSL chain expiry in timestamp',
    'probe_ssl_last_chain_info': 'Contains SSL leaf certificate information',
    'probe_success': 'Displays whether or not the probe was a success',
    'probe_tls_version_info': 'Returns the TLS version used or NaN when unknown',
}
HTTP_PHASES = ('connect', 'processing', 'resolve', 'tls', 'transfer')
GO_ZERO_TIME = -62135596800.0  # what blackbox reports as the last chain's expiry with no verified chain


def ip_addr_hash(address: str) -> float:
    """blackbox's ``probe_ip_addr_hash``: the FNV-1a 32-bit hash of the address's bytes (4 for
    IPv4, 16 for IPv6)."""
    value = 0x811C9DC5
    for byte in ipaddress.ip_address(address.split('%', 1)[0]).packed:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return float(value)


def _seconds(ms: float) -> float:
    """The result's milliseconds (3 decimals) as seconds, without float noise in the text."""
    return round(ms / 1000, 6)


def _common(result: dict[str, Any]) -> Families:
    families: Families = {}
    if 'dns_lookup_ms' in result:
        families['probe_dns_lookup_time_seconds'] = [({}, _seconds(result['dns_lookup_ms']))]
    if 'address' in result:
        families['probe_ip_protocol'] = [({}, float(result['ip_protocol']))]
        families['probe_ip_addr_hash'] = [({}, ip_addr_hash(result['address']))]
    families['probe_failed_due_to_regex'] = [({}, float(bool(result.get('failed_due_to_regex'))))]
    return families


def _tls(families: Families, facts: dict[str, Any] | None) -> None:
    if not facts or 'not_after' not in facts:
        return
    chain = facts.get('chain_not_after')
    families['probe_ssl_earliest_cert_expiry'] = [({}, float(facts['not_after']))]
    families['probe_ssl_last_chain_expiry_timestamp_seconds'] = [({}, GO_ZERO_TIME if chain is None
                                                                   else float(chain))]
    families['probe_ssl_last_chain_info'] = [({'fingerprint_sha256': facts['fingerprint_sha256'],
                                               'issuer': facts['issuer'], 'subject': facts['subject'],
                                               'subjectalternative': facts['subject_alternative']}, 1.0)]
    families['probe_tls_version_info'] = [({'version': facts['version']}, 1.0)]


def http_families(result: dict[str, Any]) -> Families:
    families = _common(result)
    phases = result.get('phases_ms') or {}
    families['probe_http_duration_seconds'] = [({'phase': phase}, _seconds(phases.get(phase, 0.0)))
                                               for phase in HTTP_PHASES]
    families['probe_http_redirects'] = [({}, float(result.get('redirects', 0)))]
    families['probe_http_ssl'] = [({}, float(bool(result.get('ssl')) and result.get('status') is not None))]
    families['probe_http_status_code'] = [({}, float(result.get('status') or 0))]
    families['probe_http_content_length'] = [({}, float(result.get('content_length', 0)))]
    families['probe_http_uncompressed_body_length'] = [({}, float(result.get('bytes', 0)))]
    version = result.get('http_version')
    families['probe_http_version'] = [({}, float(version) if version else 0.0)]
    _tls(families, result.get('tls'))
    return families


def tcp_families(result: dict[str, Any]) -> Families:
    families = _common(result)
    _tls(families, result.get('tls'))
    return families


def _value(value: float) -> str:
    """As Go's strconv.FormatFloat(value, 'g', -1, 64) writes it, which blackbox's output uses:
    the shortest digits, in exponent form below 1e-4 and from 1e6 on."""
    if math.isnan(value):
        return 'NaN'
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if value == 0:
        return '0'
    shortest = Decimal(repr(value))
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:
        return format(shortest.normalize(), 'f')
    digits = ''.join(map(str, shortest.normalize().as_tuple().digits))
    mantissa = digits[0] + ('.' + digits[1:] if len(digits) > 1 else '')
    return f'{"-" if value < 0 else ""}{mantissa}e{"+" if exponent >= 0 else "-"}{abs(exponent):02d}'


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ''
    text = ','.join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return '{' + text + '}'


def _escape(value: str) -> str:
    return value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def render(families: Families) -> str:
    """The text format (version 0.0.4): each family's HELP, TYPE (all gauges) and samples."""
    lines = []
    for name in sorted(families):
        lines += [f'# HELP {name} {HELP[name]}', f'# TYPE {name} gauge']
        lines += [f'{name}{_labels(labels)} {_value(value)}' for labels, value in families[name]]
    return '\n'.join(lines) + '\n'


def labelled(probes: dict[str, Families], label: str) -> Families:
    """Several probes' families as one answer, each sample with ``label`` set to its probe's key
    (``location``: one target probed from every location, one series per location)."""
    merged: Families = {}
    for key, families in sorted(probes.items()):
        for name, samples in families.items():
            merged.setdefault(name, []).extend(({**labels, label: key}, value) for labels, value in samples)
    return merged


def probe_families(prober: str, result: dict[str, Any] | None, seconds: float) -> Families:
    """Every family of one probe: the prober's, then the handler's probe_success and duration."""
    families = {} if result is None else (http_families if prober == 'http' else tcp_families)(result)
    families['probe_success'] = [({}, float(bool(result and result.get('ok'))))]
    families['probe_duration_seconds'] = [({}, seconds)]
    return families

