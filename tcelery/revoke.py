"""Revoking a task as ``app.control.revoke`` does, without blocking: Celery's broadcast to every
worker, built by Celery's own Control and kombu's Mailbox into a recording producer (messages.py)
and published with aio-pika; and the REVOKED state stored as a worker stores it, so the task's
result says so at once, and a caller waiting for it wakes.

A worker that receives the broadcast skips the task when it comes to it (Celery keeps the revoked
ids of the last hours in memory, and a worker starting later learns them from the others at start,
Celery's "mingle"). A worker that starts while no other runs has no one to learn them from.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, states
from celery.app.control import Control
from celery.backends.base import Backend
from celery.exceptions import TaskRevokedError
from kombu import Connection

from .messages import Publication, RecordingProducer


class _RecordingControl(Control):
    """Celery's Control whose broadcasts go into ``recorder`` instead of a broker connection."""

    def __init__(self, app: Celery, recorder: RecordingProducer):
        super().__init__(app)
        self.recorder = recorder

    def broadcast(self, command: str, arguments: dict | None = None, destination: list | None = None,
                  connection: Any = None, reply: bool = False, timeout: float = 1.0, **extra: Any) -> None:
        with Connection('memory://') as conn:  # the Mailbox wants a connection; nothing goes there
            self.mailbox(conn)._publish(command, dict(arguments or {}, **extra), destination=destination,
                                        timeout=timeout, producer=self.recorder)


def revoke_publication(app: Celery, task_id: str) -> Publication:
    """The message ``app.control.revoke(task_id)`` publishes (to the ``celery.pidbox`` fanout)."""
    recorder = RecordingProducer()
    _RecordingControl(app, recorder).revoke(task_id)
    return recorder.publications[0]


def revoked_payload(backend: Backend, task_id: str) -> bytes:
    """What a worker stores for a revoked task (``backend.mark_as_revoked``), encoded."""
    result = backend.encode_result(TaskRevokedError('revoked'), states.REVOKED)
    meta = backend._get_result_meta(result=result, state=states.REVOKED, traceback=None, request=None)
    return backend.encode({**meta, 'task_id': task_id})
