"""tornado-celery's HTTP API, for the tasks named in TASK_API_TASKS (none by default: then every
path here is a 404). Same paths, methods and answers as tornado-celery's, with this gateway's
rules: a bearer token (TASK_API_TOKEN) on every request, the arguments bound to the task's
signature before anything is sent, confirmed publishes, admission control and expiry, and a
check task's target vetted by the target policy as /check vets it.

    GET    /                        {"tasks": [...]}: the tasks served
    POST   /apply-async/<task>/     {"args": [...], "kwargs": {...}} -> {"task-id", "state"}
    POST   /apply/<task>/           the same, and "timeout" (s): the result, or revoked past it
    GET    /tasks/result/<id>/      {"task-id", "state"[, "result" | "traceback"]}
    DELETE /tasks/revoke/<id>/      {"task-id"}
"""

from __future__ import annotations

import hmac
import inspect
import json
from typing import Any

from celery import Celery, Task, states

import routing
import tcelery
from gateway.base import ApiError, ApiHandler, overloaded, unavailable
from gateway.settings import Settings
from probe.policy import TargetRefused, parse_url, validate_host, validate_port

MAX_WAIT = 60.0  # seconds /apply may hold a request
MIN_TOKEN = 16  # characters: a token anyone could guess protects nothing
BODY_FIELDS = {'apply-async': {'args', 'kwargs'}, 'apply': {'args', 'kwargs', 'timeout'}}


def check_settings(settings: Settings, app: Celery) -> None:
    """At start: every task named exists, and a token guards them. Raises ValueError."""
    if not settings.task_api_tasks:
        return
    if len(settings.task_api_token) < MIN_TOKEN:
        raise ValueError(f'TASK_API_TASKS is set: TASK_API_TOKEN must be a secret of {MIN_TOKEN} '
                         'characters or more')
    if unknown := [name for name in settings.task_api_tasks if name not in app.tasks]:
        raise ValueError(f'TASK_API_TASKS names tasks that do not exist: {", ".join(unknown)}')


def _targets_of(name: str, bound: inspect.BoundArguments) -> list[tuple[str, Any]]:
    """(host, port) of what a check task would connect to, as /check reads them: TargetRefused
    when one is malformed."""
    given = bound.arguments
    if name in (routing.HTTP_CHECK, routing.HTTP_CHECK_NO_RESULT):
        url = parse_url(str(given['url']))
        return [(url.host, url.port)]
    if name == routing.TCP_CHECK:
        return [(validate_host(str(given['host'])), validate_port(given['port']))]
    if name == routing.CHECK_MANY:
        found = []
        for target in given['targets'] if isinstance(given['targets'], list) else []:
            if isinstance(target, dict) and 'url' in target:
                url = parse_url(str(target['url']))
                found.append((url.host, url.port))
            elif isinstance(target, dict):
                found.append((validate_host(str(target.get('host', ''))), validate_port(target.get('port'))))
        return found
    return []


class TaskApiHandler(ApiHandler):
    """Off unless TASK_API_TASKS names tasks; then a bearer token opens it."""

    def prepare(self) -> None:
        super().prepare()
        settings = self.web_settings
        if not settings.task_api_tasks:
            raise ApiError(404, f'no such endpoint: {self.request.path[:100]}')
        given = self.request.headers.get('Authorization', '')
        expected = f'Bearer {settings.task_api_token}'
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, 'this API needs Authorization: Bearer <TASK_API_TOKEN>',
                           headers={'WWW-Authenticate': 'Bearer'})

    def served(self, name: str) -> Task:
        if name not in self.web_settings.task_api_tasks:
            served = ', '.join(self.web_settings.task_api_tasks)
            raise ApiError(404, f'unknown task {name[:100]!r}; served: {served}')
        return self.producer.app.tasks[name]


class TasksHandler(TaskApiHandler):
    endpoint = '/'

    def get(self) -> None:
        self.finish({'tasks': list(self.web_settings.task_api_tasks)})


