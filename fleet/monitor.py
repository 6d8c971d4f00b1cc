"""What every server runs, kept fresh by polling each one about once a second.

Pages and the JSON API read this snapshot, so they never wait for a server. Each change is
pushed to subscribers (the browsers' event streams) as a diff: the server's summary with the
processes that changed or went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fleet.config import Config
from fleet.rpc import Fault, Supervisor, Unreachable

log = logging.getLogger('fleet')

RUNNING = 'RUNNING'
QUEUE_SIZE = 100  # updates a browser may lag behind before it is dropped (it then reconnects)


@dataclass
class ServerState:
    name: str
    url: str
    reachable: bool = False
    error: str | None = 'not polled yet'
    state: str | None = None  # supervisord's own: RUNNING, RESTARTING, SHUTDOWN...
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {'name': self.name, 'url': self.url, 'reachable': self.reachable, 'error': self.error,
                'state': self.state}


class Monitor:
    def __init__(self, config: Config, clients: dict[str, Supervisor]):
        self.config = config
        self.clients = clients
        self.servers = {s.name: ServerState(s.name, s.url) for s in config.servers}
        self._pokes = {name: asyncio.Event() for name in self.servers}
        self._subscribers: set[asyncio.Queue] = set()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll_forever(name)) for name in self.servers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def poke(self, server: str) -> None:
        """Poll now rather than at the next tick: after an action the change shows at once."""
        self._pokes[server].set()

    def processes(self) -> list[dict[str, Any]]:
        return [p for s in self.servers.values() for p in s.processes.values()]

    def snapshot(self) -> dict[str, Any]:
        return {'now': time.time(), 'servers': [s.summary() for s in self.servers.values()],
                'groups': [{'name': g.name, 'members': list(g.members),
                            'servers': [s for s in self.servers if g.touches(s)]}
                           for g in self.config.groups],
                'processes': self.processes()}

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    async def _poll_forever(self, name: str) -> None:
        poke = self._pokes[name]
        while True:
            try:
                await self.poll(name)
            except Exception:  # a bug must not end the polling of this server
                log.exception('polling %s', name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poke.wait(), self.config.poll_interval)
            poke.clear()

    async def poll(self, name: str) -> None:
        server = self.servers[name]
        before = (server.summary(), {pid: _comparable(p) for pid, p in server.processes.items()})
        try:
            state, infos = await self.clients[name].multicall(
                [('supervisor.getState', ()), ('supervisor.getAllProcessInfo', ())],
                timeout=self.config.timeout)
            for answer in (state, infos):
                if isinstance(answer, Fault):  # e.g. SHUTDOWN_STATE: it is going away
                    raise answer
        except (Unreachable, Fault) as exc:
            server.reachable, server.error, server.state, server.processes = False, str(exc), None, {}
        else:
            server.reachable, server.error, server.state = True, None, state['statename']
            server.processes = {p['id']: p for p in (self._record(name, info) for info in infos)}
        self._publish(server, *before)

    def _record(self, server: str, info: dict[str, Any]) -> dict[str, Any]:
        running = info['statename'] == RUNNING
        return {
            'id': f'{server}:{info["group"]}:{info["name"]}', 'server': server,
            'group': info['group'], 'name': info['name'], 'state': info['statename'],
            'pid': info['pid'] or None,
            # When it started, on the dashboard's clock: browsers tick the uptime from it.
            'started_at': time.time() - (info['now'] - info['start']) if running else None,
            'exitstatus': info['exitstatus'], 'spawnerr': info['spawnerr'],
            'description': info['description'],
            'fleet_groups': [g.name for g in self.config.groups
                             if g.matches(server, info['group'], info['name'])],
        }

    def _publish(self, server: ServerState, summary: dict, processes: dict[str, dict]) -> None:
        changed = [p for pid, p in server.processes.items() if processes.get(pid) != _comparable(p)]
        removed = [pid for pid in processes if pid not in server.processes]
        if summary == server.summary() and not changed and not removed:
            return
        update = {'now': time.time(), 'server': server.summary(), 'changed': changed, 'removed': removed}
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(update)
            except asyncio.QueueFull:  # a stalled browser: drop it rather than grow without bound
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)  # ends its stream; the browser reconnects to a fresh snapshot


def _comparable(process: dict[str, Any]) -> dict[str, Any]:
    # A running process's description and start time move every second ("uptime 0:00:07");
    # they are not changes worth a push.
    if process['state'] != RUNNING:
        return process
    return {k: v for k, v in process.items() if k not in ('description', 'started_at')}

