"""The overload run's upstream: bench.apps.upstream's slow answer, and how late each check came.

    python -m bench.apps.timed_upstream --port 9000

A /check's URL carries ``sent=`` (the client's clock when it sent the request); each answer
records how long after that the check reached the upstream. ``GET /stats`` returns the count,
maximum and p99 of those delays, and starts afresh.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bench.apps.upstream import BACKLOG, HIGH, LOW
from common.lifecycle import stop_requested

LATENESS: list[float] = []  # seconds between a request's ``sent`` and the check reaching us


class TimedHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        if self.request.path == '/stats':  # and start afresh
            late = sorted(LATENESS)
            LATENESS.clear()
            self.finish(
                {
                    'count': len(late),
                    'max_s': late[-1] if late else 0.0,
                    'p99_s': late[int(len(late) * 0.99)] if late else 0.0,
                }
            )
            return
        sent = self.get_argument('sent', None)
        if sent is not None:
            LATENESS.append(time.time() - float(sent))
        await asyncio.sleep(random.uniform(LOW, HIGH))
        self.finish('ok')


async def serve(port: int) -> None:
    server = HTTPServer(tornado.web.Application([(r'/.*', TimedHandler)], log_function=lambda _h: None))
    server.add_sockets(bind_sockets(port, '127.0.0.1', backlog=BACKLOG))
    await stop_requested()
    server.stop()


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
