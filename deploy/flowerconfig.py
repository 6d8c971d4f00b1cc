"""Flower reads this file through ``--conf`` (supervisord.conf). Flower's options
stay in supervisord.conf and the environment; this only adds the gateway's request id to
Flower's task detail (page and /api/task/info).

The gateway puts the request id in the task's headers and in its task-sent event. Celery's event
state keeps an event's extra fields on the task, but Flower shows only ``Task._fields``:
``State.Task`` is the class the state makes its tasks with, so a subclass lists one field more.
"""

from celery.events.state import Task
from flower.events import EventsState


class TracedTask(Task):
    request_id = None  # tasks not sent by the gateway have none
    _fields = (*Task._fields, 'request_id')


EventsState.Task = TracedTask
