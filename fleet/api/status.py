"""Read-only listings, answered from the monitor's snapshot: never waits for a server."""

from __future__ import annotations

import time

import tornado.web

from fleet.handlers import ApiHandler


class MeApi(ApiHandler):
    def get(self) -> None:
        user = self.current_user
        # The XSRF token that API POSTs send back in the X-XSRFToken header.
        self.finish({'user': user.name, 'role': user.role, 'xsrf': self.xsrf_token.decode()})


class ServersApi(ApiHandler):
    def get(self) -> None:
        self.finish({'now': time.time(), 'servers': [
            {**s.summary(), 'processes': len(s.processes)} for s in self.monitor.servers.values()]})


class ServerApi(ApiHandler):
    def get(self, name: str) -> None:
        server = self.monitor.servers.get(name)
        if server is None:
            raise tornado.web.HTTPError(404, f'no such server: {name}')
        self.finish({'now': time.time(), 'server': server.summary(),
                     'processes': [p.to_json() for p in server.processes.values()],
                     'history': list(server.history),
                     'process_history': {pid: list(h) for pid, h in server.process_history.items()}})


class GroupsApi(ApiHandler):
    def get(self) -> None:
        self.finish({'now': time.time(), 'groups': [self.group(g.name) for g in self.config.groups]})

    def group(self, name: str) -> dict:
        group = next((g for g in self.config.groups if g.name == name), None)
        if group is None:
            raise tornado.web.HTTPError(404, f'no such group: {name}')
        servers = self.monitor.group_servers(name)
        return {'name': name, 'members': list(group.members), 'servers': [s.name for s in servers],
                'unreachable': [s.name for s in servers if not s.reachable],
                'processes': [p.to_json() for p in self.monitor.group_processes(name)]}


class GroupApi(GroupsApi):
    def get(self, name: str) -> None:
        self.finish({'now': time.time(), 'group': self.group(name)})


class ProcessesApi(ApiHandler):
    """``?state=FATAL`` (any of several, comma-separated) and ``?q=`` (text in id or description)."""

    def get(self) -> None:
        states = {s.strip().upper() for s in self.get_argument('state', '').split(',') if s.strip()}
        query = self.get_argument('q', '').strip().lower()
        self.finish({'now': time.time(), 'processes': [
            p.to_json() for p in self.monitor.processes()
            if (not states or p.state in states)
            and (not query or query in f'{p.id} {p.description} {p.spawnerr}'.lower())]})
