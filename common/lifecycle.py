"""Process life cycle shared by the long-running servers (web.py, fleet)."""

import asyncio
import signal


async def stop_requested() -> None:
    """Return once SIGTERM (supervisord's stop) or SIGINT (Ctrl-C) arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
