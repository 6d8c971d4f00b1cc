"""Running the probe's coroutines from the check worker's pool threads.

Each thread keeps one uvloop loop for its life, so a check costs no loop set-up; a task runs one
check, or a chunk of them concurrently, to completion on it.
"""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar('T')
_local = threading.local()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    loop = getattr(_local, 'loop', None)
    if loop is None:
        loop = _local.loop = uvloop.new_event_loop()
    return loop.run_until_complete(coroutine)
