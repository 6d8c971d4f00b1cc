"""python -m fleet status|start|stop|restart|tail [TARGET], for shells, scripts and CI.

TARGET is a process (server:group:name), a fleet group or a server; status without one lists
everything. It talks to a running dashboard (FLEET_URL, with an API token in FLEET_TOKEN), or
with --direct straight to the servers of the config file (FLEET_CONFIG and the servers'
password variables), as the dashboard would.

Exit codes: 0 done (status: every process listed is RUNNING), 1 some process failed (status:
some process is not RUNNING), 2 bad usage, unknown target, refused or a config error, 3 a server
or the dashboard is unreachable.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Protocol

from fleet import actions
from fleet.config import ClientSettings, ConfigError, Settings, load
from fleet.monitor import Monitor
from fleet.rpc import Fault, Unreachable, client_for
from fleet.tail import read_since

COMMANDS = ('status', 'start', 'stop', 'restart', 'tail')
OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3
Json = dict[str, Any]


class Refused(Exception):
    """The request cannot be done as asked (exit code 2)."""


class Down(Exception):
    """The dashboard or the named server does not answer (exit code 3)."""


class Backend(Protocol):
    async def overview(self) -> tuple[list[Json], list[str], list[str], list[str]]:
        """Processes, group names, server names, and the servers that are unreachable."""

    async def act(self, action: str, targets: dict[str, list[str]]) -> list[Json]: ...

    async def tail(self, pid: str) -> str: ...


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect comes back as the error it is: following it would send the token elsewhere."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


# No proxy from HTTP(S)_PROXY either: the token goes to FLEET_URL and nowhere else.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)


def on_this_machine(host: str) -> bool:
    try:
        return host == 'localhost' or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Dashboard:
    """Through a running dashboard's JSON API, with an API token: over https, or plain http to
    this machine only (where the token does not cross a network)."""

    def __init__(self, url: str, token: str):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != 'https' and not (parts.scheme == 'http' and on_this_machine(parts.hostname or '')):
            raise Refused(f'FLEET_URL must be https:// (or http:// to this machine): {url[:100]!r} would '
                          'send the token in plaintext')
        self.url = url.rstrip('/')
        self.headers = {'Authorization': f'Bearer {token}', 'Content-Type': 'application/json'}

    def request(self, path: str, body: Json | None = None) -> Json:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=self.headers)
        try:
            with _OPENER.open(request, timeout=120) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                message = json.load(exc)['error']  # every answer of the API is JSON, errors too
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            if exc.code == 502:
                raise Down(message) from None
            raise Refused(f'{exc.code}: {message}') from None
        except (urllib.error.URLError, OSError) as exc:
            raise Down(f'{self.url}: {getattr(exc, "reason", exc)}') from None

    async def overview(self) -> tuple[list[Json], list[str], list[str], list[str]]:
        servers = self.request('/api/servers')['servers']
        groups = [g['name'] for g in self.request('/api/groups')['groups']]
        return (self.request('/api/processes')['processes'], groups, [s['name'] for s in servers],
                [s['name'] for s in servers if not s['reachable']])

    async def act(self, action: str, targets: dict[str, list[str]]) -> list[Json]:
        return self.request(f'/api/actions/{action}', targets)['results']

    async def tail(self, pid: str) -> str:
        return self.request(f'/api/processes/{urllib.parse.quote(pid, safe=":")}/tail')['text']


class Direct:
    """Straight to the servers of the config file, one poll each, as the dashboard would."""

    def __init__(self, settings: Settings):
        config = load(settings.config_path)
        self.monitor = Monitor(config, {s.name: client_for(s) for s in config.servers})
        self.polled = False

    async def overview(self) -> tuple[list[Json], list[str], list[str], list[str]]:
        if not self.polled:
            await asyncio.gather(*(self.monitor.poll(name) for name in self.monitor.servers))
            self.polled = True
        servers = self.monitor.servers
        return ([p.to_json() for p in self.monitor.processes()], [g.name for g in self.monitor.config.groups],
                list(servers), [name for name, s in servers.items() if not s.reachable])

    async def act(self, action: str, targets: dict[str, list[str]]) -> list[Json]:
        await self.overview()
        try:
            return [r.to_json() for r in await actions.run(self.monitor, action, **targets)]
        except actions.UnknownTarget as exc:
            raise Refused(str(exc)) from None

    async def tail(self, pid: str) -> str:
        server, _, name = pid.partition(':')
        client = self.monitor.clients.get(server)
        if client is None:
            raise Refused(f'no such server: {server}')
        try:
            data, _, _ = await read_since(client, 'supervisor.tailProcessStdoutLog', name, 0,
                                          self.monitor.config.timeout)
        except Unreachable as exc:
            raise Down(f'{server}: {exc}') from None
        except Fault as exc:
            raise Refused(exc.faultString) from None
        return data.decode(errors='replace')

    def close(self) -> None:
        for client in self.monitor.clients.values():
            client.close()


def targets_of(target: str, groups: list[str], servers: list[str]) -> dict[str, list[str]]:
    if ':' in target:
        return {'processes': [target], 'groups': [], 'servers': []}
    if target in groups:
        return {'processes': [], 'groups': [target], 'servers': []}
    if target in servers:
        return {'processes': [], 'groups': [], 'servers': [target]}
    raise Refused(f'no process, group or server named {target!r}')


def selected(processes: list[Json], target: str | None) -> list[Json]:
    if target is None:
        return processes
    return [p for p in processes if target in (p['id'], p['server']) or target in p['fleet_groups']]


async def run(backend: Backend, command: str, target: str | None) -> int:
    processes, groups, servers, down = await backend.overview()
    for name in down:
        print(f'{name}: unreachable', file=sys.stderr)
    if command == 'status':
        if target is not None:
            targets_of(target, groups, servers)  # an unknown name is an error, not an empty list
        shown = selected(processes, target)
        for p in sorted(shown, key=lambda p: p['id']):
            print(f'{p["id"]:<40} {p["state"]:<9} {p["spawnerr"] or p["description"]}')
        if down and (target is None or target in down or target.partition(':')[0] in down):
            return UNREACHABLE
        return OK if all(p['state'] == 'RUNNING' for p in shown) else FAILED
    if target is None:
        raise Refused(f'{command} needs a target')
    if command == 'tail':
        if target.count(':') != 2:
            raise Refused('tail needs a process: server:group:name')
        print(await backend.tail(target), end='')
        return OK
    results = await backend.act(command, targets_of(target, groups, servers))
    for r in results:
        print(f'{r["id"]:<40} {r["status"]:<16} {r["description"]}')
    if any(r['status'] == 'UNREACHABLE' for r in results):
        return UNREACHABLE
    return OK if all(r['ok'] for r in results) else FAILED


async def main(command: str, target: str | None, direct: bool) -> int:
    try:
        if direct:
            backend = Direct(Settings.from_env())
            try:
                return await run(backend, command, target)
            finally:
                backend.close()
        dashboard = ClientSettings.from_env()
        if not dashboard.url or not dashboard.token:
            raise Refused('set FLEET_URL and FLEET_TOKEN (an API token), or use --direct')
        return await run(Dashboard(dashboard.url, dashboard.token), command, target)
    except (Refused, ConfigError) as exc:
        print(f'fleet: {exc}', file=sys.stderr)
        return USAGE
    except Down as exc:
        print(f'fleet: unreachable: {exc}', file=sys.stderr)
        return UNREACHABLE
