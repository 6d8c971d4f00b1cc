"""Rolling restart of a fleet group: one server at a time, so the others keep consuming.

This is how new code reaches N worker machines without logging in to each: put the code on
every machine, then restart the group. On each server in turn, its processes of the group are
restarted (a warm stop: workers finish their tasks; messages they had not started go back to
the queue), and the next server waits until every one of them is RUNNING and has written the
ready line (Celery's "<name> ready." once it consumes) since the restart. The first failure stops
the rollout, leaving the remaining servers untouched.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fleet import actions
from fleet.config import Group
from fleet.monitor import Monitor
from fleet.rpc import Fault, Supervisor, Unreachable
from fleet.state import RUNNING

READY_TEXT = ' ready.'  # what a Celery worker logs once it consumes
LOG_WINDOW = 1024 * 1024  # bytes of new log read per poll
POLL = 0.25  # seconds between two readiness checks


class NotReady(Exception):
    pass


async def rollout(monitor: Monitor, group: Group, ready_text: str | None = READY_TEXT) -> dict[str, Any]:
    """{'group', 'ok', 'steps': [per server: server, ok, seconds, results, error], 'skipped': [...]}"""
    servers = [name for name in monitor.servers if group.touches(name)]
    steps: list[dict[str, Any]] = []
    for server in servers:
        step = await _restart_server(monitor, group, server, ready_text)
        steps.append(step)
        if not step['ok']:
            break
    return {'group': group.name, 'ok': all(s['ok'] for s in steps), 'steps': steps,
            'skipped': servers[len(steps):]}


async def _restart_server(monitor: Monitor, group: Group, server: str,
                          ready_text: str | None) -> dict[str, Any]:
    started = time.monotonic()
    step: dict[str, Any] = {'server': server, 'ok': False, 'results': [], 'error': None}
    state, client = monitor.servers[server], monitor.clients[server]
    processes = [p for p in state.processes.values() if group.name in p.fleet_groups]
    try:
        if not state.reachable:
            raise NotReady(f'unreachable: {state.error}')
        names = [f'{p.group}:{p.name}' for p in processes]
        # Where each log ends now: the ready line must come after the restart.
        offsets = {name: (await _tail(client, name, 0, 0, monitor.config.timeout))[1] for name in names}
        results = await actions.run(monitor, 'restart', [p.id for p in processes], [], [])
        step['results'] = [r.to_json() for r in results]
        failed = [f'{r.id}: {r.status}' for r in results if not r.ok]
        if failed:
            raise NotReady(f'restart failed: {", ".join(failed)}')
        await asyncio.wait_for(_until_ready(client, offsets, ready_text, monitor.config.timeout),
                               monitor.config.action_timeout)
    except (NotReady, Unreachable, Fault) as exc:
        step['error'] = str(exc)
    except TimeoutError:
        step['error'] = (f'not RUNNING and ready ({ready_text!r} in its log) '
                         f'within {monitor.config.action_timeout:g} s')
    else:
        step['ok'] = True
    finally:
        monitor.poke(server)
    step['seconds'] = round(time.monotonic() - started, 3)
    return step


async def _tail(client: Supervisor, name: str, offset: int, length: int, timeout: float) -> tuple[str, int]:
    """Up to ``length`` bytes of the process's log from ``offset``, and the offset of its end."""
    text, end, _ = await client.call('supervisor.tailProcessStdoutLog', name, offset, length, timeout=timeout)
    return text, end


async def _until_ready(client: Supervisor, offsets: dict[str, int], ready_text: str | None,
                       timeout: float) -> None:
    """Until each process is RUNNING and has logged ready_text (if any) past its offset."""
    offsets = dict(offsets)
    carry = dict.fromkeys(offsets, '')  # the end of the last read: the text may straddle two reads
    logged: set[str] = set()
    ready: set[str] = set()
    while ready != offsets.keys():
        for name in offsets.keys() - ready:
            info = await client.call('supervisor.getProcessInfo', name, timeout=timeout)
            if info['statename'] not in (RUNNING, 'STARTING'):
                raise NotReady(f'{name} is {info["statename"]}: {info["spawnerr"] or info["description"]}')
            if ready_text is None:
                logged.add(name)
            elif name not in logged:
                text, offsets[name] = await _tail(client, name, offsets[name], LOG_WINDOW, timeout)
                window = carry[name] + text
                carry[name] = window[-len(ready_text):]
                if ready_text in window:
                    logged.add(name)
            if name in logged and info['statename'] == RUNNING:
                ready.add(name)
        if ready != offsets.keys():
            await asyncio.sleep(POLL)
