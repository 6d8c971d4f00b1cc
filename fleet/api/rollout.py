"""POST /api/groups/<name>/rollout: a rolling restart of a group (fleet/rollout.py). Those who may
control processes (admins, operators) may roll out; each server's step goes into the audit log."""

from __future__ import annotations

import tornado.web

from fleet.handlers import ApiHandler
from fleet.rollout import READY_TEXT, rollout


class RolloutApi(ApiHandler):
    """Body (optional): ``{"ready_text": " ready."}``, what a process logs once it is ready (the
    default: Celery's ready line); ``null`` when RUNNING is enough.

    Answers when the rollout ended: ``{"group", "ok", "steps": [...], "skipped": [...]}``.
    """

    rolling: set[str] = set()  # groups being rolled out now: one rollout per group at a time

    async def post(self, name: str) -> None:
        self.require('control')
        ready_text = self.json_body().get('ready_text', READY_TEXT)
        if ready_text is not None and (not isinstance(ready_text, str) or not ready_text.strip()):
            raise tornado.web.HTTPError(400, 'ready_text must be a non-empty string, or null')
        group = next((g for g in self.config.groups if g.name == name), None)
        if group is None:
            raise tornado.web.HTTPError(404, f'no such group: {name}')
        if name in self.rolling:
            raise tornado.web.HTTPError(409, f'group {name} is being rolled out already')
        self.rolling.add(name)
        try:
            report = await rollout(self.monitor, group, ready_text)
        finally:
            self.rolling.discard(name)
        for step in report['steps']:
            status = 'SUCCESS' if step['ok'] else 'FAILED'
            self.audit('rollout', step['server'], f'{step["server"]}:{name}', status, step['ok'],
                       step['error'] or f'ready in {step["seconds"]:g} s')
        self.finish(report)
