"""Reading a process's log through supervisor's tail calls, from an offset on."""

from __future__ import annotations

from fleet.rpc import ServerError, Supervisor

MAX_TAIL = 64 * 1024
STREAMS = ('stdout', 'stderr')
UTF8_MAX = 4  # bytes in one UTF-8 character, at most


async def read_since(client: Supervisor, method: str, name: str, offset: int,
                     timeout: float) -> tuple[bytes, int, bool]:
    """The bytes logged since offset (at most MAX_TAIL), the log's size, and whether some were skipped.

    supervisor's tail answers the last `length` bytes, so the new bytes are the end of that,
    as many as the log grew.
    """
    for cut in range(UTF8_MAX):
        try:
            text, end, overflow = await client.call(method, name, offset, MAX_TAIL - cut, timeout=timeout)
            break
        except ServerError:
            # supervisor decodes the window as UTF-8 and fails (HTTP 500) when it begins inside
            # a character; a window a byte shorter begins a byte later.
            if cut == UTF8_MAX - 1:
                raise
    data = text.encode()
    grown = end - offset
    if 0 <= grown < len(data):
        data = data[len(data) - grown:]
    return data, end, bool(overflow)
