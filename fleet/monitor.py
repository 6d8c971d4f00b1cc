"""What every server runs, kept fresh by polling each one about once a second.

Pages and the JSON API read this snapshot, so they never wait for a server. Each change is
pushed to subscribers (the browsers' event streams) as a diff: the server's summary with the
processes that changed or went away.

A failed poll keeps the server's last known processes: it shows as unreachable (and loses them)
only after its polls have failed for `unreachable_after` seconds in a row, so one slow answer
from a busy or distant supervisord does not blank it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from fleet.alerts import Alerts
from fleet.config import Config
from fleet.rpc import Fault, Supervisor, Unreachable
from fleet.sessions import hang_up
from fleet.state import RUNNING, Process, ServerState

log = logging.getLogger('fleet')

QUEUE_SIZE = 100  # updates a browser may lag behind before it is dropped (it then reconnects)
STATS_CALL = ('fleet.getStats', ())  # servers without the extension answer UNKNOWN_METHOD


class Monitor:
    def __init__(self, config: Config, clients: dict[str, Supervisor], alerts: Alerts | None = None,
                 supervised_as: tuple[str, str] | None = None):
        self.config = config
        self.clients = clients
        self.alerts = alerts
        self.servers = {s.name: ServerState(s.name, s.url, s.location) for s in config.servers}
        self._pokes = {name: asyncio.Event() for name in self.servers}
        self._subscribers: set[asyncio.Queue] = set()
        self._tasks: list[asyncio.Task] = []
        # (group, name, pid) of this dashboard when a supervisord runs it: that process is marked.
        self._me = (*supervised_as, os.getpid()) if supervised_as else None

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll_forever(name)) for name in self.servers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def poke(self, server: str) -> None:
        """Poll now rather than at the next tick: after an action the change shows at once."""
        self._pokes[server].set()

    def processes(self) -> list[Process]:
        return [p for s in self.servers.values() for p in s.processes.values()]

    def group_servers(self, group: str) -> list[ServerState]:
        found = next(g for g in self.config.groups if g.name == group)
        return [s for s in self.servers.values() if found.touches(s.name)]

    def group_processes(self, group: str) -> list[Process]:
        return [p for p in self.processes() if group in p.fleet_groups]

    def snapshot(self) -> dict[str, Any]:
        return {'now': time.time(), 'servers': [s.summary() for s in self.servers.values()],
                'groups': [{'name': g.name, 'members': list(g.members),
                            'servers': [s.name for s in self.group_servers(g.name)]}
                           for g in self.config.groups],
                'processes': [p.to_json() for p in self.processes()],
                'history': {s.name: list(s.history) for s in self.servers.values() if s.history},
                'process_history': {pid: list(h) for s in self.servers.values()
                                    for pid, h in s.process_history.items()}}

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
        before = (server.summary(), {pid: p.comparable() for pid, p in server.processes.items()})
        started = time.time()
        measured = False
        try:
            state, infos, stats = await self.clients[name].multicall(
                [('supervisor.getState', ()), ('supervisor.getAllProcessInfo', ()), STATS_CALL],
                timeout=self.config.timeout)
            for answer in (state, infos):
                if isinstance(answer, Fault):  # e.g. SHUTDOWN_STATE: it is going away
                    raise answer
        except (Unreachable, Fault) as exc:
            again = server.failing_since is not None
            server.failing_since = server.failing_since or started
            server.error = str(exc)
            down_for = time.time() - server.failing_since
            if not server.reachable or (again and down_for >= self.config.unreachable_after):
                server.reachable, server.state, server.processes = False, None, {}
        else:
            server.reachable, server.error, server.state = True, None, state['statename']
            server.failing_since = None
            measured = isinstance(stats, list)  # else a Fault: no extension on that server
            figures = {(s['group'], s['name'], s['pid']): s for s in stats} if measured else {}
            server.processes = {p.id: p for p in (self._record(name, info, figures) for info in infos)}
        self._publish(server, *before)
        if measured:
            self._publish_stats(server)
        for notice in self.alerts.observe(server) if self.alerts else ():
            self._broadcast('alert', notice)

    def _record(self, server: str, info: dict[str, Any], figures: dict[tuple, dict]) -> Process:
        running = info['statename'] == RUNNING
        figure = figures.get((info['group'], info['name'], info['pid']), {})
        return Process(
            id=f'{server}:{info["group"]}:{info["name"]}', server=server,
            group=info['group'], name=info['name'], state=info['statename'], pid=info['pid'] or None,
            started_at=time.time() - (info['now'] - info['start']) if running else None,
            exitstatus=info['exitstatus'], spawnerr=info['spawnerr'], description=info['description'],
            fleet_groups=self.config.groups_of(server, info['group'], info['name']),
            dashboard=self._me == (info['group'], info['name'], info['pid']),
            cpu=figure['cpu'] if figure.get('cpu', -1) >= 0 else None, rss_kb=figure.get('rss_kb'))

    def _publish_stats(self, server: ServerState) -> None:
        measured = [p for p in server.processes.values() if p.rss_kb is not None]
        point = [time.time(), round(sum(p.cpu or 0 for p in measured), 1), sum(p.rss_kb for p in measured)]
        server.history.append(point)
        for gone in server.process_history.keys() - server.processes.keys():
            del server.process_history[gone]
        for p in measured:
            server.process_history[p.id].append([p.cpu, p.rss_kb])
        self._broadcast('stats', {'server': server.name, 'host': point,
                                  'processes': {p.id: [p.cpu, p.rss_kb] for p in measured}})

    def _publish(self, server: ServerState, summary: dict, processes: dict[str, Process]) -> None:
        changed = [p.to_json() for pid, p in server.processes.items() if processes.get(pid) != p.comparable()]
        removed = [pid for pid in processes if pid not in server.processes]
        if summary == server.summary() and not changed and not removed:
            return
        self._broadcast('update', {'now': time.time(), 'server': server.summary(), 'changed': changed,
                                   'removed': removed})

    def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        """To every event stream: (event name, data)."""
        for queue in list(self._subscribers):
            try:
                queue.put_nowait((event, data))
            except asyncio.QueueFull:  # a stalled browser: drop it rather than grow without bound
                self._subscribers.discard(queue)
                hang_up(queue)  # the browser reconnects to a fresh snapshot
