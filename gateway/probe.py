"""``GET /probe?target=&module=[&debug=true]``: blackbox_exporter's endpoint, answered by our workers.

A Prometheus job written for blackbox_exporter (its multi-target relabelling) scrapes this one
unchanged: the same modules file syntax, metric names and timeout rule. ``location=`` runs the
probe at one worker location, or with ``all`` at every live one at once, each series then labelled
with its ``location`` (gateway/locations.py). A probe is a scrape, so
what a check says, a refused target and a check that did not answer in time are all
``probe_success 0`` with the reason in ``debug=true``; only a probe that could not be run at all
(no broker, overload) is an HTTP error, which Prometheus records as the scrape's ``up 0``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time

import yaml

import routing
import tcelery
from gateway import locations
from gateway.base import ApiError, ApiHandler
from gateway.settings import PROBE_SLACK
from gateway.targets import options_kwargs
from probe import exposition
from probe.modules import Module
from probe.options import MAX_TIMEOUT, MIN_TIMEOUT, CheckOptions
from probe.policy import MAX_URL_LENGTH, TargetRefused, parse_url, validate_host, validate_port

TIMEOUT_OFFSET = 0.5  # blackbox_exporter's --timeout-offset default: room for the scrape's own trip
DEFAULT_SCRAPE_TIMEOUT = 120.0  # what blackbox_exporter assumes when Prometheus sends no header
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


def probe_timeout(header: str | None, module: Module) -> float:
    """blackbox_exporter's rule: the scrape's timeout less the offset, or the module's when that
    is shorter; then within what one of our checks may take."""
    try:
        scrape = float(header) if header else 0.0
    except ValueError:
        raise ApiError(400, f'Failed to parse timeout from Prometheus header: {header[:40]!r}') from None
    if not math.isfinite(scrape) or scrape < 0:
        raise ApiError(400, 'Failed to parse timeout from Prometheus header: not a number of seconds')
    most = (scrape or DEFAULT_SCRAPE_TIMEOUT) - TIMEOUT_OFFSET
    module_timeout = module.options.timeout if module.timeout_set else 0.0
    seconds = module_timeout if 0 < module_timeout < most or most < 0 else most
    return min(max(seconds, MIN_TIMEOUT), MAX_TIMEOUT)


def split_target(prober: str, target: str) -> tuple[str, str, int]:
    """``(url or host, host, port)`` of a target as blackbox_exporter reads it: an http target
    without a scheme is http://; a tcp target is host:port ([v6]:port)."""
    if prober == 'http':
        if not target.startswith(('http://', 'https://')):
            target = f'http://{target}'
        parsed = parse_url(target)
        return parsed.url, parsed.host, parsed.port
    host, colon, port = target.rpartition(':')
    if not colon:
        raise TargetRefused(f'target {target[:60]!r} is not host:port')
    host = validate_host(host)
    return host, host, validate_port(port)


class ProbeHandler(ApiHandler):
    endpoint = '/probe'

    @property
    def modules(self) -> dict[str, Module]:
        return self.application.settings['probe_modules']

    async def get(self) -> None:
        target = self.get_argument('target', '')
        if not target:
            raise ApiError(400, 'Target parameter is missing')
        if len(target) > MAX_URL_LENGTH:
            raise ApiError(400, f'target is longer than {MAX_URL_LENGTH} characters')
        name = self.get_argument('module', 'http_2xx')
        module = self.modules.get(name)
        if module is None:
            # 404, not blackbox's 400: the request is well formed, the module is not there
            raise ApiError(404, f'Unknown module {name[:60]!r}; known: {", ".join(sorted(self.modules))}')
        debug = self.get_argument('debug', 'false')
        if debug not in ('true', 'false'):
            raise ApiError(400, f'debug must be true or false, got {debug[:20]!r}')
        chosen = self.chosen_locations()
        scrape_timeout = self.request.headers.get('X-Prometheus-Scrape-Timeout-Seconds')
        options = dataclasses.replace(module.options, timeout=probe_timeout(scrape_timeout, module))
        logs = [f'module={name} target={target} timeout_seconds={options.timeout:g}']
        if chosen is None or not chosen.several:
            queue_location = chosen.live[0] if chosen is not None else None
            families = await self.probe(module.prober, target, options, logs, queue_location)
        else:
            probes = await asyncio.gather(*(self.probe(module.prober, target, options, logs, location,
                                                       one_of_several=True) for location in chosen.live))
            families = exposition.labelled(dict(zip(chosen.live, probes, strict=True)), 'location')
        metrics_text = exposition.render(families)
        if debug == 'true':
            self.set_header('Content-Type', 'text/plain; charset=utf-8')
            self.finish('Logs for the probe:\n' + '\n'.join(logs) + '\n\n\n'
                        'Metrics that would have been returned:\n' + metrics_text + '\n\n'
                        'Module configuration:\n' + yaml.safe_dump(module.spec, sort_keys=False))
            return
        self.set_header('Content-Type', CONTENT_TYPE)
        self.finish(metrics_text)

    def chosen_locations(self) -> locations.Chosen | None:
        """``location=``: one location, several, or ``all``; None: any worker."""
        spec = self.get_argument('location', None)
        return None if spec is None else locations.choose(spec, self.application.settings['workers'])

    async def probe(self, prober: str, target: str, options: CheckOptions, logs: list[str],
                    location: str | None, one_of_several: bool = False) -> exposition.Families:
        """One probe's families: the check (at ``location``, if given), timed by the worker. One
        location of several that cannot take the task (overloaded) fails its own series only."""
        started = time.perf_counter()
        where = [] if location is None else [f'location={location}']
        try:
            result = await self.check(prober, target, options, where, location)
        except ApiError as exc:
            if not one_of_several:
                raise
            where.append(f'not sent: {exc.message}')
            result = None
        logs += where
        # The probe's own duration is the check's, as the worker timed it (its phases add up to
        # it); only a probe without a check is timed here.
        seconds = result['latency_ms'] / 1000 if result else time.perf_counter() - started
        return exposition.probe_families(prober, result, seconds)

    async def check(self, prober: str, target: str, options: CheckOptions, logs: list[str],
                    location: str | None = None) -> dict | None:
        """The check's result, or None (with the reason logged) when there is none to report."""
        try:
            url_or_host, host, port = split_target(prober, target)
            await self.vet(host, port)
        except TargetRefused as exc:
            logs.append(f'target refused, no check sent: {exc}')
            return None
        except ApiError as exc:
            if exc.status_code == 503:  # our resolver is busy: not the target's failure
                raise
            logs.append(f'target refused, no check sent: {exc.message}')
            return None
        task, args = ((routing.HTTP_CHECK, [url_or_host, options.follow_redirects, options.timeout])
                      if prober == 'http' else (routing.TCP_CHECK, [host, port, options.timeout]))
        kwargs = options_kwargs(options)
        queue = routing.located_queue(task, location) if location is not None else None
        try:
            result = await self.result_of(task, args, kwargs, options.timeout + PROBE_SLACK, queue)
        except (tcelery.ResultTimeout, tcelery.ResultBackendUnavailable) as exc:
            logs.append(f'task {exc.task_id}: no result in time ({type(exc).__name__})')
            return None
        self.task_id = result.task_id
        self.producer.forget(result.task_id)
        logs.append(f'task {result.task_id}: {result.status}')
        if result.status != 'SUCCESS' or not isinstance(result.result, dict):
            return None
        if result.result.get('error'):
            logs.append(f'check failed: {result.result["error"]}')
        return result.result
