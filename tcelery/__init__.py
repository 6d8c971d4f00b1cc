"""tcelery: call Celery 5 tasks from asyncio (Tornado 6) without blocking the event loop.

Our replacement for tornado-celery, which targets Celery 3 and Tornado 4. The seed's entry
point is kept::

    tcelery.setup_nonblocking_producer(celery_app=app)
    result = await tcelery.apply_async(add, args=[1, 2], timeout=5)   # TaskResult
    task_id = await tcelery.send(check_ignore_result, args=[url])     # confirmed by the broker
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from .admission import Overloaded
from .errors import BrokerUnavailable, ResultBackendUnavailable, ResultTimeout, TceleryError
from .observer import Observer
from .producer import PUBLISH_TIMEOUT, RESULT_TIMEOUT, NonBlockingProducer, TaskResult

__all__ = [
    'PUBLISH_TIMEOUT', 'RESULT_TIMEOUT', 'BrokerUnavailable', 'NonBlockingProducer', 'Observer', 'Overloaded',
    'ResultBackendUnavailable', 'ResultTimeout',
    'TaskResult', 'TceleryError', 'apply_async', 'get_producer', 'send', 'setup_nonblocking_producer',
]

_producer: NonBlockingProducer | None = None


def setup_nonblocking_producer(celery_app: Celery, **options: Any) -> NonBlockingProducer:
    """Make the process-wide producer. Connections open lazily, inside the running loop."""
    global _producer
    _producer = NonBlockingProducer(celery_app, **options)
    return _producer


def get_producer() -> NonBlockingProducer:
    if _producer is None:
        raise RuntimeError('call tcelery.setup_nonblocking_producer(celery_app=app) first')
    return _producer


async def apply_async(task: Task | str, args: list | tuple = (), kwargs: dict | None = None,
                      timeout: float = 10.0) -> TaskResult:
    return await get_producer().apply_async(task, args, kwargs, timeout)


async def send(task: Task | str, args: list | tuple = (), kwargs: dict | None = None) -> str:
    return await get_producer().send(task, args, kwargs)
