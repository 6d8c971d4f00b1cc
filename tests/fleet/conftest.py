"""Fixtures: two real supervisords (one runs a Celery worker of this project), fleet servers.

Every process started here is ended here.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.fleet.servers import ADMIN_PASSWORD, GROUPS, PY, Fleet, Supervisord, celery_worker, sleeper

BROWSER_WAIT = 10_000  # ms: the longest any step in the browser may take


@pytest.fixture(scope='session')
def queue() -> str:
    # Unique per run: this worker never takes the tasks of another run or of the real system.
    return f'fleet_test_{secrets.token_hex(4)}'


@pytest.fixture(scope='session')
def supervisors(tmp_path_factory: pytest.TempPathFactory, queue: str) -> Iterator[dict[str, Supervisord]]:
    directory = tmp_path_factory.mktemp('supervisors')
    ticker = ("import itertools, time; "
              "[print('fleet tick', i, flush=True) or time.sleep(0.3) for i in itertools.count()]")
    alpha = Supervisord(directory, 'alpha', {
        'program:sleeper': sleeper(),
        'program:ticker': sleeper(command=f'{PY} -u -c "{ticker}"'),
        'program:broken': sleeper(command=f'{PY} -c "raise SystemExit(3)"', startretries='0'),
        'program:missing': sleeper(command='/nonexistent/fleet-test-program', startretries='0'),
        'program:one': sleeper(),
        'program:two': sleeper(),
        'group:pair': 'programs=one,two',
        'program:celery': celery_worker(queue),
        # 'x' then 300 000 bytes of two-byte characters: a 64 KiB window from the end, and the
        # 256 KiB chunks of a download, start inside a character.
        'program:accents': sleeper(command=f'{PY} -c "print(chr(120) + chr(233) * 150000, flush=True); '
                                           f'import time; time.sleep(100000)"',
                                   environment='PYTHONIOENCODING="utf-8"'),
    }, stats=True)  # CPU and memory columns in the views and their screenshots
    beta = Supervisord(directory, 'beta', {'program:sleeper': sleeper(), 'program:web': sleeper()})
    try:
        for s in (alpha, beta):
            s.launch()
        for s in (alpha, beta):
            s.wait_ready()
        yield {'alpha': alpha, 'beta': beta}
    finally:
        for s in (alpha, beta):
            s.stop()


@pytest.fixture(scope='session')
def fleet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(servers: list[Supervisord], groups: dict[str, list[str]] | None = None, **kwargs: Any) -> Fleet:
        fleet = Fleet(tmp_path_factory.mktemp('fleet'), servers, groups or {}, **kwargs)
        fleets.append(fleet)
        return fleet.start()

    try:
        yield make
    finally:
        for fleet in fleets:
            fleet.stop()


@pytest.fixture(scope='session')
def fleet(supervisors: dict[str, Supervisord], fleet_factory: Callable[..., Fleet]) -> Fleet:
    fleet = fleet_factory([supervisors['alpha'], supervisors['beta']], GROUPS)
    fleet.wait_reachable(fleet.session())
    return fleet


@pytest.fixture(scope='session')
def admin(fleet: Fleet) -> requests.Session:
    return fleet.session()


@pytest.fixture(scope='package')
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (tests/browser.py), for the fleet tests. Not for the
    whole session: Playwright's sync API keeps an event loop running while it is open, and the
    tests after these call asyncio.run."""
    pytest.importorskip('playwright.sync_api')
    from tests.browser import CHROMIUM, chromium
    if not shutil.which(CHROMIUM):
        pytest.skip('chromium is not installed (make browser)')
    with chromium() as launched:
        yield launched


@pytest.fixture(scope='package')
def open_page(browser: Any) -> Callable[..., Any]:
    """A new page of its own browser context (kwargs: Playwright's context options), logged in as admin."""
    def open_(fleet: Fleet, **context: Any) -> Any:
        page = browser.new_context(**{'viewport': {'width': 1280, 'height': 900}, **context}).new_page()
        page.set_default_timeout(BROWSER_WAIT)
        page.goto(f'{fleet.base}/groups')
        page.fill('input[name=username]', 'admin')
        page.fill('input[name=password]', ADMIN_PASSWORD)
        page.click('button[type=submit]')
        page.wait_for_url(f'{fleet.base}/groups')
        return page
    return open_
