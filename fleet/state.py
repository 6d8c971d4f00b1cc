"""What the dashboard knows of each server and process: the snapshot the monitor keeps fresh
and the alerts judge."""

from __future__ import annotations

import dataclasses
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

RUNNING = 'RUNNING'
HISTORY = 300  # polls of CPU and memory kept per server: 5 minutes at the default interval
# Per process: fewer, since a snapshot carries every process's (2 minutes at the default interval).
PROCESS_HISTORY = 120


@dataclass(frozen=True)
class Process:
    id: str  # server:group:name
    server: str
    group: str
    name: str
    state: str
    pid: int | None
    started_at: float | None  # on the dashboard's clock: browsers tick the uptime from it
    exitstatus: int
    spawnerr: str
    description: str
    fleet_groups: tuple[str, ...]
    dashboard: bool = False  # this is the dashboard itself: stopping it would end the page
    # From the fleet RPC extension (fleet/rpcinterface.py), with children; None without it.
    cpu: float | None = None  # percent of one core
    rss_kb: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def comparable(self) -> Process:
        # A running process's description and start time move every second ("uptime 0:00:07"),
        # and so do its figures (they go out as `stats` events): not changes worth a push.
        if self.state == RUNNING:
            return dataclasses.replace(self, description='', started_at=None, cpu=None, rss_kb=None)
        return dataclasses.replace(self, cpu=None, rss_kb=None)


@dataclass
class ServerState:
    name: str
    url: str
    location: str | None = None  # from its config entry
    reachable: bool = False
    error: str | None = 'not polled yet'
    state: str | None = None  # supervisord's own: RUNNING, RESTARTING, SHUTDOWN...
    failing_since: float | None = None  # dashboard clock: start of the first of the failed polls in a row
    processes: dict[str, Process] = field(default_factory=dict)
    # [time, CPU %, RSS KiB] of all its processes, one per poll, for the sparklines.
    history: deque[list[float]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    # Process id -> [CPU %, RSS KiB], one per poll, at the times of the last of ``history``.
    process_history: defaultdict[str, deque[list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=PROCESS_HISTORY)))

    def summary(self) -> dict[str, Any]:
        return {'name': self.name, 'url': self.url, 'location': self.location, 'reachable': self.reachable,
                'error': self.error, 'state': self.state, 'failing_since': self.failing_since}
