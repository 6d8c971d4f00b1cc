"""Actions: start, stop and restart (operators too); signals, reread and update (admins only).

XSRF-checked by tornado; each is written to the audit log.
"""

from __future__ import annotations

from typing import Any

import tornado.web

from fleet import actions
from fleet.handlers import ApiHandler
from fleet.rpc import Fault, Unreachable, fault_name


class ActionApi(ApiHandler):
    """Body: ``{"processes": ["srv:group:name"], "groups": ["name"], "servers": ["name"]}``, any mix."""

    async def post(self, action: str) -> None:
        self.require('control')
        await self.act(action, self.json_body())

    async def act(self, action: str, body: dict[str, Any], signal: str | None = None) -> None:
        targets = {key: body.get(key, []) for key in ('processes', 'groups', 'servers')}
        if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in targets.values()):
            raise tornado.web.HTTPError(400, 'processes, groups and servers must be lists of names')
        if not any(targets.values()):
            raise tornado.web.HTTPError(400, 'name some processes, groups or servers')
        try:
            results = await actions.run(self.monitor, action, **targets, signal=signal)
        except actions.UnknownTarget as exc:
            raise tornado.web.HTTPError(404, str(exc)) from None
        name = f'signal {signal}' if signal else action
        for r in results:
            self.audit(name, r.server, r.id, r.status, r.ok, r.description)
        self.finish({'action': name, 'ok': all(r.ok for r in results),
                     'results': [r.to_json() for r in results]})


class SignalApi(ActionApi):
    """Body: the targets as for the other actions, and ``"signal": "HUP"`` (USR1, USR2, TERM)."""

    async def post(self) -> None:
        self.require('manage')
        body = self.json_body()
        if body.get('signal') not in actions.SIGNALS:
            raise tornado.web.HTTPError(400, f'signal must be one of {", ".join(actions.SIGNALS)}')
        await self.act('signal', body, body['signal'])


class UpdateApi(ApiHandler):
    async def post(self, name: str) -> None:
        self.require('manage')
        client = self.monitor.clients.get(name)
        if client is None:
            raise tornado.web.HTTPError(404, f'no such server: {name}')
        try:
            report = await actions.update(client, self.config.action_timeout)
        except Unreachable as exc:
            self.audit('update', name, f'{name}:*', 'UNREACHABLE', False, str(exc))
            raise tornado.web.HTTPError(502, f'{name} is unreachable: {exc}') from None
        except Fault as exc:  # CANT_REREAD: the new config file is invalid; nothing changed
            self.audit('update', name, f'{name}:*', fault_name(exc.faultCode), False, exc.faultString)
            raise tornado.web.HTTPError(409, f'{fault_name(exc.faultCode)}: {exc.faultString}') from None
        finally:
            self.monitor.poke(name)
        changes = ', '.join(f'{k} {" ".join(v)}' for k, v in report.items() if k != 'errors' and v)
        self.audit('update', name, f'{name}:*', 'SUCCESS' if not report['errors'] else 'ERRORS',
                   not report['errors'], changes or 'no changes')
        self.finish({'server': name, **report})
