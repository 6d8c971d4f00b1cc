"""bench.experiments.profile's attribution of py-spy samples to libraries, from scripted samples."""

from __future__ import annotations

from bench.experiments.profile import LOOP, OURS, shares

SITE = '/work/.venv/lib/python3.11/site-packages'
STDLIB = '/root/.pyenv/versions/3.11.7/lib/python3.11'


def test_standard_library_work_counts_for_the_library_that_asked_for_it() -> None:
    loop = f'run (<frozen runpy>);_run ({STDLIB}/asyncio/events.py:84)'
    collapsed = '\n'.join([
        f'{loop};_read ({SITE}/aiormq/connection.py:10);unpack ({STDLIB}/struct.py:3) 3',
        f'{loop};get (/work/main/web.py:285);dumps ({STDLIB}/json/__init__.py:231) 2',
        f'{loop};_handle ({SITE}/tornado/http1connection.py:5) 4',
        f'{loop} 1',
        'not a sample line',
    ])
    assert shares(collapsed) == {'aio-pika, aiormq, pamqp (AMQP)': 3, OURS: 2, 'Tornado': 4, LOOP: 1}
