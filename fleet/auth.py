"""Users and sessions: password hashes, the first-run admin, and the cookie-signing secret."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleet.config import ConfigError, Settings, User

log = logging.getLogger('fleet')

# scrypt at n=2**17, r=8 (OWASP's current minimum): ~0.3 s and 128 MiB per try, which makes
# guessing expensive. Hashes made with other parameters (2**14 before) still verify: they are stored.
N, R, P = 2**17, 8, 1
MAXMEM = 2 * 128 * R * N  # hashlib's default cap (32 MiB) is below what n=2**17 needs
ADMIN_PASSWORD_FILE = 'admin-password'
COOKIE_SECRET_FILE = 'cookie-secret'
MIN_SECRET = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=MAXMEM)
    return f'scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}'


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split('$')
        if scheme != 'scrypt':
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected), maxmem=MAXMEM)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def new_token() -> tuple[str, str]:
    """A random API token and the hash the config stores for it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough, and it is computed on every request.
    return f'sha256${hashlib.sha256(token.encode()).hexdigest()}'


# Checked when the user name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe())


# scrypt takes ~50-100 ms of CPU: off the event loop, or a burst of logins would stall polling,
# event streams and actions for everyone. hashlib releases the GIL while it works.
_hashing = ThreadPoolExecutor(max_workers=2, thread_name_prefix='fleet-scrypt')


async def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    stored = user.password_hash if user else _DUMMY_HASH
    ok = await asyncio.get_running_loop().run_in_executor(_hashing, verify_password, password, stored)
    return user if ok and user else None


def first_run_admin(settings: Settings) -> User:
    """The admin of a config without users: FLEET_ADMIN_PASSWORD, else a password kept in state_dir."""
    password = settings.admin_password
    if password:
        log.warning('no users configured: user "admin" has the password in FLEET_ADMIN_PASSWORD')
    else:
        path = settings.state_dir / ADMIN_PASSWORD_FILE
        password = read_or_create_secret(path)
        log.warning('no users configured: user "admin" has the password in %s', path)
    return User(name='admin', role='admin', password_hash=hash_password(password))


def cookie_secret(settings: Settings) -> str:
    return settings.cookie_secret or read_or_create_secret(settings.state_dir / COOKIE_SECRET_FILE)


def read_or_create_secret(path: Path) -> str:
    """A random secret kept in a file only its owner can read; var/ is git-ignored."""
    if path.exists():
        value = path.read_text().strip()
        if len(value) < MIN_SECRET:  # an empty secret signs cookies anyone can forge
            raise ConfigError(f'{path} holds no usable secret (fewer than {MIN_SECRET} characters): '
                              'delete it to have a new one made')
        return value
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(value + '\n')
    return value
