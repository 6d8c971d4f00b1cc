"""The naive gateway /add is compared with: Celery's blocking client called from Tornado.

    WEB_PORT=8890 python -m bench.apps.naive_web

``apply_async`` runs on the event loop (a blocking, confirmed kombu publish), and the result
is waited for with ``result.get`` in the default thread pool (min(32, cores + 4) threads),
which is how such code is usually "made async".
"""

from __future__ import annotations

import asyncio
import functools
import os

import tornado.web

from add_task import add
from bench.apps.serving import configure_logging, serve

WAIT = 10.0  # seconds, as web.py's WEB_WAIT


class AddHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        x, y = int(self.get_argument('x', '0')), int(self.get_argument('y', '0'))
        result = add.apply_async((x, y))
        value = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(result.get, timeout=WAIT)
        )
        self.finish({'results': value})


if __name__ == '__main__':
    configure_logging()
    asyncio.run(serve(tornado.web.Application([(r'/add', AddHandler)]), int(os.environ['WEB_PORT'])))
