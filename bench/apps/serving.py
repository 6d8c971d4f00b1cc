"""Serving a bench gateway as web.py serves: N processes on one port, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import os

import tornado.web
from tornado.httpserver import HTTPServer

from common.lifecycle import stop_requested


def configure_logging() -> None:
    """Logged like web.py (tornado.access at INFO included), so the gateways pay the same."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')


async def serve(app: tornado.web.Application, port: int) -> None:
    """Listen on 127.0.0.1:``port`` with SO_REUSEPORT and log 'listening on', as web.py does."""
    server = HTTPServer(app)
    server.listen(port, address='127.0.0.1', reuse_port=True)
    logging.info('listening on http://127.0.0.1:%d (pid %d)', port, os.getpid())
    await stop_requested()
    server.stop()
