"""A check's target and options, read from a request's arguments: ``/check``'s query string, or one
target of ``POST /checks``'s body. One parser, so both say the same about the same mistake.

Arguments are a mapping of name to its values (strings, the last one counting, as Tornado's
``get_argument``); what is wrong is a BadTarget whose message is safe to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import routing
from gateway.settings import FALSE, TRUE
from probe.options import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    MIN_TIMEOUT,
    BadOption,
    CheckOptions,
    parse_valid_status,
)
from probe.policy import TargetRefused, parse_url, validate_host, validate_port

Arguments = Mapping[str, list[str]]
URL_ONLY = ('valid_status', 'method', 'body_matches', 'body_not_matches', 'follow_redirects', 'ignore_result')
PATTERNS = ('body_matches', 'body_not_matches')  # taken as given: spaces may matter in a pattern
# What a target of POST /checks may say: /check's arguments but ignore_result (a bulk request waits).
JSON_FIELDS = frozenset({'url', 'host', 'port', 'timeout', 'follow_redirects', 'tls', 'insecure', 'method',
                         'ip_protocol', 'valid_status', *PATTERNS})


class BadTarget(ValueError):
    """A target or option no check can take; the message says which and why."""


@dataclass(frozen=True)
class Target:
    """A check to send: its task and arguments, and the address to vet before sending it."""

    task: str
    args: list
    options: CheckOptions
    host: str
    port: int

    @property
    def kwargs(self) -> dict | None:
        return options_kwargs(self.options)

    @property
    def label(self) -> str:
        """The target as the client named it: the URL, or host:port."""
        return f'{self.host}:{self.port}' if self.task == routing.TCP_CHECK else self.args[0]

    def chunk_item(self) -> dict[str, Any]:
        """This check as one item of a ``check_many`` chunk (check_worker._check_one reads it)."""
        names = ('host', 'port', 'timeout') if self.task == routing.TCP_CHECK else ('url', 'follow_redirects',
                                                                                   'timeout')
        return {**dict(zip(names, self.args, strict=True)), **(self.kwargs or {})}


def options_kwargs(options: CheckOptions) -> dict | None:
    """The task's ``options`` kwarg: only what the positional arguments do not already say, and
    nothing at all for a plain check, whose message stays the seed's shape."""
    given = {name: value for name, value in options.to_task().items()
             if name not in ('timeout', 'follow_redirects')}
    return {'options': given} if given else None


def from_json(target: Any) -> Arguments:
    """A target of ``POST /checks`` as the arguments ``parse`` reads: its values as the strings a
    query string would give (``true`` as ``1``), a pattern's list as repeated arguments."""
    if not isinstance(target, dict):
        raise BadTarget('a target must be an object: {"url": ...} or {"host": ..., "port": ...}')
    if unknown := sorted(str(name) for name in target if name not in JSON_FIELDS):
        raise BadTarget(f'unknown option {unknown[0][:50]!r}')
    return {name: [_text(name, item) for item in (value if name in PATTERNS and isinstance(value, list)
                                                  else [value])]
            for name, value in target.items()}


def _text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int | float | str):
        return str(value)
    raise BadTarget(f'{name} must be a string, a number or a boolean')


def last(arguments: Arguments, name: str) -> str | None:
    values = arguments.get(name)
    if not values:
        return None
    return values[-1] if name in PATTERNS else values[-1].strip()


def flag(arguments: Arguments, name: str) -> bool:
    raw = (last(arguments, name) or '').lower()
    if raw not in TRUE | FALSE:
        raise BadTarget(f'{name} must be 1 or 0, got {raw[:20]!r}')
    return raw in TRUE


def number(arguments: Arguments, name: str, default: float, low: float, high: float) -> float:
    raw = last(arguments, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadTarget(f'{name} must be a number, got {raw[:20]!r}') from None
    if not low <= value <= high:
        raise BadTarget(f'{name} must be between {low:g} and {high:g}')
    return value


def check_options(arguments: Arguments) -> CheckOptions:
    values: dict[str, Any] = {
        'timeout': number(arguments, 'timeout', DEFAULT_TIMEOUT, MIN_TIMEOUT, MAX_TIMEOUT),
        'follow_redirects': flag(arguments, 'follow_redirects'),
        'tls': flag(arguments, 'tls'), 'insecure': flag(arguments, 'insecure')}
    if (method := last(arguments, 'method')) is not None:
        values['method'] = method.upper()
    if (ip_protocol := last(arguments, 'ip_protocol')) is not None:
        values['ip_protocol'] = ip_protocol.lower()
    for name in PATTERNS:
        if patterns := arguments.get(name):
            values[name] = tuple(patterns)
    try:
        if (valid_status := last(arguments, 'valid_status')) is not None:
            values['valid_status'] = parse_valid_status(valid_status)
        return CheckOptions(**values)
    except BadOption as exc:
        raise BadTarget(str(exc)) from None


def parse(arguments: Arguments, *, ignore_result: bool = False) -> Target:
    """``url`` for an HTTP(S) check, or ``host`` and ``port`` for a TCP one, and its options."""
    url, host = last(arguments, 'url'), last(arguments, 'host')
    if (url is None) == (host is None):
        raise BadTarget('give either url, or host and port')
    if host is not None and (given := [name for name in URL_ONLY if name in arguments]):
        raise BadTarget(f'{given[0]} applies to url checks only')
    if url is not None and 'tls' in arguments:
        raise BadTarget('tls applies to host and port checks only; a url says its scheme')
    options = check_options(arguments)
    try:
        if url is not None:
            parsed = parse_url(url)
            task = routing.HTTP_CHECK_NO_RESULT if ignore_result else routing.HTTP_CHECK
            return Target(task, [parsed.url, options.follow_redirects, options.timeout], options,
                          parsed.host, parsed.port)
        host = validate_host(host)
        port = validate_port(last(arguments, 'port') or '')
        return Target(routing.TCP_CHECK, [host, port, options.timeout], options, host, port)
    except TargetRefused as exc:
        raise BadTarget(str(exc)) from None
