"""The Celery app of a bench.pools check worker: main.app with the settings a variant changes.

    BENCH_WORKER_CONF='{"worker_send_task_events": false}' celery -A bench.worker_app worker ...

Only the benchmark uses this; supervisord.conf runs ``-A main``.
"""

import json
import os

from celery import signals

from main import app

CHANGES = json.loads(os.environ.get('BENCH_WORKER_CONF', '{}'))
app.conf.update(CHANGES)


@signals.celeryd_init.connect
def _after_main(conf, **_) -> None:
    """Connected after main's own worker settings, so a variant can undo them too."""
    conf.update(CHANGES)
