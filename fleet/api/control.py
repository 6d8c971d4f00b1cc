"""Actions: start, stop and restart; reread and update. Admins only; XSRF-checked by tornado."""

from __future__ import annotations

import tornado.web

from fleet import actions
from fleet.handlers import ApiHandler
from fleet.rpc import Fault, Unreachable, fault_name


class ActionApi(ApiHandler):
    """Body: ``{"processes": ["srv:group:name"], "groups": ["name"], "servers": ["name"]}``, any mix."""

    async def post(self, action: str) -> None:
        self.require_admin()
        body = self.json_body()
        targets = {key: body.get(key, []) for key in ('processes', 'groups', 'servers')}
        if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in targets.values()):
            raise tornado.web.HTTPError(400, 'processes, groups and servers must be lists of names')
        if not any(targets.values()):
            raise tornado.web.HTTPError(400, 'name some processes, groups or servers')
        try:
            results = await actions.run(self.monitor, action, **targets)
        except actions.UnknownTarget as exc:
            raise tornado.web.HTTPError(404, str(exc)) from None
        self.finish({'action': action, 'ok': all(r.ok for r in results),
                     'results': [r.to_json() for r in results]})


class UpdateApi(ApiHandler):
    async def post(self, name: str) -> None:
        self.require_admin()
        client = self.monitor.clients.get(name)
        if client is None:
            raise tornado.web.HTTPError(404, f'no such server: {name}')
        try:
            report = await actions.update(client, self.config.action_timeout)
        except Unreachable as exc:
            raise tornado.web.HTTPError(502, f'{name} is unreachable: {exc}') from None
        except Fault as exc:  # CANT_REREAD: the new config file is invalid; nothing changed
            raise tornado.web.HTTPError(409, f'{fault_name(exc.faultCode)}: {exc.faultString}') from None
        finally:
            self.monitor.poke(name)
        self.finish({'server': name, **report})
