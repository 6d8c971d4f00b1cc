"""The floor under any Tornado gateway: what Tornado and uvloop alone cost per /check.

    WEB_PORT=8891 python -m bench.apps.tornado_floor

It answers ``/check?url=...`` as web.py does (same port sharing, same loop, a JSON answer of the
same shape) after waiting as long as the upstream would (uniform 200-400 ms), with no Celery,
broker or Redis behind it. Its CPU per request, beside web.py's in the same run, is the part of
web.py's that no change to tcelery can remove: at a few hundred requests a second, most of it is
the loop waking up for each request.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid

import tornado.web
import uvloop

from bench.apps.serving import configure_logging, serve
from bench.apps.upstream import HIGH, LOW


class CheckHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        url = self.get_argument('url')
        await asyncio.sleep(random.uniform(LOW, HIGH))
        self.finish({'task_id': str(uuid.uuid4()), 'ok': True, 'status': 200, 'latency_ms': 300.0,
                     'bytes': 2, 'error': None, 'url': url})

    def compute_etag(self) -> None:  # as web.py: no ETag hashing
        return None


if __name__ == '__main__':
    configure_logging()
    app = tornado.web.Application([(r'/check', CheckHandler)], log_function=lambda handler: None)
    uvloop.run(serve(app, int(os.environ['WEB_PORT'])))
