"""The base request handlers: who is logged in, what they may do, and the answer formats."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

import tornado.web

from fleet.audit import AuditLog, Entry
from fleet.auth import token_hash
from fleet.config import Config, User
from fleet.monitor import Monitor
from fleet.rpc import Supervisor
from fleet.sessions import Sessions
from fleet.tail import STREAMS

SESSION_COOKIE = 'fleet_session'
SESSION_DAYS = 1
REFUSALS = {'readonly': 'read-only users cannot change anything',
            'operator': 'operators may start, stop and restart only'}
# No inline script or style anywhere, so the policy can forbid them: injected markup stays inert.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def from_loopback(address: str) -> bool:
    """A peer on this machine: the only place a proxy's user header can be believed from."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class BaseHandler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header('Content-Security-Policy', CSP)
        self.set_header('X-Content-Type-Options', 'nosniff')
        self.set_header('Referrer-Policy', 'no-referrer')
        self.set_header('Cache-Control', 'no-store')

    def get_current_user(self) -> User | None:
        bearer = self.bearer_token
        if bearer is not None:  # scripts: an API token, no cookies
            return self.settings['fleet_tokens'].get(token_hash(bearer))
        header = self.config.trusted_user_header
        if header and header in self.request.headers and from_loopback(self.request.remote_ip):
            return self.users.get(self.request.headers[header])  # the SSO proxy vouches for the name
        token = self.session_token
        # Looked up on every request: an ended session, or a user removed or changed, is out at once.
        return self.sessions.user(token, self.users) if token else None

    @property
    def bearer_token(self) -> str | None:
        scheme, _, value = self.request.headers.get('Authorization', '').partition(' ')
        return value.strip() if scheme.lower() == 'bearer' else None

    def check_xsrf_cookie(self) -> None:
        # XSRF rides on cookies a browser sends by itself; a token in a header is never sent
        # by a browser on another site's behalf, so requests that carry one need no XSRF token.
        if self.bearer_token is None:
            super().check_xsrf_cookie()

    @property
    def session_token(self) -> str | None:
        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_DAYS)
        return token.decode() if token else None

    @property
    def users(self) -> dict[str, User]:
        return self.settings['fleet_users']

    @property
    def sessions(self) -> Sessions:
        return self.settings['fleet_sessions']

    @property
    def monitor(self) -> Monitor:
        return self.settings['fleet_monitor']

    @property
    def config(self) -> Config:
        return self.monitor.config

    def audit(self, action: str, server: str, target: str, status: str, ok: bool, description: str,
              user: User | None = None) -> None:
        """Record what the current user (or `user`, at login) did, and how it went."""
        who = user or self.current_user
        log: AuditLog = self.settings['fleet_audit']
        log.write(Entry(time.time(), who.name, who.role, self.request.remote_ip, action, server, target,
                        status, ok, description))

    def require(self, permission: str) -> None:
        if not self.current_user.may(permission):
            raise tornado.web.HTTPError(403, REFUSALS[self.current_user.role])


class PageHandler(BaseHandler):
    """HTML pages: anonymous visitors go to the login page."""

    def prepare(self) -> None:
        if not self.current_user:
            self.redirect(self.get_login_url() + '?' + tornado.web.urlencode({'next': self.request.uri}))


class ApiHandler(BaseHandler):
    """JSON in every answer, errors included; anonymous callers get 401, never a redirect."""

    def prepare(self) -> None:
        if not self.current_user:
            raise tornado.web.HTTPError(401, 'login required')

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get('exc_info', (None, None, None))[1]
        # Our own HTTPErrors (and tornado's XSRF refusal) carry a message meant for the client;
        # anything else is a bug, answered with the reason phrase only.
        message = exc.log_message if isinstance(exc, tornado.web.HTTPError) and exc.log_message else None
        self.finish({'error': message or self._reason})

    def process_client(self, pid: str) -> tuple[str, str, Supervisor]:
        """server, group:name and the server's client for a process id; 404 for an unknown server."""
        server, _, name = pid.partition(':')
        client = self.monitor.clients.get(server)
        if client is None or not name:
            raise tornado.web.HTTPError(404, f'no such process: {pid}')
        return server, name, client

    def stream_argument(self) -> str:
        stream = self.get_argument('stream', 'stdout')
        if stream not in STREAMS:
            raise tornado.web.HTTPError(400, 'stream must be stdout or stderr')
        return stream

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b'{}')
        except ValueError:
            raise tornado.web.HTTPError(400, 'the body must be JSON') from None
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, 'the body must be a JSON object')
        return body