class ApplyAsyncHandler(TaskApiHandler):
    """``/apply-async/<task>/``: sent, and answered once the broker has confirmed it."""

    endpoint = '/apply-async/{task}/'
    kind = 'apply-async'

    async def post(self, name: str) -> None:
        task, args, kwargs, _ = await self.call_of(name)
        try:
            task_id = await self.producer.send(task.name, args, kwargs, headers=self.task_headers)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.Overloaded as exc:
            raise overloaded(exc) from None
        self.task_id = task_id
        self.finish({'task-id': task_id, 'state': states.PENDING})

    async def call_of(self, name: str) -> tuple[Task, list, dict, dict]:
        """The task, its arguments bound to its signature, and the other fields of the body."""
        task = self.served(name)
        try:
            body = json.loads(self.request.body or b'{}')
        except ValueError as exc:
            raise ApiError(400, f'the body must be JSON: {str(exc)[:100]}') from None
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be a JSON object: {"args": [...], "kwargs": {...}}')
        if unknown := sorted(str(key) for key in body if key not in BODY_FIELDS[self.kind]):
            raise ApiError(400, f'unknown field {unknown[0][:50]!r}; the fields are '
                                f'{", ".join(sorted(BODY_FIELDS[self.kind]))}')
        args, kwargs = body.get('args', []), body.get('kwargs', {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ApiError(400, 'args must be a list and kwargs an object')
        try:
            bound = inspect.signature(task.run).bind(*args, **kwargs)
        except TypeError as exc:
            raise ApiError(400, f'{name}: {exc}') from None
        try:
            for host, port in _targets_of(task.name, bound):
                await self.vet(host, port)
        except (TargetRefused, KeyError, TypeError) as exc:
            raise ApiError(400, f'{name}: bad target: {exc}') from None
        return task, args, kwargs, body


class ApplyHandler(ApplyAsyncHandler):
    """``/apply/<task>/``: sent and waited for, ``timeout`` seconds at most (default WEB_WAIT);
    past it the task is revoked, as tornado-celery did."""

    endpoint = '/apply/{task}/'
    kind = 'apply'

    async def post(self, name: str) -> None:
        task, args, kwargs, body = await self.call_of(name)
        timeout = body.get('timeout', self.web_settings.wait)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_WAIT:
            raise ApiError(400, f'timeout must be a number of seconds, above 0 and at most {MAX_WAIT:g}')
        try:
            result = await self.producer.apply_async(task.name, args, kwargs, timeout=timeout,
                                                     headers=self.task_headers)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.Overloaded as exc:
            raise overloaded(exc) from None
        except (tcelery.ResultTimeout, tcelery.ResultBackendUnavailable) as exc:
            self.task_id = exc.task_id
            await self.revoke(exc.task_id)
            self.finish({'task-id': exc.task_id, 'state': states.REVOKED})
            return
        self.task_id = result.task_id
        self.producer.forget(result.task_id)
        self.finish(shown(result))


class TaskResultHandler(TaskApiHandler):
    endpoint = '/tasks/result/{task_id}/'

    async def get(self, task_id: str) -> None:
        result = await self.stored_result(task_id)
        self.finish(shown(result))


class TaskRevokeHandler(TaskApiHandler):
    endpoint = '/tasks/revoke/{task_id}/'

    async def delete(self, task_id: str) -> None:
        await self.revoke(task_id)
        self.finish({'task-id': task_id})


def shown(result: tcelery.TaskResult) -> dict[str, Any]:
    """tornado-celery's answer: the state, and the result once ready (the traceback on failure)."""
    answer: dict[str, Any] = {'task-id': result.task_id, 'state': result.status}
    if result.status == states.FAILURE:
        answer['traceback'] = result.traceback
        answer['error'] = result.result
    elif result.status in states.READY_STATES:
        answer['result'] = result.result
    return answer
