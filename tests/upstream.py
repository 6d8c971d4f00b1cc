"""A local HTTP target for route checks: fast, slow, redirecting, failing.

It counts hits per path, and per ``t`` query token, so that a second execution of one task is
visible. ``/slow?ms=`` sleeps, ``/redirect?to=`` answers 302, ``/trickle?ms=`` sends its body a
byte at a time, ``?status=`` and ``?size=`` shape the answer.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Upstream:
    def __init__(self, host: str = '127.0.0.1') -> None:
        self.hits: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}  # token -> time.monotonic() of its first request
        self.in_flight = 0
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with upstream._lock:
                    upstream.hits[parts.path] += 1
                    if 't' in query:
                        upstream.tokens[query['t']] += 1
                        upstream.first_seen.setdefault(query['t'], time.monotonic())
                    upstream.in_flight += 1
                try:
                    self._answer(parts.path, query)
                finally:
                    with upstream._lock:
                        upstream.in_flight -= 1

            def _answer(self, path: str, query: dict[str, str]) -> None:
                if path == '/slow':
                    time.sleep(int(query.get('ms', '1000')) / 1000)
                if path == '/redirect':
                    self.send_response(302)
                    self.send_header('Location', query['to'])
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                body = b'x' * int(query.get('size', '2'))
                self.send_response(int(query.get('status', '200')))
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if path == '/trickle':  # one byte per ms milliseconds
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(int(query.get('ms', '300')) / 1000)
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default of 5 drops bursts of connections
            daemon_threads = True

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_port
        self.url = f'http://{host}:{self.port}'
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        """Requests for ``path`` so far."""
        with self._lock:
            return self.hits[path]

    def token_count(self, token: str) -> int:
        """Requests that carried ``?t=token`` so far."""
        with self._lock:
            return self.tokens[token]

    def busy(self) -> int:
        """Requests being answered right now."""
        with self._lock:
            return self.in_flight

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
