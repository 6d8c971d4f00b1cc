"""Logged-in sessions, kept by the dashboard so they can be ended, and the login rate limit.

The session cookie holds a random id (signed); the session holds the user record it was opened
for. Logging out ends it; so does a reload (SIGHUP) that removes the user or changes its password
or role. An ended session's event streams are closed at once. Sessions live in memory: a
restart of the dashboard logs everybody out.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from fleet.config import User

LIFETIME = 24 * 3600.0  # seconds a session lasts, whatever the cookie says


@dataclass
class Session:
    user: User
    opened: float
    streams: set[asyncio.Queue] = field(default_factory=set)  # its open event streams


def hang_up(queue: asyncio.Queue) -> None:
    """End the event stream reading this queue: drop what waits, then the end marker (None)."""
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(None)


class Sessions:
    def __init__(self, lifetime: float = LIFETIME):
        self.lifetime = lifetime
        self._open: dict[str, Session] = {}

    def open(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        self._open[token] = Session(user, time.monotonic())
        return token

    def user(self, token: str, users: dict[str, User]) -> User | None:
        """The session's user while the session is open and the user unchanged; else it ends."""
        session = self._open.get(token)
        if session is None:
            return None
        if time.monotonic() - session.opened > self.lifetime or users.get(session.user.name) != session.user:
            self.end(token)
            return None
        return session.user

    def end(self, token: str) -> None:
        session = self._open.pop(token, None)
        for queue in session.streams if session else ():
            hang_up(queue)

    def end_stale(self, users: dict[str, User]) -> int:
        """End the sessions of users removed or changed (after a reload); how many ended."""
        stale = [t for t, s in self._open.items() if users.get(s.user.name) != s.user]
        for token in stale:
            self.end(token)
        return len(stale)

    def watch(self, token: str, queue: asyncio.Queue) -> None:
        if token in self._open:  # else the session ended meanwhile: the request was a trusted proxy's
            self._open[token].streams.add(queue)

    def unwatch(self, token: str, queue: asyncio.Queue) -> None:
        if token in self._open:
            self._open[token].streams.discard(queue)


class LoginLimit:
    """At most `attempts` logins per client address per `window` seconds, successful ones excepted.

    An attempt counts from its start, so a flood of parallel guesses is cut at `attempts` too.
    """

    def __init__(self, attempts: int = 10, window: float = 60.0):
        self.attempts = attempts
        self.window = window
        self._tries: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, address: str) -> float:
        """0 and the attempt is counted, or the seconds to wait before the next one."""
        now = time.monotonic()
        tries = self._tries[address]
        while tries and now - tries[0] > self.window:
            tries.popleft()
        if len(tries) >= self.attempts:
            return self.window - (now - tries[0])
        tries.append(now)
        return 0.0

    def succeeded(self, address: str) -> None:
        tries = self._tries[address]
        if tries:
            tries.pop()
        if not tries:
            del self._tries[address]
