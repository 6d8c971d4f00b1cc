"""blackbox_exporter's module file (``PROBE_CONFIG``, default probe.yml), read into check options.

The syntax is blackbox_exporter's own, so one file serves both; the keys we support are listed
below, and any other key is a start-up error naming it, never silently ignored. A ``ca_file`` is
read here, on the gateway, and travels in the task as PEM: worker machines need no copy of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from probe.options import MAX_TIMEOUT, BadOption, CheckOptions

DEFAULT_PATH = Path(__file__).resolve().parent.parent / 'probe.yml'
PROBERS = ('http', 'tcp')
MODULE_KEYS = {'prober', 'timeout', 'http', 'tcp'}
TLS_KEYS = {'ca_file', 'insecure_skip_verify', 'server_name'}
PROBER_KEYS = {
    'http': {'valid_status_codes', 'method', 'preferred_ip_protocol', 'ip_protocol_fallback',
             'no_follow_redirects', 'fail_if_ssl', 'fail_if_not_ssl', 'fail_if_body_matches_regexp',
             'fail_if_body_not_matches_regexp', 'tls_config'},
    'tcp': {'preferred_ip_protocol', 'ip_protocol_fallback', 'tls', 'tls_config'},
}
_DURATION = re.compile(r'(\d+(?:\.\d+)?)(ms|s|m|h)')
_UNIT = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600}


class ConfigError(ValueError):
    """The module file is wrong; the message names the module and the key."""


@dataclass(frozen=True)
class Module:
    name: str
    prober: str  # 'http' or 'tcp'
    options: CheckOptions  # its timeout is the module's, or our longest when the module has none
    timeout_set: bool  # the file gave a timeout (else the scrape's own bounds the probe)
    spec: dict[str, Any]  # as the file wrote it, for debug=true


def parse_duration(value: Any) -> float:
    """Prometheus's durations as the module file writes them: ``5s``, ``500ms``, ``1m30s``."""
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or ''.join(number + unit for number, unit in parts) != text:
        raise ValueError(f'{text!r} is not a duration such as 5s or 500ms')
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def _check_keys(where: str, given: Any, allowed: set[str]) -> dict[str, Any]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ConfigError(f'{where} must be a mapping')
    unknown = sorted(set(given) - allowed)
    if unknown:
        supported = ', '.join(sorted(allowed))
        raise ConfigError(f'{where}: unsupported key {unknown[0]!r} (supported: {supported})')
    return given


def _flag(where: str, section: dict[str, Any], key: str) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f'{where}.{key} must be true or false')
    return value


def _module(name: str, spec: Any, base: Path) -> Module:
    spec = _check_keys(f'module {name}', spec, MODULE_KEYS)
    prober = spec.get('prober')
    if prober not in PROBERS:
        raise ConfigError(f'module {name}: prober must be one of {", ".join(PROBERS)}, not {prober!r}')
    other = next((key for key in PROBERS if key != prober and key in spec), None)
    if other:
        raise ConfigError(f'module {name}: a {prober} prober takes no {other!r} section')
    where = f'module {name}.{prober}'
    section = _check_keys(where, spec.get(prober), PROBER_KEYS[prober])
    tls_config = _check_keys(f'{where}.tls_config', section.get('tls_config'), TLS_KEYS)
    values: dict[str, Any] = {
        'ip_protocol': str(section.get('preferred_ip_protocol', 'ip6')),  # blackbox's default
        'ip_fallback': section.get('ip_protocol_fallback', True),
        'insecure': _flag(f'{where}.tls_config', tls_config, 'insecure_skip_verify'),
        'server_name': tls_config.get('server_name') or None,
        'timeout': MAX_TIMEOUT,
    }
    if 'ca_file' in tls_config:
        path = base / str(tls_config['ca_file'])
        try:
            values['ca_pem'] = path.read_text()
        except OSError as exc:
            raise ConfigError(f'{where}.tls_config.ca_file: cannot read {path}: {exc.strerror}') from None
    if prober == 'http':
        codes = section.get('valid_status_codes') or []
        if not isinstance(codes, list) or not all(isinstance(code, int) for code in codes):
            raise ConfigError(f'{where}.valid_status_codes must be a list of status codes')
        values.update(
            method=str(section.get('method', 'GET')).upper(),
            follow_redirects=not _flag(where, section, 'no_follow_redirects'),
            fail_if_ssl=_flag(where, section, 'fail_if_ssl'),
            fail_if_not_ssl=_flag(where, section, 'fail_if_not_ssl'),
            body_matches=tuple(section.get('fail_if_body_matches_regexp') or ()),
            body_not_matches=tuple(section.get('fail_if_body_not_matches_regexp') or ()),
        )
        if codes:
            values['valid_status'] = tuple((code, code) for code in codes)
    else:
        values['tls'] = _flag(where, section, 'tls')
    timeout_set = 'timeout' in spec
    try:
        if timeout_set:
            values['timeout'] = parse_duration(spec['timeout'])
        return Module(name, prober, CheckOptions(**values), timeout_set, spec)
    except (BadOption, ValueError) as exc:
        raise ConfigError(f'module {name}: {exc}') from None


def load(path: Path = DEFAULT_PATH) -> dict[str, Module]:
    """Every module of the file at ``path``; ConfigError when anything in it is not supported."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f'cannot read the probe modules file {path}: {exc.strerror}') from None
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path} is not valid YAML: {exc}') from None
    document = _check_keys(str(path), document, {'modules'})
    modules = document.get('modules')
    if not isinstance(modules, dict) or not modules:
        raise ConfigError(f'{path} has no modules')
    return {str(name): _module(str(name), spec, path.parent) for name, spec in modules.items()}
