"""The audit log, newest first, for admins."""

from __future__ import annotations

import tornado.web

from fleet.audit import AuditLog
from fleet.handlers import ApiHandler

FILTERS = ('user', 'action', 'server', 'target', 'status')
MAX_LIMIT = 1000


class AuditApi(ApiHandler):
    """``?user=&action=&server=&target=&status=`` (text each contains) and ``limit`` (200)."""

    def get(self) -> None:
        self.require('manage')
        try:
            limit = int(self.get_argument('limit', '200'))
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise tornado.web.HTTPError(400, f'limit must be an integer from 1 to {MAX_LIMIT}')
        log: AuditLog = self.settings['fleet_audit']
        self.finish({'entries': log.read(limit, **{key: self.get_argument(key, '') for key in FILTERS})})
