"""The Tornado application and the server process around it."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import tornado.web

from common.http import bounded_server
from common.lifecycle import stop_requested
from fleet import audit, auth
from fleet.alerts import Alerts
from fleet.audit import AuditLog
from fleet.config import Config, ConfigError, Settings, load
from fleet.handlers import ApiHandler
from fleet.monitor import Monitor
from fleet.rpc import client_for
from fleet.sessions import LoginLimit, Sessions
from fleet.urls import urls

log = logging.getLogger('fleet')
HERE = Path(__file__).resolve().parent
MAX_BODY = 1024 * 1024  # the largest request is an action's JSON list of processes
MAX_CONNECTIONS = 1000


class NotFoundApi(ApiHandler):
    def prepare(self) -> None:
        raise tornado.web.HTTPError(404, 'no such page')


def make_app(monitor: Monitor, settings: Settings, users: dict[str, auth.User]) -> tornado.web.Application:
    secure = settings.secure_cookies
    return tornado.web.Application(
        urls,
        default_handler_class=NotFoundApi,
        template_path=str(HERE / 'templates'),
        static_path=str(HERE / 'static'),
        login_url='/login',
        cookie_secret=auth.cookie_secret(settings),
        xsrf_cookies=True,
        # The token reaches scripts through the page, so the cookie needs no script access.
        xsrf_cookie_kwargs={'httponly': True, 'samesite': 'Strict', 'secure': secure},
        fleet_monitor=monitor,
        fleet_users=users,
        fleet_tokens=tokens_of(monitor.config),
        fleet_sessions=Sessions(),
        fleet_login_limit=LoginLimit(),
        fleet_audit=AuditLog(settings.state_dir / audit.FILE),
        fleet_secure_cookies=secure,
    )


def tokens_of(config: Config) -> dict[str, auth.User]:
    """The user each API token acts as, by the token's hash."""
    return {t.token_hash: t.as_user() for t in config.tokens}


def users_of(config: Config, settings: Settings) -> dict[str, auth.User]:
    users = config.users or (auth.first_run_admin(settings),)
    return {u.name: u for u in users}


def reload_users(app: tornado.web.Application, settings: Settings) -> None:
    """SIGHUP: take the users and tokens from the config file again; sessions of removed or changed
    users end."""
    try:
        config = load(settings.config_path)
    except ConfigError as exc:  # keep running with the users we have
        log.error('SIGHUP: users not reloaded: %s', exc)
        return
    tokens = app.settings['fleet_tokens']
    tokens.clear()
    tokens.update(tokens_of(config))
    if not config.users:  # the first-run admin stays as it is (a new hash would log it out)
        log.warning('SIGHUP: the config has no users; users not reloaded')
        return
    users = {u.name: u for u in config.users}
    current = app.settings['fleet_users']
    current.clear()
    current.update(users)
    ended = app.settings['fleet_sessions'].end_stale(current)
    log.info('SIGHUP: %d users reloaded, %d sessions ended', len(users), ended)


async def serve(settings: Settings) -> None:
    config = load(settings.config_path)
    alerts = Alerts(config.alerts)
    monitor = Monitor(config, {s.name: client_for(s) for s in config.servers}, alerts, settings.supervised_as)
    app = make_app(monitor, settings, users_of(config, settings))
    # Forms and JSON actions only: 1 MiB bodies, read within 10 s, at most 1000 connections.
    server = bounded_server(app, max_body_size=MAX_BODY, max_connections=MAX_CONNECTIONS)
    server.listen(settings.port, address=settings.host)
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_users, app, settings)
    alerts.start()
    monitor.start()
    log.info('fleet dashboard on http://%s:%d, %d servers', settings.host, settings.port, len(config.servers))
    await stop_requested()
    server.stop()
    await monitor.stop()
    await alerts.stop()
    app.settings['fleet_audit'].close()
    for client in monitor.clients.values():
        client.close()
