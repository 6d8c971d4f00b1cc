"""The task endpoints: ``/add`` (the seed's), ``/check`` and ``/result/<task_id>``."""

from __future__ import annotations

from celery import states

import routing
import tcelery
from gateway.base import ApiError, ApiHandler, options_kwargs, overloaded, shown_status, unavailable
from probe.options import (
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    MIN_TIMEOUT,
    BadOption,
    CheckOptions,
    parse_valid_status,
)
from probe.policy import TargetRefused, parse_url, validate_host, validate_port


class AddHandler(ApiHandler):
    endpoint = '/add'

    async def get(self) -> None:
        x, y = self.int_argument('x'), self.int_argument('y')
        result = await self.run_task(routing.ADD, [x, y])
        if result is not None:
            self.finish({'results': result.result})


class CheckHandler(ApiHandler):
    """``?url=`` for an HTTP(S) check, ``?host=&port=`` for a TCP connect check; the options of
    CheckOptions as arguments (README, "What a check reports")."""

    endpoint = '/check'
    URL_ONLY = ('valid_status', 'method', 'body_matches', 'body_not_matches', 'follow_redirects',
                'ignore_result')

    async def get(self) -> None:
        url, host = self.get_argument('url', None), self.get_argument('host', None)
        if (url is None) == (host is None):
            raise ApiError(400, 'give either url, or host and port')
        if host is not None and (given := [name for name in self.URL_ONLY if name in self.request.arguments]):
            raise ApiError(400, f'{given[0]} applies to url checks only')
        if url is not None and 'tls' in self.request.arguments:
            raise ApiError(400, 'tls applies to host and port checks only; a url says its scheme')
        ignore_result = self.bool_argument('ignore_result')
        options = self.check_options()
        try:
            if url is not None:
                target = parse_url(url)
                task = routing.HTTP_CHECK_NO_RESULT if ignore_result else routing.HTTP_CHECK
                args = [target.url, options.follow_redirects, options.timeout]
                host, port = target.host, target.port
            else:
                host = validate_host(host)
                port = validate_port(self.get_argument('port', ''))
                task, args = routing.TCP_CHECK, [host, port, options.timeout]
        except TargetRefused as exc:
            raise ApiError(400, str(exc)) from None
        await self.vet(host, port)
        kwargs = options_kwargs(options)
        if ignore_result:
            await self.send_only(task, args, kwargs)
            return
        result = await self.run_task(task, args, kwargs)
        if result is not None:
            self.finish({'task_id': result.task_id, **result.result})

    def check_options(self) -> CheckOptions:
        """The request's check options, or a 400 naming the bad one."""
        values = {'timeout': self.float_argument('timeout', DEFAULT_TIMEOUT, MIN_TIMEOUT, MAX_TIMEOUT),
                  'follow_redirects': self.bool_argument('follow_redirects'),
                  'tls': self.bool_argument('tls'), 'insecure': self.bool_argument('insecure')}
        if (method := self.get_argument('method', None)) is not None:
            values['method'] = method.upper()
        if (ip_protocol := self.get_argument('ip_protocol', None)) is not None:
            values['ip_protocol'] = ip_protocol.lower()
        for name in ('body_matches', 'body_not_matches'):
            if patterns := self.get_arguments(name, strip=False):
                values[name] = tuple(patterns)
        try:
            if (valid_status := self.get_argument('valid_status', None)) is not None:
                values['valid_status'] = parse_valid_status(valid_status)
            return CheckOptions(**values)
        except BadOption as exc:
            raise ApiError(400, str(exc)) from None

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
        try:
            result = await self.producer.result(task_id)
        except tcelery.ResultBackendUnavailable:
            raise ApiError(503, 'the result store is unavailable, retry later') from None
        if result.status in states.READY_STATES:  # read once: a 202's result stays until then
            self.producer.forget(task_id)
        self.finish({'task_id': task_id, 'status': shown_status(result), 'result': result.result})


