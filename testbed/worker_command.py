"""The Celery worker command line, as supervisord.conf writes it for the real system."""

from __future__ import annotations

from collections.abc import Iterable

from testbed.process import VENV_BIN


def worker_argv(node: str, pool: str, concurrency: int, queues: Iterable[str],
                app: str = 'main') -> list[str]:
    """``celery -A app worker`` with a pool, a concurrency, its queues and a node name (``node@%h``,
    or ``node`` itself when it names its host: ``check.east@t1``).

    -Ofair, which supervisord.conf spells out as the seed did, is Celery's default since 4.0.
    """
    return [str(VENV_BIN / 'celery'), '-A', app, 'worker', '-P', pool, '-c', str(concurrency),
            '-Q', ','.join(queues), '-n', node if '@' in node else f'{node}@%h', '-l', 'info']
