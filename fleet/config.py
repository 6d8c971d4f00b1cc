"""The TOML config file (servers, groups, users) and the process settings from the environment.

Secrets never live in the file: a server names the environment variable that holds its
password, and users are stored as password hashes.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HOME = Path(__file__).resolve().parent.parent
# What each role may do: `control` is start, stop and restart; `manage` is reread & update,
# signals, clearing logs and reading the audit log.
MAX_NAME = 64  # characters of a server, group, user or token name
ROLES = {'admin': {'control', 'manage'}, 'operator': {'control'}, 'readonly': set()}
TRUE = {'1', 'true', 'yes', 'on'}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    username: str | None = None
    password_env: str | None = None
    location: str | None = None  # where its check workers check from (its LOCATION), shown beside it


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...]

    def matches(self, server: str, group: str, name: str) -> bool:
        return any(member_matches(m, server, group, name) for m in self.members)

    def touches(self, server: str) -> bool:
        return any(fnmatch.fnmatchcase(server, m.partition(':')[0]) for m in self.members)


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    def may(self, permission: str) -> bool:
        return permission in ROLES[self.role]


@dataclass(frozen=True)
class Token:
    """An API token for scripts: sent as ``Authorization: Bearer ...``, stored as its SHA-256."""

    name: str
    role: str
    token_hash: str  # sha256$<64 hex digits>, from `python -m fleet make-token`

    def as_user(self) -> User:
        return User(name=f'token:{self.name}', role=self.role, password_hash='')


@dataclass(frozen=True)
class AlertHook:
    """A webhook that gets every alert and recovery as a JSON POST."""

    url: str
    attempts: int = 5  # tries per notice, 1 s apart and doubling


@dataclass(frozen=True)
class Config:
    servers: tuple[Server, ...]
    groups: tuple[Group, ...] = ()
    users: tuple[User, ...] = ()
    tokens: tuple[Token, ...] = ()
    alerts: tuple[AlertHook, ...] = ()
    poll_interval: float = 1.0
    timeout: float = 1.5  # for status calls
    # A server shows as unreachable once its polls have failed for this long in a row (counted
    # from the start of the first failed poll, and at least two polls): one slow answer is no outage.
    unreachable_after: float = 3.0
    action_timeout: float = 60.0  # start/stop wait for the programs (stopwaitsecs, startsecs)
    # SSO through a reverse proxy on this machine: the header naming the logged-in user. Off (None)
    # by default; believed only from loopback peers, and only for users of the config.
    trusted_user_header: str | None = None

    def groups_of(self, server: str, group: str, name: str) -> tuple[str, ...]:
        """The fleet groups a process belongs to: the one place membership is decided."""
        return tuple(g.name for g in self.groups if g.matches(server, group, name))


@dataclass(frozen=True)
class Settings:
    """How the dashboard runs: from the environment, like the rest of route_check."""

    config_path: Path
    host: str = '127.0.0.1'
    port: int = 9001
    state_dir: Path = HOME / 'var' / 'fleet'  # generated secrets, mode 600
    secure_cookies: bool = False  # set when users reach the dashboard over https
    # The first-run admin's password (a config without [[users]]) and the cookie secret; each is
    # generated into state_dir when unset.
    admin_password: str | None = field(default=None, repr=False)
    cookie_secret: str | None = field(default=None, repr=False)
    # (group, name) of this dashboard's own process when a supervisord runs it (it sets these
    # variables), so the pages keep its stop button away.
    supervised_as: tuple[str, str] | None = None

    @classmethod
    def from_env(cls) -> Settings:
        path = os.environ.get('FLEET_CONFIG')
        if not path:
            raise ConfigError('set FLEET_CONFIG to the path of the config file '
                              '(see fleet/examples/fleet.toml)')
        group, name = os.environ.get('SUPERVISOR_GROUP_NAME'), os.environ.get('SUPERVISOR_PROCESS_NAME')
        return cls(
            config_path=Path(path),
            host=os.environ.get('FLEET_HOST', cls.host),
            port=int(os.environ.get('FLEET_PORT', cls.port)),
            state_dir=Path(os.environ.get('FLEET_STATE_DIR', cls.state_dir)),
            secure_cookies=os.environ.get('FLEET_SECURE_COOKIES', '').lower() in TRUE,
            admin_password=os.environ.get('FLEET_ADMIN_PASSWORD') or None,
            cookie_secret=os.environ.get('FLEET_COOKIE_SECRET') or None,
            supervised_as=(group, name) if group and name else None,
        )


@dataclass(frozen=True)
class ClientSettings:
    """How the command line reaches a running dashboard."""

    url: str | None = None
    token: str | None = field(default=None, repr=False)  # an API token (python -m fleet make-token)

    @classmethod
    def from_env(cls) -> ClientSettings:
        return cls(url=os.environ.get('FLEET_URL') or None, token=os.environ.get('FLEET_TOKEN') or None)


def member_matches(member: str, server: str, group: str, name: str) -> bool:
    """``srv:*``, ``srv:group:*``, ``srv:group:name`` or ``srv:program``; each part may be a glob.

    ``srv:program`` names a program (its supervisor group) or a process of a [group:x] section,
    so a program with numprocs > 1 matches all its processes, as in supervisorctl.
    """
    server_pattern, _, process_pattern = member.partition(':')
    if not fnmatch.fnmatchcase(server, server_pattern):
        return False
    if ':' in process_pattern:
        return fnmatch.fnmatchcase(f'{group}:{name}', process_pattern)
    return fnmatch.fnmatchcase(name, process_pattern) or fnmatch.fnmatchcase(group, process_pattern)


def load(path: Path) -> Config:
    try:
        with open(path, 'rb') as f:
            raw = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f'{path}: {exc}') from None
    try:
        return parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f'{path}: {exc}') from None


def parse(raw: dict) -> Config:
    servers = tuple(Server(name=_name(s['name'], 'server'), url=s['url'], username=s.get('username'),
                           password_env=s.get('password_env'), location=s.get('location'))
                    for s in raw.get('servers', []))
    if not servers:
        raise ValueError('no [[servers]] configured')
    _unique('server', [s.name for s in servers])
    groups = tuple(Group(name=_name(g['name'], 'group'), members=tuple(g['members']))
                   for g in raw.get('groups', []))
    _unique('group', [g.name for g in groups])
    names = {s.name for s in servers}
    for group in groups:
        for member in group.members:
            if ':' not in member or not any(Group('', (member,)).touches(n) for n in names):
                raise ValueError(f'group {group.name}: member {member!r} matches no server '
                                 '(members look like server:program, server:group:* or server:*)')
    users = tuple(User(name=u['name'], role=u['role'], password_hash=u['password_hash'])
                  for u in raw.get('users', []))
    _unique('user', [u.name for u in users])
    for user in users:
        _role(user.role, f'user {user.name}')
        check_password_hash(user.password_hash, f'user {user.name}')
    tokens = tuple(Token(name=_name(t['name'], 'token'), role=t['role'], token_hash=t['token_hash'])
                   for t in raw.get('tokens', []))
    _unique('token', [t.name for t in tokens])
    for token in tokens:
        _role(token.role, f'token {token.name}')
        if not re.fullmatch(r'sha256\$[0-9a-f]{64}', token.token_hash):
            raise ValueError(f'token {token.name}: token_hash is not one `python -m fleet make-token` makes')
    alerts = tuple(AlertHook(url=a['url'], attempts=a.get('attempts', AlertHook.attempts))
                   for a in raw.get('alerts', []))
    for hook in alerts:
        attempts_ok = isinstance(hook.attempts, int) and 1 <= hook.attempts <= 20
        if not re.match(r'https?://[^/]', hook.url) or not attempts_ok:
            raise ValueError(f'alerts: url must be http(s)://..., attempts 1 to 20: {hook}')
    options = dict(raw.get('fleet', {}))
    header = options.pop('trusted_user_header', None)
    if header is not None and not (isinstance(header, str) and re.fullmatch(r'[A-Za-z0-9-]+', header)):
        raise ValueError(f'[fleet] trusted_user_header must be a header name, got {header!r}')
    unknown = set(options) - set(LIMITS)
    if unknown:
        raise ValueError(f'[fleet]: unknown options {", ".join(sorted(unknown))}')
    return Config(servers=servers, groups=groups, users=users, tokens=tokens, alerts=alerts,
                  trusted_user_header=header, **{key: _seconds(options, key) for key in LIMITS})


# Each [fleet] option's allowed range, in seconds: outside it the dashboard would hammer the
# servers, never notice an outage, or give up on actions that are merely slow.
LIMITS = {'poll_interval': (0.1, 3600), 'timeout': (0.1, 300), 'unreachable_after': (0, 3600),
          'action_timeout': (1, 3600)}


def _seconds(options: dict, key: str) -> float:
    value = options.get(key, getattr(Config, key))
    low, high = LIMITS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f'[fleet] {key} must be a number of seconds from {low} to {high}, got {value!r}')
    return float(value)


def check_password_hash(stored: str, who: str) -> None:
    """scrypt$N$r$p$salt$digest as `python -m fleet hash-password` writes it, else ValueError.

    Checked at load: a hash that cannot verify would lock its user out without a word.
    """
    try:
        scheme, n, r, p, salt, digest = stored.split('$')
        ok = (scheme == 'scrypt' and min(int(n), int(r), int(p)) > 0 and int(n) & (int(n) - 1) == 0
              and all(base64.b64decode(part, validate=True) for part in (salt, digest)))
    except (AttributeError, ValueError):  # binascii.Error is a ValueError
        ok = False
    if not ok:
        raise ValueError(f'{who}: password_hash is not one that `python -m fleet hash-password` makes')


def _role(role: str, who: str) -> None:
    if role not in ROLES:
        raise ValueError(f'{who}: role must be one of {", ".join(ROLES)}')


def _name(value: str, kind: str) -> str:
    # Names appear in ids (server:group:name) and URLs: keep them plain, and short (a login form
    # reads no more of a user name than MAX_NAME).
    if not value or ':' in value or '/' in value or value != value.strip() or len(value) > MAX_NAME:
        raise ValueError(f'{kind} name {value[:MAX_NAME]!r} must be non-empty, at most {MAX_NAME} '
                         'characters, without ":" "/" or outer spaces')
    return value


def _unique(kind: str, names: list[str]) -> None:
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f'duplicate {kind} names: {", ".join(sorted(duplicates))}')
