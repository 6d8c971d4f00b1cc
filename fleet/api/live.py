"""What moves: the event stream of state changes, and log tails."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

from fleet.handlers import ApiHandler
from fleet.rpc import Fault, ServerError, Unreachable, fault_name
from fleet.tail import read_since

KEEPALIVE = 15.0  # seconds; also how soon a closed browser is noticed


class EventsApi(ApiHandler):
    """Server-sent events: a ``snapshot`` first, then an ``update`` per change of a server, and
    an ``alert`` per alert or recovery."""

    async def get(self) -> None:
        self.set_header('Content-Type', 'text/event-stream')
        self.set_header('X-Accel-Buffering', 'no')  # a proxy must pass events on at once
        # A browser's session: logging out (or a reload removing the user) ends its stream. An API
        # token or a trusted proxy's user has no session to watch (the stream ends with the client).
        token = self.session_token if self.bearer_token is None else None
        queue = self.monitor.subscribe()
        if token is not None:
            self.sessions.watch(token, queue)
        try:
            self.event('snapshot', self.monitor.snapshot())
            await self.flush()
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    self.write(': keep-alive\n\n')
                else:
                    if item is None:  # dropped for lagging (the browser reconnects), or logged out
                        break
                    self.event(*item)
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            self.monitor.unsubscribe(queue)
            if token is not None:
                self.sessions.unwatch(token, queue)

    def event(self, name: str, data: Any) -> None:
        self.write(f'event: {name}\ndata: {json.dumps(data)}\n\n')


class TailApi(ApiHandler):
    """``?stream=stdout|stderr&offset=N``: the text written since offset (the last bytes when 0).

    Answers the new offset to ask from next time, and ``rotated`` when the log was rotated
    (or cleared) since: the new file's text is then all new.
    """

    async def get(self, pid: str) -> None:
        server, name, client = self.process_client(pid)
        stream = self.stream_argument()
        try:
            offset = max(0, int(self.get_argument('offset', '0')))
        except ValueError:
            raise tornado.web.HTTPError(400, 'offset must be an integer') from None
        method = f'supervisor.tailProcess{stream.capitalize()}Log'
        try:
            data, end, overflow = await read_since(client, method, name, offset, self.config.timeout)
            rotated = end < offset  # the log shrank: a new file, read from its start
            if rotated:
                data, end, overflow = await read_since(client, method, name, 0, self.config.timeout)
        except ServerError as exc:
            raise tornado.web.HTTPError(502, f'{server} could not read this log: {exc}') from None
        except Unreachable as exc:
            raise tornado.web.HTTPError(502, f'{server} is unreachable: {exc}') from None
        except Fault as exc:
            raise tornado.web.HTTPError(404, f'{fault_name(exc.faultCode)}: {exc.faultString}') from None
        self.finish({'text': data.decode(errors='replace'), 'offset': end, 'overflow': overflow,
                     'rotated': rotated})
