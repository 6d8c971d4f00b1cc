"""A local HTTP target for route checks: fast, slow, redirecting, failing; it counts hits."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Upstream:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with upstream._lock:
                    upstream.hits[parts.path] += 1
                if parts.path == '/slow':
                    time.sleep(int(query.get('ms', '1000')) / 1000)
                if parts.path == '/redirect':
                    self.send_response(302)
                    self.send_header('Location', query['to'])
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                status = int(query.get('status', '200'))
                body = b'x' * int(query.get('size', '2'))
                self.send_response(status)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default of 5 drops bursts of connections
            daemon_threads = True

        self.server = Server(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_port}'
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits[path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
