"""Worker locations: which are live, choosing some for a request (``from=``), a check run from each
of them at once, and the verdict of their answers. ``GET /locations`` lists the live ones.

A location is live while one of its check workers is (tcelery.workers: their heartbeats, no
broker round trip per request); routing.location_of reads a worker's location off its node name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celery import states

import routing
import tcelery
from gateway.base import ApiError, ApiHandler, shown_status
from tcelery.workers import LiveWorkers

ALL = 'all'


@dataclass(frozen=True)
class Chosen:
    """The locations a request is sent to (live), those it named that are not live, and whether
    it asked for more than one (then the answer is a verdict)."""

    live: tuple[str, ...]
    unavailable: tuple[str, ...]
    several: bool


def live_locations(workers: LiveWorkers) -> dict[str, list[Any]]:
    """Each live location and its live check workers."""
    found: dict[str, list[Any]] = {}
    for worker in workers.alive():
        location = routing.location_of(worker.hostname)
        if location is not None:
            found.setdefault(location, []).append(worker)
    return found


def known_locations(workers: LiveWorkers) -> set[str]:
    """Every location heard of since this process started, live or not."""
    return {location for worker in workers.state.workers.values()
            if (location := routing.location_of(worker.hostname)) is not None}


def choose(spec: str, workers: LiveWorkers) -> Chosen:
    """``from=``: ``all`` (every live location) or names, comma-separated. A name never heard of
    is a 400 listing the live ones; nothing live among those named is a 503, at once."""
    live = live_locations(workers)
    listed = ', '.join(sorted(live)) or 'none'
    if spec == ALL:
        if not live:
            raise ApiError(503, 'no location is live: no check worker is running', locations=[])
        return Chosen(tuple(sorted(live)), (), True)
    names = list(dict.fromkeys(name.strip() for name in spec.split(',')))
    bad = next((name for name in names if not routing.LOCATION_NAME.fullmatch(name)), None)
    if bad is not None:
        raise ApiError(400, f'from must be "all" or location names, comma-separated (letters, digits, '
                            f'- and _), got {bad[:70]!r}', locations=sorted(live))
    known = known_locations(workers)
    if unknown := [name for name in names if name not in known]:
        raise ApiError(400, f'unknown location {unknown[0]!r}; live: {listed}', locations=sorted(live))
    gone = tuple(name for name in names if name not in live)
    if len(gone) == len(names):
        raise ApiError(503, f'nothing is live at {", ".join(gone)}: its check workers are gone; '
                            f'live: {listed}', locations=sorted(live))
    return Chosen(tuple(name for name in names if name in live), gone, len(names) > 1)


def verdict(up: Iterable[str], down: Iterable[str], quorum: int) -> str:
    """``up``: every location that answered says ok; ``down``: at least ``quorum`` say it fails;
    ``partial``: some fail, fewer than ``quorum``; ``unknown``: none answered."""
    up, down = list(up), list(down)
    if not up and not down:
        return 'unknown'
    if not down:
        return 'up'
    return 'down' if len(down) >= quorum else 'partial'


@dataclass(frozen=True)
class Outcome:
    """What one task sent for a request came to: ``done`` (its ``result``), ``pending`` past
    WEB_WAIT, or ``unavailable`` (not sent, or failed); ``answer`` is what the client is shown."""

    kind: str
    answer: dict[str, Any]
    result: Any = None


async def run_at(handler: ApiHandler, task: str, args: list, kwargs: dict | None,
                 queue: str | None) -> Outcome:
    """Send the task to ``queue`` and wait for it as a request from several places does: what
    fails is an Outcome, never an error answer, so one place's trouble leaves the others'."""
    try:
        result = await handler.result_of(task, args, kwargs, handler.web_settings.wait, queue=queue)
    except (tcelery.ResultTimeout, tcelery.ResultBackendUnavailable) as exc:
        return Outcome('pending', {'task_id': exc.task_id, 'status': states.PENDING})
    except ApiError as exc:  # not sent there: the broker refused it, or that queue is overloaded
        return Outcome('unavailable', {'error': exc.message, **exc.extra})
    handler.producer.forget(result.task_id)
    if result.status != states.SUCCESS:
        return Outcome('unavailable', {'task_id': result.task_id, 'status': shown_status(result),
                                       'error': f'task {shown_status(result).lower()}: {result.result}'})
    return Outcome('done', {'task_id': result.task_id}, result.result)


def judged(outcome: Outcome, result: Any) -> tuple[str, dict[str, Any]]:
    """A location's (``up``, ``down``, ``pending`` or ``unavailable``, answer) for one check's
    ``result`` of a done ``outcome``."""
    if outcome.kind != 'done':
        return outcome.kind, outcome.answer
    if not isinstance(result, dict):
        return 'unavailable', {**outcome.answer, 'error': f'not a check result: {str(result)[:100]}'}
    return ('up' if result.get('ok') else 'down'), {**outcome.answer, **result}


def default_quorum(chosen: Chosen, quorum: int | None) -> int:
    """``quorum``, or a majority of the live locations asked; a 400 beyond them."""
    quorum = quorum or len(chosen.live) // 2 + 1
    if quorum > len(chosen.live):
        raise ApiError(400, f'quorum must be between 1 and {len(chosen.live)}, the live locations asked')
    return quorum


def located_verdict(chosen: Chosen, answers: list[tuple[str, dict[str, Any]]], quorum: int) -> dict[str, Any]:
    """The answer of a check from several locations, ``answers`` in ``chosen.live``'s order."""
    lists: dict[str, list[str]] = {'up': [], 'down': [], 'pending': [],
                                   'unavailable': list(chosen.unavailable)}
    located: dict[str, Any] = {location: {'error': 'no check worker is live there'}
                               for location in chosen.unavailable}
    for location, (kind, answer) in zip(chosen.live, answers, strict=True):
        lists[kind].append(location)
        located[location] = answer
    return {'verdict': verdict(lists['up'], lists['down'], quorum), **lists, 'quorum': quorum,
            'locations': dict(sorted(located.items()))}


async def check_from(handler: ApiHandler, task: str, args: list, kwargs: dict | None, chosen: Chosen,
                     quorum: int | None) -> dict[str, Any]:
    """The check run from every chosen location at once: the N tasks published concurrently on
    the one confirmed channel, their results awaited together, so N locations cost one round trip."""
    quorum = default_quorum(chosen, quorum)
    outcomes = await asyncio.gather(*(
        run_at(handler, task, args, kwargs, routing.located_queue(task, location))
        for location in chosen.live))
    if all(outcome.kind == 'unavailable' and 'task_id' not in outcome.answer for outcome in outcomes):
        raise ApiError(503, outcomes[0].answer['error'])  # sent nowhere: as a single check would say
    return located_verdict(chosen, [judged(outcome, outcome.result) for outcome in outcomes], quorum)


class LocationsHandler(ApiHandler):
    """``GET /locations``: each live location, its check workers and when each was last heard."""

    endpoint = '/locations'

    def get(self) -> None:
        live = live_locations(self.application.settings['workers'])
        self.finish({'locations': {location: {'workers': [_worker(w) for w in sorted(found, key=_name)]}
                                   for location, found in sorted(live.items())}})


def _name(worker: Any) -> str:
    return worker.hostname


def _worker(worker: Any) -> dict[str, Any]:
    """A worker as /locations shows it; ``last_seen`` is when its last heartbeat arrived (Unix time)."""
    return {'name': worker.hostname, 'last_seen': worker.heartbeats[-1], 'active': worker.active,
            'processed': worker.processed}
