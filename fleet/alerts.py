"""Alerts: a process gone FATAL or EXITED unexpectedly, or a server unreachable, and their recovery.

Each poll's result is compared with the conditions already alerted, so a condition alerts once
(`firing`) until it clears (`resolved`: the process RUNNING, or STOPPED on purpose, the server
answering); a retry that fails again (STARTING, BACKOFF, FATAL) is no new alert. Each
notice goes to the browsers (which show it when their user opted in) and to every [[alerts]]
webhook: a JSON POST, retried with exponential backoff by one sender task per webhook, in order,
never on the poll's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from fleet.config import AlertHook
from fleet.state import Process, ServerState

log = logging.getLogger('fleet')

PENDING = 1000  # notices waiting for a webhook before the oldest are dropped
FIRST_RETRY = 1.0  # seconds; doubled after each failure
MAX_RETRY = 60.0
SEND_TIMEOUT = 10.0
HEALTHY = {'RUNNING', 'STOPPED'}  # states that end a process's alert
Notice = dict[str, Any]


def _process_problem(p: Process) -> str | None:
    # supervisor's XML-RPC does not say whether an exit was expected (exitcodes); 0 is the default.
    if p.state == 'FATAL':
        return 'FATAL'
    if p.state == 'EXITED' and p.exitstatus != 0:
        return 'EXITED'
    return None


class Alerts:
    def __init__(self, hooks: tuple[AlertHook, ...]):
        self.hooks = hooks
        self.active: dict[str, Notice] = {}  # key (process id or server:*) -> its firing notice
        self._queues = [asyncio.Queue(PENDING) for _ in hooks]
        self._tasks: list[asyncio.Task] = []
        self._http = AsyncHTTPClient(force_instance=True)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._deliver(hook, queue))
                       for hook, queue in zip(self.hooks, self._queues, strict=True)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._http.close()

    def observe(self, server: ServerState) -> list[Notice]:
        """The notices this poll of `server` brings; queued for the webhooks."""
        notices = list(self._changes(server))
        for notice in notices:
            for queue in self._queues:
                if queue.full():
                    log.error('alerts: webhook backlog full, dropping %s', queue.get_nowait()['text'])
                queue.put_nowait(notice)
        return notices

    def _changes(self, server: ServerState) -> Iterator[Notice]:
        down = None if server.reachable else 'UNREACHABLE'
        yield from self._judge(f'{server.name}:*', 'server', server.name, None, down, not down,
                               server.error or '')
        if down:
            return  # its processes are unknown now: nothing to judge or resolve
        for p in server.processes.values():
            yield from self._judge(p.id, 'process', server.name, p.id, _process_problem(p),
                                   p.state in HEALTHY, p.spawnerr or p.description)
        gone = [key for key, notice in self.active.items() if notice['server'] == server.name
                and notice['kind'] == 'process' and key not in server.processes]
        for key in gone:
            yield from self._judge(key, 'process', server.name, key, None, True, 'removed from its server')

    def _judge(self, key: str, kind: str, server: str, process: str | None, problem: str | None,
               healthy: bool, detail: str) -> Iterator[Notice]:
        firing = self.active.get(key)
        if problem and not firing:
            notice = self.active[key] = _notice('firing', kind, server, process, problem, detail)
            yield notice
        elif firing and healthy:
            del self.active[key]
            yield _notice('resolved', kind, server, process, firing['state'], detail)

    async def _deliver(self, hook: AlertHook, queue: asyncio.Queue) -> None:
        while True:
            notice = await queue.get()
            delay = FIRST_RETRY
            for attempt in range(1, hook.attempts + 1):
                if await self._post(hook, notice):
                    break
                if attempt < hook.attempts:
                    await asyncio.sleep(delay)  # backoff before the next attempt
                    delay = min(delay * 2, MAX_RETRY)
            else:
                log.error('alerts: %s not delivered to %s after %d attempts', notice['text'], hook.url,
                          hook.attempts)

    async def _post(self, hook: AlertHook, notice: Notice) -> bool:
        # No redirect is followed: a 307 would replay the alert, body and all, to wherever the
        # answer points, an internal address included. A redirect is an undelivered alert.
        request = HTTPRequest(hook.url, method='POST', body=json.dumps(notice), follow_redirects=False,
                              headers={'Content-Type': 'application/json'}, request_timeout=SEND_TIMEOUT)
        with contextlib.suppress(Exception):  # any failure (refused, 3xx, 5xx, timeout) means: try again
            await self._http.fetch(request)
            return True
        return False


def _notice(status: str, kind: str, server: str, process: str | None, state: str, detail: str) -> Notice:
    subject = process or f'server {server}'
    text = f'{subject} {state}: {detail}' if status == 'firing' else f'{subject} recovered ({detail or "ok"})'
    return {'status': status, 'kind': kind, 'server': server, 'process': process, 'state': state,
            'description': detail, 'time': time.time(), 'text': text}
