"""``POST /checks``: many routes in one request, checked in chunks, one ``check_many`` task each.

A chunk's checks run concurrently inside one worker task (check_worker.check_many), so the costs
of a task (a publish, a confirm, a result in Redis, the worker's bookkeeping) are paid once per
chunk, not once per route. Each target is parsed and vetted here exactly as ``/check`` does it
(gateway/targets.py, ApiHandler.vet); one that fails is that target's result (``refused``) and is
never sent. Chunks are sent concurrently and awaited together; one that could not be sent, or did
not finish within WEB_WAIT, says so in each of its targets' results.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

import routing
from gateway import locations, targets
from gateway.base import ApiError, ApiHandler

NDJSON = 'application/x-ndjson'
MAX_BODY = 4 * 1024 * 1024  # 1000 targets of the longest URL (2048 characters) and their options
VET_CONCURRENCY = 32  # names resolved at once: the loop's resolver is a small thread pool
BODY_FIELDS = frozenset({'targets', 'from', 'quorum'})

# What a target came to: a check that passed or failed (from several locations: a verdict of up,
# down or partial), refused before sending, not back within WEB_WAIT, or not sent (the broker).
SUMMARY = ('ok', 'failed', 'partial', 'refused', 'pending', 'unsent')

Result = dict[str, Any]


@tornado.web.stream_request_body
class ChecksHandler(ApiHandler):
    """``{"targets": [...], "from": ..., "quorum": ...}``: the answer lists each target's result
    in input order, or streams them as NDJSON (``Accept: application/x-ndjson``) as they come."""

    endpoint = '/checks'
    _too_large = False

    def prepare(self) -> None:
        super().prepare()
        self._body = bytearray()
        length = self.request.headers.get('Content-Length', '0')
        if not length.isdigit() or int(length) > MAX_BODY:
            raise ApiError(413, f'request body larger than {MAX_BODY} bytes')
        # A chunked body has no length to refuse up front: read on, keep nothing beyond the limit.
        self.request.connection.set_max_body_size(2 * MAX_BODY)

    def data_received(self, chunk: bytes) -> None:
        if len(self._body) + len(chunk) > MAX_BODY:
            self._too_large = True
        else:
            self._body += chunk

    async def post(self) -> None:
        if self._too_large:
            raise ApiError(413, f'request body larger than {MAX_BODY} bytes')
        body = self.parsed_body()
        workers = self.application.settings['workers']
        chosen = locations.choose(body['from'], workers) if body['from'] else None
        quorum = locations.default_quorum(chosen, body['quorum']) if chosen and chosen.several else None
        if body['quorum'] is not None and quorum is None:
            raise ApiError(400, 'quorum applies to checks from several locations (from=a,b or from=all)')
        streaming = NDJSON in self.request.headers.get('Accept', '')
        summary = dict.fromkeys(SUMMARY, 0)
        results: list[Result] = []
        if streaming:
            self.set_header('Content-Type', NDJSON)
        async for batch in self.checked(body['targets'], chosen, quorum):
            for result in batch:
                summary[_counted_as(result)] += 1
            if streaming:
                await self.stream(batch)
            else:
                results.extend(batch)
        if streaming:
            await self.stream([{'summary': summary}])
            self.finish()
        else:
            self.finish({'results': sorted(results, key=_index), 'summary': summary})

    def parsed_body(self) -> dict[str, Any]:
        """The body's fields, or a 400 saying what is wrong with it."""
        try:
            body = json.loads(self._body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f'the body must be JSON: {str(exc)[:100]}') from None
        if not isinstance(body, dict):
            raise ApiError(400, 'the body must be a JSON object: {"targets": [...]}')
        if unknown := sorted(str(name) for name in body if name not in BODY_FIELDS):
            raise ApiError(400, f'unknown field {unknown[0][:50]!r}; the fields are '
                                f'{", ".join(sorted(BODY_FIELDS))}')
        found, limit = body.get('targets'), self.web_settings.max_bulk
        if not isinstance(found, list) or not found:
            raise ApiError(400, 'targets must be a list of one target or more')
        if len(found) > limit:
            raise ApiError(400, f'at most {limit} targets per request (MAX_BULK), got {len(found)}')
        where, quorum = body.get('from'), body.get('quorum')
        if isinstance(where, list) and where and all(isinstance(name, str) for name in where):
            where = ','.join(where)
        if 'from' in body and not (isinstance(where, str) and where):
            raise ApiError(400, 'from must be "all", a location or a list of locations')
        if 'quorum' in body and (isinstance(quorum, bool) or not isinstance(quorum, int) or quorum < 1):
            raise ApiError(400, 'quorum must be a whole number of locations, at least 1')
        return {'targets': found, 'from': where, 'quorum': quorum}

    async def checked(self, given: list[Any], chosen: locations.Chosen | None,
                      quorum: int | None) -> AsyncIterator[list[Result]]:
        """Batches of results as they are known: the refused targets first, then each chunk's."""
        resolving = asyncio.Semaphore(VET_CONCURRENCY)
        vetted = await asyncio.gather(*(self.vetted(index, target, resolving)
                                        for index, target in enumerate(given)))
        refused = [outcome for outcome in vetted if isinstance(outcome, dict)]
        if refused:
            yield refused
        sendable = [outcome for outcome in vetted if not isinstance(outcome, dict)]
        size = self.web_settings.bulk_chunk
        chunks = [sendable[start:start + size] for start in range(0, len(sendable), size)]
        for done in asyncio.as_completed([self.run_chunk(chunk, chosen, quorum) for chunk in chunks]):
            yield await done

    async def vetted(self, index: int, given: Any,
                     resolving: asyncio.Semaphore) -> tuple[int, targets.Target] | Result:
        """The target to send, with its index, or its result: refused, and why."""
        try:
            target = targets.parse(targets.from_json(given))
            async with resolving:
                await self.vet(target.host, target.port)
        except targets.BadTarget as exc:
            return {'index': index, 'ok': False, 'refused': True, 'error': str(exc)}
        except ApiError as exc:
            return {'index': index, 'ok': False, 'refused': True, 'error': exc.message}
        return index, target

    async def run_chunk(self, chunk: list[tuple[int, targets.Target]], chosen: locations.Chosen | None,
                        quorum: int | None) -> list[Result]:
        """The chunk as one task, at each chosen location (or wherever a worker takes it)."""
        items = [target.chunk_item() for _, target in chunk]
        places = chosen.live if chosen is not None else (None,)
        outcomes = await asyncio.gather(*(
            locations.run_at(self, routing.CHECK_MANY, [items], None,
                             place and routing.located_queue(routing.CHECK_MANY, place))
            for place in places))
        results = []
        for position, (index, target) in enumerate(chunk):
            answers = [locations.judged(outcome, _item(outcome, position)) for outcome in outcomes]
            shown = {'index': index, 'target': target.label}
            if quorum is not None:
                results.append({**shown, **locations.located_verdict(chosen, answers, quorum)})
            else:
                results.append({**shown, **_single(*answers[0])})
        return results

    async def stream(self, lines: list[Result]) -> None:
        """Write and flush ``lines``; a client that left only stops the writing, not the checks
        (their results are still read, and so deleted from Redis)."""
        if self.request.connection.stream.closed():
            return
        self.write(''.join(json.dumps(line) + '\n' for line in lines))
        try:
            await self.flush()
        except StreamClosedError:
            pass


def _item(outcome: locations.Outcome, position: int) -> Any:
    """The result at ``position`` of a done chunk, or None (judged as not a check result)."""
    found = outcome.result
    return found[position] if isinstance(found, list) and position < len(found) else None


def _single(kind: str, answer: Result) -> Result:
    """A target's result from one place (locations.judged's): the check's own, its chunk's
    task id while pending, or why there is none (``ok: false``, and ``sent: false`` if not sent)."""
    if kind != 'unavailable':
        return answer
    return {'ok': False, **answer, **({} if 'task_id' in answer else {'sent': False})}


def _counted_as(result: Result) -> str:
    if 'verdict' in result:
        return {'up': 'ok', 'down': 'failed', 'unknown': 'pending'}.get(result['verdict'], 'partial')
    if result.get('refused'):
        return 'refused'
    if result.get('status') == 'PENDING':
        return 'pending'
    if result.get('sent') is False:
        return 'unsent'
    return 'ok' if result.get('ok') else 'failed'


def _index(result: Result) -> int:
    return result['index']
