"""The libraries alone: what a /check or an /add costs a Tornado gateway that does nothing
but the essential, with the libraries web.py is built on.

    WEB_PORT=8892 BROKER_URL=... RESULT_BACKEND=... python -m bench.apps.bare_gateway

Per request: Celery's ``as_task_v2`` builds the message (``TaskMessages``), aio-pika publishes it
on a confirmed channel, and one redis.asyncio pattern subscription, made at start, receives the
result. Nothing else that web.py does: no vetting of the target, admission control, metrics,
task-sent events, retries, reconnection, deletion of delivered results or request ids. Its CPU
per request, beside the floor's and web.py's in one run, splits web.py's into what Tornado
costs, what the libraries cost, and what our own code adds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from typing import Any

import aio_pika
import redis.asyncio as aioredis
import tornado.web
import uvloop
from aio_pika.abc import AbstractExchange
from celery import states

import routing
from bench.apps.serving import configure_logging, serve
from main import app
from probe.options import DEFAULT_TIMEOUT
from tcelery.messages import TaskMessages
from tcelery.publisher import amqp_message

WAIT = 10.0  # seconds for a result, as web.py's WEB_WAIT


class Gateway:
    def __init__(self) -> None:
        self.messages = {name: TaskMessages(app, name) for name in (routing.HTTP_CHECK, routing.ADD)}
        self.prefix = secrets.token_hex(4)
        self.waiting: dict[bytes, asyncio.Future] = {}
        self.exchanges: dict[str, AbstractExchange] = {}

    async def start(self) -> None:
        connection = await aio_pika.connect(app.conf.broker_url)
        channel = await connection.channel(publisher_confirms=True)
        for messages in self.messages.values():
            name = messages.build(self.new_task_id())[0].exchange
            self.exchanges[name] = await channel.get_exchange(name, ensure=False)
        self.pubsub = aioredis.from_url(app.conf.result_backend).pubsub()
        await self.pubsub.psubscribe(app.backend.get_key_for_task(self.prefix) + b'*')
        self.reader = asyncio.create_task(self.read())

    def new_task_id(self) -> str:
        return self.prefix + str(uuid.uuid4())[8:]

    async def read(self) -> None:
        async for message in self.pubsub.listen():
            future = self.waiting.get(message['channel'])
            if message['type'] == 'pmessage' and future is not None and not future.done():
                meta = app.backend.decode(message['data'])
                if meta['status'] in states.READY_STATES:
                    future.set_result(meta)

    async def run(self, task: str, args: list) -> tuple[str, Any]:
        """Publish the task, wait for its result: (task id, result)."""
        task_id = self.new_task_id()
        key = app.backend.get_key_for_task(task_id)
        self.waiting[key] = future = asyncio.get_running_loop().create_future()
        try:
            publication, _ = self.messages[task].build(task_id, args)
            await self.exchanges[publication.exchange].publish(
                amqp_message(publication), routing_key=publication.routing_key, mandatory=True)
            async with asyncio.timeout(WAIT):
                meta = await future
        finally:
            del self.waiting[key]
        return task_id, meta['result']


class Handler(tornado.web.RequestHandler):
    @property
    def gateway(self) -> Gateway:
        return self.settings['gateway']

    def compute_etag(self) -> None:  # as web.py: no ETag hashing
        return None


class CheckHandler(Handler):
    async def get(self) -> None:
        args = [self.get_argument('url'), False, DEFAULT_TIMEOUT]
        task_id, result = await self.gateway.run(routing.HTTP_CHECK, args)
        self.finish({'task_id': task_id, **result})


class AddHandler(Handler):
    async def get(self) -> None:
        args = [int(self.get_argument('x')), int(self.get_argument('y'))]
        _, result = await self.gateway.run(routing.ADD, args)
        self.finish({'results': result})


async def main() -> None:
    gateway = Gateway()
    await gateway.start()
    app_ = tornado.web.Application([(r'/check', CheckHandler), (r'/add', AddHandler)], gateway=gateway,
                                   log_function=lambda handler: None)
    await serve(app_, int(os.environ['WEB_PORT']))


if __name__ == '__main__':
    configure_logging()
    uvloop.run(main())
