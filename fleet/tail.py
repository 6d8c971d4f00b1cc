"""Reading logs through supervisor's XML-RPC: a process's log from an offset on, whole logs in
chunks, and supervisord's own log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from fleet.rpc import ServerError, Supervisor

MAX_TAIL = 64 * 1024
CHUNK = 256 * 1024  # per call when reading a whole log
STREAMS = ('stdout', 'stderr')
UTF8_MAX = 4  # bytes in one UTF-8 character, at most


async def whole_chars(client: Supervisor, method: str, args_for: Callable[[int], tuple],
                      timeout: float) -> Any:
    """The call's result. supervisor decodes what it read as UTF-8 and fails (HTTP 500) when the
    window begins or ends inside a character; the same window 1 to 3 bytes shorter (args_for(cut))
    then avoids it."""
    for cut in range(UTF8_MAX - 1):
        try:
            return await client.call(method, *args_for(cut), timeout=timeout)
        except ServerError:
            continue
    return await client.call(method, *args_for(UTF8_MAX - 1), timeout=timeout)


async def read_since(client: Supervisor, method: str, name: str, offset: int,
                     timeout: float) -> tuple[bytes, int, bool]:
    """The bytes logged since offset (at most MAX_TAIL), the log's size, and whether some were skipped.

    supervisor's tail answers the last `length` bytes, so the new bytes are the end of that,
    as many as the log grew.
    """
    text, end, overflow = await whole_chars(client, method, lambda cut: (name, offset, MAX_TAIL - cut),
                                            timeout)
    data = text.encode()
    grown = end - offset
    if 0 <= grown < len(data):
        data = data[len(data) - grown:]
    return data, end, bool(overflow)


async def read_all(client: Supervisor, name: str, stream: str, start: int, end: int,
                   timeout: float) -> AsyncIterator[bytes]:
    """The log's bytes from start to end, in chunks (readProcessStdoutLog / ...StderrLog)."""
    method = f'supervisor.readProcess{stream.capitalize()}Log'
    offset = start
    while offset < end:
        size = min(CHUNK, end - offset)
        text = await whole_chars(client, method, lambda cut, at=offset, size=size: (name, at, size - cut),
                                 timeout)
        if not text:
            return
        data = text.encode()
        offset += len(data)
        yield data


async def main_log(client: Supervisor, timeout: float) -> str:
    """The end of supervisord's own log (MAX_TAIL bytes at most)."""
    return await whole_chars(client, 'supervisor.readLog', lambda cut: (-(MAX_TAIL - cut), 0), timeout)
