"""The Celery app of a bench.experiments.pools check worker: main.app with the settings a variant changes.

    BENCH_WORKER_CONF='{"worker_send_task_events": false}' celery -A bench.apps.worker_app worker ...

With BENCH_NO_CHECK=1 the check task does not check: it waits as long as the upstream would
answer and returns what a check of it returns, so the worker's CPU is Celery's own per task.
Only the benchmark uses this; supervisord.conf runs ``-A main``.
"""

import asyncio
import json
import os
import random

from celery import signals

import check_worker
from bench.apps.upstream import HIGH, LOW
from main import app

CHANGES = json.loads(os.environ.get('BENCH_WORKER_CONF', '{}'))
app.conf.update(CHANGES)


async def _no_check(target: dict) -> dict:  # check_worker._check_one's signature
    await asyncio.sleep(random.uniform(LOW, HIGH))  # on the pool thread's loop: the thread waits
    return {'ok': True, 'status': 200, 'latency_ms': 300.0, 'bytes': 2, 'error': None,
            'url': target.get('url')}


if os.environ.get('BENCH_NO_CHECK') == '1':
    check_worker._check_one = _no_check  # the tasks look it up when they run


@signals.celeryd_init.connect
def _after_main(conf, **_) -> None:
    """Connected after main's own worker settings, so a variant can undo them too."""
    conf.update(CHANGES)
