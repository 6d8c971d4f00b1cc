"""The task endpoints: ``/add`` (the seed's), ``/check`` and ``/result/<task_id>``."""

from __future__ import annotations

from celery import states

import route_policy
import routing
import tcelery
from gateway.base import ApiError, ApiHandler, overloaded, shown_status, unavailable


class AddHandler(ApiHandler):
    endpoint = '/add'

    async def get(self) -> None:
        x, y = self.int_argument('x'), self.int_argument('y')
        result = await self.run_task(routing.ADD, [x, y])
        if result is not None:
            self.finish({'results': result.result})


class CheckHandler(ApiHandler):
    """``?url=`` for an HTTP(S) check, ``?host=&port=`` for a TCP connect check."""

    endpoint = '/check'

    async def get(self) -> None:
        url, host = self.get_argument('url', None), self.get_argument('host', None)
        ignore_result = self.bool_argument('ignore_result')
        timeout = self.float_argument('timeout', route_policy.DEFAULT_TIMEOUT, route_policy.MIN_TIMEOUT,
                                      route_policy.MAX_TIMEOUT)
        if (url is None) == (host is None):
            raise ApiError(400, 'give either url, or host and port')
        try:
            if url is not None:
                target = route_policy.parse_url(url)
                task = routing.HTTP_CHECK_NO_RESULT if ignore_result else routing.HTTP_CHECK
                args = [target.url, self.bool_argument('follow_redirects'), timeout]
                host, port = target.host, target.port
            else:
                if ignore_result:
                    raise ApiError(400, 'ignore_result applies to url checks only')
                host = route_policy.validate_host(host)
                port = route_policy.validate_port(self.get_argument('port', ''))
                task, args = routing.TCP_CHECK, [host, port, timeout]
        except route_policy.TargetRefused as exc:
            raise ApiError(400, str(exc)) from None
        await self.vet(host, port)
        if ignore_result:
            await self.send_only(task, args)
            return
        result = await self.run_task(task, args)
        if result is not None:
            self.finish({'task_id': result.task_id, **result.result})

    async def send_only(self, task: str, args: list) -> None:
        try:
            task_id = self.task_id = await self.producer.send(task, args, headers=self.task_headers)
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
        try:
            result = await self.producer.result(task_id)
        except tcelery.ResultBackendUnavailable:
            raise ApiError(503, 'the result store is unavailable, retry later') from None
        if result.status in states.READY_STATES:  # read once: a 202's result stays until then
            self.producer.forget(task_id)
        self.finish({'task_id': task_id, 'status': shown_status(result), 'result': result.result})


