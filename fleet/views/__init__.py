"""HTML pages: the login form and the three dashboard views, which fleet.js fills in live."""

from __future__ import annotations

import math
from urllib.parse import urlparse

from fleet.actions import SIGNALS
from fleet.auth import authenticate
from fleet.config import MAX_NAME, User
from fleet.handlers import SESSION_COOKIE, SESSION_DAYS, BaseHandler, PageHandler
from fleet.sessions import LoginLimit
from fleet.state import HISTORY, PROCESS_HISTORY

MAX_PASSWORD = 1024  # characters of a password read from the login form
VIEWS = {'groups': 'Groups', 'servers': 'Servers', 'processes': 'All processes', 'audit': 'Audit log'}
NEEDS = {'audit': 'manage'}  # views only some roles see
# What fleet.js must agree with the server on, served rather than copied into it.
PAGE_LIMITS = {'signals': ' '.join(SIGNALS), 'history': HISTORY, 'process-history': PROCESS_HISTORY}


class DashboardPage(PageHandler):
    def initialize(self, view: str) -> None:
        self.view = view

    def get(self) -> None:
        user = self.current_user
        if self.view in NEEDS:
            self.require(NEEDS[self.view])
        views = {name: title for name, title in VIEWS.items() if name not in NEEDS or user.may(NEEDS[name])}
        self.render('dashboard.html', view=self.view, views=views, user=user, limits=PAGE_LIMITS)


class LoginPage(BaseHandler):
    def get(self) -> None:
        self.render('login.html', error=None, next=self._next())

    async def post(self) -> None:
        limit: LoginLimit = self.settings['fleet_login_limit']
        address = self.request.remote_ip
        wait = limit.retry_after(address)
        if wait:
            self.set_status(429)
            self.set_header('Retry-After', str(math.ceil(wait)))
            self.render('login.html', error=f'Too many attempts: try again in {math.ceil(wait)} s.',
                        next=self._next())
            return
        name = self.get_body_argument('username', '')[:MAX_NAME]  # no real name is longer
        user = await authenticate(self.users, name, self.get_body_argument('password', '')[:MAX_PASSWORD])
        if user is None:
            # The name tried once, as the user: the target says nothing more.
            self.audit('login', '', '', 'WRONG_PASSWORD', False, 'wrong user name or password',
                       user=User(name, '', ''))
            self.set_status(401)
            self.render('login.html', error='Wrong user name or password.', next=self._next())
            return
        limit.succeeded(address)
        self.audit('login', '', user.name, 'SUCCESS', True, '', user=user)
        self.set_signed_cookie(SESSION_COOKIE, self.sessions.open(user), expires_days=SESSION_DAYS,
                               httponly=True, samesite='Strict', secure=self.settings['fleet_secure_cookies'])
        self.redirect(self._next())

    def _next(self) -> str:
        # Only a path on this site: an open redirect would let a link send users anywhere.
        target = self.get_argument('next', '/')
        parsed = urlparse(target)
        if parsed.scheme or parsed.netloc or not target.startswith('/') or target.startswith(('//', '/\\')):
            return '/'
        return target


class LogoutPage(BaseHandler):
    def post(self) -> None:
        if self.current_user:
            self.audit('logout', '', self.current_user.name, 'SUCCESS', True, '')
        if self.session_token:
            self.sessions.end(self.session_token)
        self.clear_cookie(SESSION_COOKIE)
        self.redirect(self.get_login_url())
