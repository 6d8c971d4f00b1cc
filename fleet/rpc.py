"""An async XML-RPC client for one supervisord: Tornado's HTTP client, xmlrpc.client's codec.

Each server gets its own HTTP clients, so a slow server only fills its own queues and never
delays the calls to the others. Calls travel in two lanes with their own connections: status
(polls, log tails) and actions (start, stop, update...), so a batch of 50 restarts never starves
the poll that keeps the server on screen. Each lane waits for a free connection in its own
queue, without a clock: the call's timeout starts when it is sent (tornado's own queue would
give up after the connect timeout and report a busy server as unreachable).
"""

from __future__ import annotations

import asyncio
import base64
import os
import xmlrpc.client
from typing import Any

from supervisor.xmlrpc import Faults
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.simple_httpclient import HTTPTimeoutError

from fleet.config import Server

MAX_RESPONSE = 16 * 1024 * 1024  # a process list or a log tail is far smaller
CONNECT_TIMEOUT = 3.0  # even a long action: a host that takes longer to accept is not there
# Connections to one supervisord at once, per lane. supervisord serves them concurrently (a
# start waits for startsecs without blocking it); more would only add sockets.
LANES = {'status': 4, 'action': 20}
FAULT_NAMES = {code: name for name, code in vars(Faults).items() if name.isupper()}
Fault = xmlrpc.client.Fault


class Unreachable(Exception):
    """The server did not answer well in time: refused, timed out, rejected our login, or garbled."""


class ServerError(Unreachable):
    """supervisord answered 500: it is there, but this call broke inside it."""


def fault_name(code: int) -> str:
    return FAULT_NAMES.get(code, f'FAULT_{code}')


class _Lane:
    def __init__(self, size: int):
        self.slots = asyncio.Semaphore(size)
        self.http = AsyncHTTPClient(force_instance=True, max_body_size=MAX_RESPONSE, max_clients=size)


class Supervisor:
    def __init__(self, url: str, username: str | None, password: str | None, missing: str | None = None):
        self.url = url
        self._missing = missing  # why there is no password, when its variable is unset
        self._headers = {'Content-Type': 'text/xml'}
        if username is not None and password is not None:
            token = base64.b64encode(f'{username}:{password}'.encode()).decode()
            self._headers['Authorization'] = f'Basic {token}'
        self._lanes = {name: _Lane(size) for name, size in LANES.items()}

    async def call(self, method: str, *params: Any, timeout: float, lane: str = 'status') -> Any:
        """The method's result; raises Fault for supervisor's own errors, Unreachable for the rest."""
        if self._missing:
            raise Unreachable(self._missing)
        body = xmlrpc.client.dumps(params, method, allow_none=False)
        request = HTTPRequest(self.url, method='POST', body=body, headers=self._headers,
                              connect_timeout=min(timeout, CONNECT_TIMEOUT), request_timeout=timeout)
        chosen = self._lanes[lane]
        try:
            async with chosen.slots:
                response = await chosen.http.fetch(request)
        except HTTPTimeoutError:
            raise Unreachable('timed out') from None
        except HTTPClientError as exc:  # 401 (a wrong password) and the like; 599 when the connection broke
            if exc.code == 500:
                raise ServerError(f'HTTP 500 {exc.message}') from None
            raise Unreachable(exc.message if exc.code == 599 else f'HTTP {exc.code} {exc.message}') from None
        except OSError as exc:
            raise Unreachable(exc.strerror or str(exc)) from None
        try:
            (result,), _ = xmlrpc.client.loads(response.body)
        except Fault:
            raise
        except Exception as exc:  # anything unparsable means a broken server
            raise Unreachable(f'bad XML-RPC response: {exc}') from None
        return result

    async def multicall(self, calls: list[tuple[str, tuple]], timeout: float) -> list[Any]:
        """One round trip for several status calls; each item is its result or a Fault."""
        results = await self.call('system.multicall',
                                  [{'methodName': m, 'params': list(p)} for m, p in calls], timeout=timeout)
        # supervisor answers bare values, not the one-item lists of the multicall convention.
        return [Fault(r['faultCode'], r['faultString']) if isinstance(r, dict) and 'faultCode' in r else r
                for r in results]

    def close(self) -> None:
        for lane in self._lanes.values():
            lane.http.close()


def client_for(server: Server) -> Supervisor:
    """The client for a server of the config, with the password from the variable it names."""
    password = os.environ.get(server.password_env) if server.password_env else None
    missing = None
    if server.password_env and password is None:
        missing = f'environment variable {server.password_env} (its password) is not set'
    return Supervisor(server.url, server.username, password, missing)
