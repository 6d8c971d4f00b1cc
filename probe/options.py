"""What a check may be asked to do, checked once, and carried in the task as a small JSON dict.

The gateway builds ``CheckOptions`` from a request's arguments or from a blackbox_exporter module,
refusing a bad one with a message; the worker rebuilds it from the task (``from_task``), so a task
sent by any Celery client is held to the same limits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import re2

MIN_TIMEOUT, DEFAULT_TIMEOUT, MAX_TIMEOUT = 0.1, 5.0, 30.0
MAX_PATTERN = 256  # characters of a body pattern
MAX_PATTERNS = 8  # of each kind
MAX_CA_PEM = 64 * 1024
METHODS = ('GET', 'HEAD')
IP_PROTOCOLS = ('ip4', 'ip6')
TWO_XX = ((200, 299),)

# RE2 runs in time linear in the body (64 KiB at most) whatever the pattern: no pattern or body
# can hold a worker thread. It is also the syntax blackbox_exporter's Go regexp speaks.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class BadOption(ValueError):
    """An option a check cannot take; the message says which and why, and is safe to show."""


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re2._Regexp:
    """A body pattern, compiled once per process."""
    if not isinstance(pattern, str) or not pattern:
        raise BadOption('a body pattern must be a non-empty string')
    if len(pattern) > MAX_PATTERN:
        raise BadOption(f'a body pattern is longer than {MAX_PATTERN} characters')
    try:
        return re2.compile(pattern.encode(), _RE2_OPTIONS)
    except re2.error as exc:
        raise BadOption(f'body pattern {pattern[:40]!r} is not a valid RE2 expression: {exc}') from None


def parse_valid_status(text: str) -> tuple[tuple[int, int], ...]:
    """``200-299,301`` or ``2xx,404``: the ranges of status codes that count as up."""
    ranges = []
    for item in filter(None, (part.strip() for part in text.split(','))):
        if len(item) == 3 and item[0] in '12345' and item[1:].lower() == 'xx':
            low = int(item[0]) * 100
            ranges.append((low, low + 99))
            continue
        low_text, _, high_text = item.partition('-')
        try:
            low, high = int(low_text), int(high_text or low_text)
        except ValueError:
            raise BadOption(f'valid_status {item[:20]!r} is not a code, a range or Nxx') from None
        if not 100 <= low <= high <= 599:
            raise BadOption(f'valid_status {item[:20]!r} is outside 100-599')
        ranges.append((low, high))
    if not ranges:
        raise BadOption('valid_status is empty')
    return tuple(ranges)


@dataclass(frozen=True)
class CheckOptions:
    timeout: float = DEFAULT_TIMEOUT  # the whole check: resolution, every hop, the body
    ip_protocol: str | None = None  # 'ip4' or 'ip6' first; None: the resolver's order
    ip_fallback: bool = True  # to the other protocol when the preferred one has no address
    method: str = 'GET'
    valid_status: tuple[tuple[int, int], ...] = TWO_XX
    follow_redirects: bool = False
    body_matches: tuple[str, ...] = ()  # fail if the body matches any of these
    body_not_matches: tuple[str, ...] = ()  # fail if the body does not match one of these
    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    tls: bool = False  # a TCP check's TLS handshake
    insecure: bool = False  # skip certificate and host name verification
    ca_pem: str | None = None  # trust these CAs instead of the system's
    server_name: str | None = None  # for SNI and verification, instead of the target's host
    _patterns: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.timeout, int | float) or not MIN_TIMEOUT <= self.timeout <= MAX_TIMEOUT:
            raise BadOption(f'timeout must be between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g} seconds')
        if self.ip_protocol not in (None, *IP_PROTOCOLS):
            raise BadOption(f'ip_protocol must be one of {", ".join(IP_PROTOCOLS)}')
        if self.method not in METHODS:
            raise BadOption(f'method must be one of {", ".join(METHODS)}')
        if len(self.body_matches) > MAX_PATTERNS or len(self.body_not_matches) > MAX_PATTERNS:
            raise BadOption(f'at most {MAX_PATTERNS} body patterns of each kind')
        if self.ca_pem is not None and (not isinstance(self.ca_pem, str) or len(self.ca_pem) > MAX_CA_PEM):
            raise BadOption('ca_pem must be PEM text of at most 64 KiB')
        if self.server_name is not None and (not isinstance(self.server_name, str)
                                             or not 0 < len(self.server_name) <= 253):
            raise BadOption('server_name must be a host name')
        for name in ('ip_fallback', 'follow_redirects', 'fail_if_ssl', 'fail_if_not_ssl', 'tls', 'insecure'):
            if not isinstance(getattr(self, name), bool):
                raise BadOption(f'{name} must be true or false')
        patterns = (tuple(compile_pattern(p) for p in self.body_matches),
                    tuple(compile_pattern(p) for p in self.body_not_matches))
        object.__setattr__(self, '_patterns', patterns)

    @property
    def reads_body(self) -> bool:
        """Whether the body's bytes are kept to be searched, not just counted."""
        return bool(self.body_matches or self.body_not_matches)

    def status_is_valid(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.valid_status)

    def body_failure(self, body: bytes) -> str | None:
        """Why the body fails its patterns, or None."""
        must_not, must = self._patterns
        for pattern, text in zip(must_not, self.body_matches, strict=True):
            if pattern.search(body):
                return f'body matched {text!r}'
        for pattern, text in zip(must, self.body_not_matches, strict=True):
            if not pattern.search(body):
                return f'body did not match {text!r}'
        return None

    def to_task(self) -> dict[str, Any]:
        """The options that differ from the defaults, as JSON for the task's kwargs."""
        given = {}
        for option in dataclasses.fields(self):
            value = getattr(self, option.name)
            if option.init and value != option.default:
                given[option.name] = [list(r) for r in value] if option.name == 'valid_status' else value
        return given

    @classmethod
    def from_task(cls, given: dict[str, Any] | None, **defaults: Any) -> CheckOptions:
        """The options a task carries, over ``defaults``; BadOption for anything else."""
        values = {**defaults, **(given or {})}
        names = {option.name for option in dataclasses.fields(cls) if option.init}
        unknown = sorted(set(values) - names)
        if unknown:
            raise BadOption(f'unknown option {unknown[0]!r}')
        if 'valid_status' in values:
            try:
                values['valid_status'] = tuple((int(low), int(high)) for low, high in values['valid_status'])
            except (TypeError, ValueError):
                raise BadOption('valid_status must be a list of [low, high] pairs') from None
        for name in ('body_matches', 'body_not_matches'):
            if name in values:
                if not isinstance(values[name], list | tuple):
                    raise BadOption(f'{name} must be a list of patterns')
                values[name] = tuple(values[name])
        if 'timeout' in values:
            try:
                values['timeout'] = min(max(float(values['timeout']), MIN_TIMEOUT), MAX_TIMEOUT)
            except (TypeError, ValueError):
                raise BadOption('timeout must be a number of seconds') from None
        return cls(**values)
