"""The gateway's Prometheus metrics, summed over all its processes.

supervisord starts several web.py processes on one port, and a scrape reaches any one of them, so
each process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode) and ``GET /metrics`` adds up every process's files. `make run` empties that
directory before supervisord starts the processes. Without the variable (a single ``python web.py``)
the process serves its own values, plus prometheus_client's process and Python collectors.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

import tcelery

# Whoever sets the variable makes the directory (scripts/run.sh): each metric opens its file there
# as it is defined, at import.
MULTIPROC_DIR = os.environ.get('PROMETHEUS_MULTIPROC_DIR')
# Requests wait up to WEB_WAIT (10 s) for their result; checks take up to 30 s.
LATENCY_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)
PUBLISH_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)

REQUESTS = Counter('route_check_http_requests_total', 'HTTP requests answered, by endpoint, method, status',
                   ['endpoint', 'method', 'status'])
LATENCY = Histogram('route_check_http_request_duration_seconds', 'Time to answer a request, by endpoint',
                    ['endpoint'], buckets=LATENCY_BUCKETS)
IN_FLIGHT = Gauge('route_check_http_requests_in_flight', 'Requests being handled now',
                  multiprocess_mode='livesum')
PUBLISHES = Counter('route_check_task_publishes_total',
                    'Task messages published, by task and outcome (confirmed by the broker, or not)',
                    ['task', 'outcome'])
PUBLISH_LATENCY = Histogram('route_check_task_publish_duration_seconds',
                            "From publishing a task to the broker's confirm, retries included",
                            ['task'], buckets=PUBLISH_BUCKETS)
BROKER_UNAVAILABLE = Counter('route_check_broker_unavailable_total',
                             'Requests answered 503 because the broker did not accept the task')
OVERLOADED = Counter('route_check_overloaded_total',
                     'Requests answered 503 + Retry-After by admission control, before publishing, by queue',
                     ['queue'])
RESULT_WAITS_ACCEPTED = Counter('route_check_result_wait_accepted_total',
                                'Result waits that ended in a 202 with the task id, by why',
                                ['reason'])
BROKER_UP = Gauge('route_check_broker_connected',
                  '1 while the AMQP connection is up (in every live process); 0 before the first request',
                  multiprocess_mode='livemin')
RESULT_BACKEND_UP = Gauge('route_check_result_backend_connected',
                          '1 while the Redis result subscription is up (in every live process); 0 before '
                          'the first request that waits for a result', multiprocess_mode='livemin')


# Labelled children, looked up once: prometheus_client's labels() costs more than the increment.
_requests: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_publishes: dict[tuple[str, bool], tuple[Counter, Histogram]] = {}
METHODS = frozenset({'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'})


class MetricsObserver(tcelery.Observer):
    """What tcelery reports, as metrics."""

    def published(self, task: str, seconds: float, accepted: bool) -> None:
        children = _publishes.get((task, accepted))
        if children is None:
            children = _publishes[task, accepted] = (
                PUBLISHES.labels(task, 'confirmed' if accepted else 'failed'), PUBLISH_LATENCY.labels(task))
        children[0].inc()
        if accepted:
            children[1].observe(seconds)

    def broker_connection(self, up: bool) -> None:
        BROKER_UP.set(int(up))

    def result_backend_connection(self, up: bool) -> None:
        RESULT_BACKEND_UP.set(int(up))


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count an answer. A client may send any method name: the label has a bounded set of values."""
    if method not in METHODS:
        method = 'other'
    children = _requests.get((endpoint, method, status))
    if children is None:
        children = _requests[endpoint, method, status] = (REQUESTS.labels(endpoint, method, str(status)),
                                                          LATENCY.labels(endpoint))
    children[0].inc()
    children[1].observe(seconds)


def forget_dead_processes(directory: str | None = MULTIPROC_DIR) -> None:
    """Drop the live gauges of processes that are gone (a web process supervisord restarted);
    their counters stay, so totals never go back."""
    if not directory:
        return
    for path in Path(directory).glob('gauge_live*_*.db'):  # gauge_livesum_<pid>.db
        pid = path.stem.rsplit('_', 1)[1]
        if pid.isdigit() and not Path(f'/proc/{pid}').exists():
            multiprocess.mark_process_dead(int(pid), directory)


def exposition() -> tuple[bytes, str]:
    """The text format of every metric, summed over processes; and its content type."""
    if not MULTIPROC_DIR:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    forget_dead_processes()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, MULTIPROC_DIR)
    return generate_latest(registry), CONTENT_TYPE_LATEST
