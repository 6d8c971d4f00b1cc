"""Whole logs: download a process's log (streamed, capped), clear it (admins), supervisord's own log."""

from __future__ import annotations

import tornado.web

from fleet.handlers import ApiHandler
from fleet.rpc import Fault, Unreachable, fault_name
from fleet.tail import main_log, read_all

DOWNLOAD_CAP = 50 * 1024 * 1024  # bytes: the end of a larger log


class RemoteErrors:
    """Fault -> 404, Unreachable -> 502, as JSON errors."""

    def __init__(self, server: str):
        self.server = server

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, Unreachable):
            raise tornado.web.HTTPError(502, f'{self.server} is unreachable: {exc}') from None
        if isinstance(exc, Fault):
            raise tornado.web.HTTPError(404, f'{fault_name(exc.faultCode)}: {exc.faultString}') from None


class DownloadLogApi(ApiHandler):
    """``?stream=stdout|stderr``: the whole log as text (its last 50 MiB at most), streamed."""

    async def get(self, pid: str) -> None:
        server, name, client = self.process_client(pid)
        stream = self.stream_argument()
        with RemoteErrors(server):
            _, size, _ = await client.call(f'supervisor.tailProcess{stream.capitalize()}Log', name, 0, 0,
                                           timeout=self.config.timeout)
        start = max(0, size - DOWNLOAD_CAP)
        self.set_header('Content-Type', 'text/plain; charset=utf-8')
        self.set_header('Content-Disposition', f'attachment; filename="{pid.replace(":", "_")}.{stream}.log"')
        self.set_header('X-Fleet-Log-Skipped', str(start))  # bytes left out at the start
        async for chunk in read_all(client, name, stream, start, size, self.config.timeout):
            self.write(chunk)
            await self.flush()  # one chunk in memory at a time


class ClearLogApi(ApiHandler):
    async def post(self, pid: str) -> None:
        self.require('manage')
        server, name, client = self.process_client(pid)
        with RemoteErrors(server):
            await client.call('supervisor.clearProcessLogs', name, timeout=self.config.action_timeout,
                              lane='action')
        self.audit('clear log', server, pid, 'SUCCESS', True, 'stdout and stderr')
        self.finish({'process': pid, 'ok': True})


class MainLogApi(ApiHandler):
    """supervisord's own log: its last 64 KiB."""

    async def get(self, server: str) -> None:
        client = self.monitor.clients.get(server)
        if client is None:
            raise tornado.web.HTTPError(404, f'no such server: {server}')
        with RemoteErrors(server):
            text = await main_log(client, self.config.timeout)
        self.finish({'server': server, 'text': text})
