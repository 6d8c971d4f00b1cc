"""The task endpoints: ``/add`` (the seed's), ``/check`` and ``/result/<task_id>`` (GET, DELETE)."""

from __future__ import annotations

from celery import states

import routing
import tcelery
from gateway import locations, targets
from gateway.base import ApiError, ApiHandler, overloaded, shown_status, unavailable


class AddHandler(ApiHandler):
    endpoint = '/add'

    async def get(self) -> None:
        x, y = self.int_argument('x'), self.int_argument('y')
        result = await self.run_task(routing.ADD, [x, y])
        if result is not None:
            self.finish({'results': result.result})


class CheckHandler(ApiHandler):
    """``?url=`` for an HTTP(S) check, ``?host=&port=`` for a TCP connect check; the options of
    CheckOptions as arguments (README, "What a check reports"); ``from=`` the locations to check
    from (gateway/locations.py), with ``quorum=`` for the verdict of several."""

    endpoint = '/check'

    async def get(self) -> None:
        arguments = {name: self.get_arguments(name, strip=False) for name in self.request.query_arguments}
        try:
            ignore_result = targets.flag(arguments, 'ignore_result')
            target = targets.parse(arguments, ignore_result=ignore_result)
        except targets.BadTarget as exc:
            raise ApiError(400, str(exc)) from None
        where = self.get_argument('from', None)
        if where is not None and ignore_result:
            raise ApiError(400, 'ignore_result cannot be combined with from: a located check answers')
        quorum = self.quorum_argument()
        chosen = locations.choose(where, self.application.settings['workers']) if where is not None else None
        if quorum is not None and not (chosen and chosen.several):
            raise ApiError(400, 'quorum applies to checks from several locations (from=a,b or from=all)')
        await self.vet(target.host, target.port)
        if ignore_result:
            await self.send_only(target.task, target.args, target.kwargs)
            return
        if chosen is not None and chosen.several:
            self.finish(await locations.check_from(self, target.task, target.args, target.kwargs, chosen,
                                                   quorum))
            return
        queue = routing.located_queue(target.task, chosen.live[0]) if chosen is not None else None
        result = await self.run_task(target.task, target.args, target.kwargs, queue)
        if result is not None:
            self.finish({'task_id': result.task_id, **result.result})

    def quorum_argument(self) -> int | None:
        raw = self.get_argument('quorum', None)
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise ApiError(400, f'quorum must be a whole number of locations, at least 1, got {raw[:20]!r}')
        return int(raw)

    async def send_only(self, task: str, args: list, kwargs: dict | None) -> None:
        try:
            task_id = self.task_id = await self.producer.send(task, args, kwargs, headers=self.task_headers)
        except tcelery.BrokerUnavailable as exc:
            raise unavailable(exc) from None
        except tcelery.Overloaded as exc:
            raise overloaded(exc) from None
        # Fire and forget: the task stores no result, so there is nothing to poll.
        self.set_status(202)
        self.finish({'task_id': task_id, 'status': 'SENT'})


class ResultHandler(ApiHandler):
    endpoint = '/result/{task_id}'

    async def get(self, task_id: str) -> None:
        result = await self.stored_result(task_id)
        if result.status in states.READY_STATES:  # read once: a 202's result stays until then
            self.producer.forget(task_id)
        self.finish({'task_id': task_id, 'status': shown_status(result), 'result': result.result})

    async def delete(self, task_id: str) -> None:
        """Cancel a task that has not run yet: revoked, and REVOKED from then on."""
        result = await self.stored_result(task_id)
        if result.status in states.READY_STATES:
            raise ApiError(409, f'the task is already {shown_status(result)}: nothing to cancel',
                           task_id=task_id)
        await self.revoke(task_id)
        self.finish({'task_id': task_id, 'status': states.REVOKED})


