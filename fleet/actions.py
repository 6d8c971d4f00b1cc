"""Start, stop, restart or signal any set of processes across servers; reread and update a server.

A request (processes, fleet groups, whole servers) becomes one plan per server. Servers run in
parallel; on each, the plan uses supervisor's widest call that fits (all processes, a whole
supervisor group, else one process), since those start and stop together and honour priorities.
Group calls report per process instead of raising, so every item gets its own status.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fleet.monitor import Monitor
from fleet.rpc import Fault, Supervisor, Unreachable, fault_name
from fleet.state import Process

ACTIONS = ('start', 'stop', 'restart')
# What Celery workers (and most daemons) answer to: HUP restart, USR1 dump tracebacks,
# USR2 enter a remote debugger, TERM warm shutdown.
SIGNALS = ('HUP', 'USR1', 'USR2', 'TERM')
# Already in the wanted state is success: the request's goal holds. A signal must be delivered.
FINE = {'start': {'SUCCESS', 'ALREADY_STARTED'}, 'stop': {'SUCCESS', 'NOT_RUNNING'}, 'signal': {'SUCCESS'}}
# What a group call's silence means for a process it skipped.
SKIPPED = {'start': 'ALREADY_STARTED', 'stop': 'NOT_RUNNING', 'signal': 'NOT_RUNNING'}
# The dashboard's own process is left out of stops, restarts and signals: they would end the
# request that asked for them, and the page with it. supervisorctl can still stop it.
DASHBOARD = 'DASHBOARD'


@dataclass(frozen=True)
class Result:
    """What happened to one process (or to a whole server, `server:*`, that did not answer)."""

    id: str
    server: str
    status: str  # supervisor's fault name, SUCCESS, UNREACHABLE or DASHBOARD
    ok: bool
    description: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class UnknownTarget(ValueError):
    pass


async def run(monitor: Monitor, action: str, processes: list[str], groups: list[str],
              servers: list[str], signal: str | None = None) -> list[Result]:
    """One result per process. `signal` (one of SIGNALS) goes with action 'signal'."""
    plans, items = _resolve(monitor, processes, groups, servers)
    if action != 'start':
        for wanted in plans.values():
            for p in [p for p in wanted.values() if p.dashboard]:
                del wanted[p.id]
                items.append(Result(p.id, p.server, DASHBOARD, False, 'the dashboard: use supervisorctl'))
    timeout = monitor.config.action_timeout
    per_server = await asyncio.gather(*(
        _run_server(monitor.clients[name], name, action, signal or True, wanted,
                    list(monitor.servers[name].processes.values()), timeout)
        for name, wanted in plans.items() if wanted))
    for name in plans:
        monitor.poke(name)
    return items + [item for server_items in per_server for item in server_items]


async def update(client: Supervisor, timeout: float) -> dict[str, Any]:
    """supervisorctl update: reread the config, then add, replace and remove groups to match it."""
    [[added, changed, removed]] = await client.call('supervisor.reloadConfig', timeout=timeout, lane='action')
    errors: list[dict[str, str]] = []

    async def step(group: str, method: str) -> bool:
        try:
            await client.call(f'supervisor.{method}', group, timeout=timeout, lane='action')
        except (Fault, Unreachable) as exc:
            status = fault_name(exc.faultCode) if isinstance(exc, Fault) else 'UNREACHABLE'
            errors.append({'group': group, 'step': method, 'status': status, 'description': str(exc)})
            return False
        return True

    async def take_out(group: str) -> bool:
        # stopProcessGroup answers per process and does not raise; removal then says if it worked.
        return await step(group, 'stopProcessGroup') and await step(group, 'removeProcessGroup')

    async def replace(group: str) -> None:
        if await take_out(group):
            await step(group, 'addProcessGroup')

    await asyncio.gather(*(step(g, 'addProcessGroup') for g in added), *(replace(g) for g in changed),
                         *(take_out(g) for g in removed))
    return {'added': added, 'changed': changed, 'removed': removed, 'errors': errors}


def _resolve(monitor: Monitor, ids: list[str], groups: list[str], servers: list[str]):
    """{server: {process id: process}} to act on, and the items that failed already (unreachable...)."""
    plans: dict[str, dict[str, Process]] = defaultdict(dict)
    items: list[Result] = []
    unreachable: set[str] = set()

    def reachable(server: str, item_id: str) -> bool:
        state = monitor.servers[server]
        if not state.reachable:
            if item_id not in unreachable:
                unreachable.add(item_id)
                items.append(Result(item_id, server, 'UNREACHABLE', False, state.error or ''))
            return False
        return True

    known_groups = {g.name: g for g in monitor.config.groups}
    for name in servers:
        if name not in monitor.servers:
            raise UnknownTarget(f'no such server: {name}')
        if reachable(name, f'{name}:*'):
            plans[name].update(monitor.servers[name].processes)
    for name in groups:
        if name not in known_groups:
            raise UnknownTarget(f'no such group: {name}')
        down = {s.name for s in monitor.group_servers(name) if not reachable(s.name, f'{s.name}:*')}
        for p in monitor.group_processes(name):
            if p.server not in down:
                plans[p.server][p.id] = p
    for pid in ids:
        server = pid.partition(':')[0]
        if server not in monitor.servers:
            raise UnknownTarget(f'no such server: {server}')
        if reachable(server, pid):
            process = monitor.servers[server].processes.get(pid)
            if process is None:
                items.append(Result(pid, server, 'BAD_NAME', False, 'no such process'))
            else:
                plans[server][pid] = process
    return {s: p for s, p in plans.items() if p}, items


async def _run_server(client: Supervisor, server: str, action: str, last: Any, wanted: dict[str, Process],
                      present: list[Process], timeout: float) -> list[Result]:
    """`last` is the calls' last argument: wait=True for start and stop, the signal's name for signal."""
    by_group: dict[str, list[Process]] = defaultdict(list)
    for p in present:
        by_group[p.group].append(p)
    if len(wanted) == len(present):
        calls = [('AllProcesses', (), list(wanted.values()))]
    else:
        calls = []
        for group, members in by_group.items():
            chosen = [p for p in members if p.id in wanted]
            if len(chosen) == len(members):
                calls.append(('ProcessGroup', (group,), chosen))
            else:
                calls += [('Process', (f'{group}:{p.name}',), [p]) for p in chosen]
    results = await asyncio.gather(*(_unit(client, server, action, kind, (*args, last), procs, timeout)
                                     for kind, args, procs in calls))
    return [item for unit in results for item in unit]


async def _unit(client: Supervisor, server: str, action: str, kind: str, args: tuple,
                procs: list[Process], timeout: float) -> list[Result]:
    if action != 'restart':
        return await _call(client, server, action, kind, args, procs, timeout)
    stopped = await _call(client, server, 'stop', kind, args, procs, timeout)
    failed = {i.id: dataclasses.replace(i, description=f'stop: {i.description}') for i in stopped if not i.ok}
    started = await _call(client, server, 'start', kind, args, procs, timeout)
    return [failed.get(i.id, i) for i in started]


async def _call(client: Supervisor, server: str, action: str, kind: str, args: tuple,
                procs: list[Process], timeout: float) -> list[Result]:
    expected = {p.id for p in procs}
    try:
        result = await client.call(f'supervisor.{action}{kind}', *args, timeout=timeout, lane='action')
    except Fault as exc:
        status = fault_name(exc.faultCode)
        return [Result(pid, server, status, status in FINE[action], exc.faultString) for pid in expected]
    except Unreachable as exc:
        return [Result(pid, server, 'UNREACHABLE', False, str(exc)) for pid in expected]
    if kind == 'Process':  # True, or it raised
        return [Result(pid, server, 'SUCCESS', True, 'OK') for pid in expected]
    items = {}
    for r in result:  # group and "all" calls list what they did, failures included
        pid, status = f'{server}:{r["group"]}:{r["name"]}', fault_name(r['status'])
        items[pid] = Result(pid, server, status, status in FINE[action], r['description'])
    for pid in expected - items.keys():
        items[pid] = Result(pid, server, SKIPPED[action], SKIPPED[action] in FINE[action], 'nothing to do')
    return sorted(items.values(), key=lambda i: i.id)

