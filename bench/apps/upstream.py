"""The slow upstream every /check calls: it answers after a uniform 200-400 ms.

    python -m bench.apps.upstream --port 9000

asyncio (Tornado) so hundreds of requests can sleep at once in one process, and a listen
backlog far above the largest client count so a burst of connects is never dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from common.lifecycle import stop_requested

LOW, HIGH = 0.2, 0.4  # seconds; the mean (0.3 s) is what the /check bounds divide by
MEAN = (LOW + HIGH) / 2
BACKLOG = 4096


class SlowHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(random.uniform(LOW, HIGH))
        self.finish('ok')


async def serve(port: int) -> None:
    app = tornado.web.Application([(r'/.*', SlowHandler)])
    server = HTTPServer(app)
    server.add_sockets(bind_sockets(port, '127.0.0.1', backlog=BACKLOG))
    logging.info('upstream listening on http://127.0.0.1:%d', port)
    await stop_requested()
    server.stop()


if __name__ == '__main__':
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    # The access log would cost more CPU than the handler at a thousand requests a second.
    logging.getLogger('tornado.access').disabled = True
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
