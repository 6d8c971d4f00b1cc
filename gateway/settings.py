"""The gateway's settings, read once from the environment (``Settings.from_env``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import tcelery
from common import http
from probe import modules
from probe.options import MAX_TIMEOUT

# Seconds a probe waits for its check's result beyond the check's own timeout: the queue and the
# result's trip back. A probe is a scrape: it answers with probe_success 0 rather than a 202.
PROBE_SLACK = 1.0

TRUE, FALSE = {'1', 'true', 'yes', 'on'}, {'0', 'false', 'no', 'off', ''}


@dataclass(frozen=True)
class Settings:
    host: str = '127.0.0.1'
    port: int = 8889
    wait: float = 10.0  # seconds a request waits for its result before answering 202
    resolve_timeout: float = 3.0
    access_log: bool = False  # a line per answered request; errors are logged either way
    log_format: str = 'text'  # or 'json': one JSON object per line
    management_url: str | None = None  # RabbitMQ's management API: the consume rates of consumers
    # Refuse (503) a task whose queue would take longer than this to drain; None: half of wait;
    # 0: never refuse.
    max_backlog: float | None = None
    probe_config: Path = modules.DEFAULT_PATH  # PROBE_CONFIG: blackbox_exporter's module file
    body_timeout: float = http.BODY_TIMEOUT  # WEB_BODY_TIMEOUT: seconds to receive a request body
    max_connections: int = http.MAX_CONNECTIONS  # WEB_MAX_CONNECTIONS: open at once, per process
    # tornado-celery's HTTP API (gateway/task_api.py): the tasks it serves (none: it is off), and
    # the bearer token every request of it must carry.
    task_api_tasks: tuple[str, ...] = ()
    task_api_token: str = field(default='', repr=False)
    max_bulk: int = 1000  # MAX_BULK: targets in one POST /checks
    bulk_chunk: int = 250  # BULK_CHUNK: targets per check_many task (docs/bulk.md: why 250)

    @property
    def longest_request(self) -> float:
        """Resolve, publish, subscribe and GET (each as tcelery bounds it), then wait: for a
        result, or for a probe, which waits as long as its check may take."""
        waits = max(self.wait, MAX_TIMEOUT + PROBE_SLACK)
        return self.resolve_timeout + tcelery.PUBLISH_TIMEOUT + 2 * tcelery.RESULT_TIMEOUT + waits

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get('WEB_HOST', cls.host),
            port=int(os.environ.get('WEB_PORT', cls.port)),
            wait=float(os.environ.get('WEB_WAIT', cls.wait)),
            access_log=os.environ.get('WEB_ACCESS_LOG', '0').strip().lower() in TRUE,
            log_format=os.environ.get('LOG_FORMAT', cls.log_format).strip().lower(),
            max_backlog=float(backlog) if (backlog := os.environ.get('MAX_BACKLOG_SECONDS')) else None,
            management_url=os.environ.get('RABBITMQ_API') or None,
            probe_config=Path(os.environ.get('PROBE_CONFIG') or cls.probe_config),
            body_timeout=float(os.environ.get('WEB_BODY_TIMEOUT') or cls.body_timeout),
            max_connections=int(os.environ.get('WEB_MAX_CONNECTIONS') or cls.max_connections),
            task_api_tasks=tuple(filter(None, (name.strip() for name in
                                               os.environ.get('TASK_API_TASKS', '').split(',')))),
            task_api_token=os.environ.get('TASK_API_TOKEN', ''),
            max_bulk=int(os.environ.get('MAX_BULK') or cls.max_bulk),
            bulk_chunk=int(os.environ.get('BULK_CHUNK') or cls.bulk_chunk),
        )

    @property
    def backlog_limit(self) -> float:
        """Work queued beyond WEB_WAIT would end as 202s that nobody waits for; half of it leaves
        the other half for the task itself and for the error of the measured drain rate."""
        return self.wait / 2 if self.max_backlog is None else self.max_backlog
