"""The HTTP server settings every long-running server here shares, so that no client can hold it:
a cap on open connections, a body read within a deadline, a small default body limit.

Tornado's defaults (no connection cap, no body deadline, 100 MiB bodies) let one client keep
connections open forever with a trickled body, or make a server read 100 MiB it will refuse.
"""

from __future__ import annotations

from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream

MAX_CONNECTIONS = 10_000  # below this machine's open-file limit (20 000), with room for the rest
BODY_TIMEOUT = 10.0  # seconds to receive a whole request body
MAX_BODY = 64 * 1024  # a handler that takes more says so per request (set_max_body_size)
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle


class BoundedHTTPServer(HTTPServer):
    """An HTTPServer that closes a new connection at once while ``max_connections`` are open."""

    def initialize(self, *args: Any, max_connections: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.max_connections = max_connections

    def handle_stream(self, stream: IOStream, address: tuple) -> None:
        # HTTPServer keeps its open connections in _connections (Tornado 6), removed on close.
        if len(self._connections) >= self.max_connections:
            stream.close()
            return
        super().handle_stream(stream, address)


def bounded_server(app: Any, *, max_connections: int = MAX_CONNECTIONS, max_body_size: int = MAX_BODY,
                   body_timeout: float = BODY_TIMEOUT, **kwargs: Any) -> BoundedHTTPServer:
    """The server for ``app`` with this module's bounds (kwargs: any other HTTPServer option)."""
    return BoundedHTTPServer(app, max_connections=max_connections, max_body_size=max_body_size,
                             body_timeout=body_timeout, idle_connection_timeout=IDLE_TIMEOUT, **kwargs)
