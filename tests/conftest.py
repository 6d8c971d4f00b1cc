"""What each test needs (its markers), and the session fixtures: a private vhost, real workers, a
real web process and a local upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.process import Proc
from testbed.vhosts import Vhost
from tests import SESSION_VHOST
from tests.processes import base_env, start_web, start_worker
from tests.supervised import System, running_system
from tests.upstream import Upstream

TESTS = Path(__file__).parent
MARKER_BY_DIRECTORY = {TESTS / 'unit': 'unit', TESTS / 'chaos': 'chaos', TESTS / 'hosts': 'hosts'}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by what it needs (pyproject.toml lists the markers): unit, chaos and hosts by
    directory, or `unit` in a module elsewhere; integration for all the others, so that none goes
    unmarked; browser for those using the fleet's `browser` fixture (the others say so themselves)."""
    for item in items:
        for directory, marker in MARKER_BY_DIRECTORY.items():
            if item.path.is_relative_to(directory):
                item.add_marker(marker)
        if not any(item.get_closest_marker(marker) for marker in MARKER_BY_DIRECTORY.values()):
            item.add_marker('integration')
        if 'browser' in item.fixturenames:
            item.add_marker('browser')


@pytest.fixture(scope='session')
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp('logs')


def pytest_unconfigure(config: pytest.Config) -> None:
    SESSION_VHOST.delete()


@pytest.fixture(scope='session')
def vhost() -> Vhost:
    """The vhost this process's Celery app points at (see tests/__init__.py)."""
    if not SESSION_VHOST.created:
        SESSION_VHOST.create()
    return SESSION_VHOST


@pytest.fixture(scope='session')
def env(vhost: Vhost) -> dict[str, str]:
    return base_env(BROKER_URL=vhost.url)


@pytest.fixture(scope='session')
def workers(env: dict[str, str], log_dir: Path) -> Iterator[dict[str, Proc]]:
    procs = {'add': start_worker('add', env, log_dir), 'check': start_worker('check', env, log_dir)}
    yield procs
    for proc in procs.values():
        proc.stop()


@pytest.fixture(scope='session')
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture(scope='session')
def web(env: dict[str, str], log_dir: Path, workers: dict[str, Proc]) -> Iterator[str]:
    """Base URL of a gateway with workers behind it."""
    proc, url = start_web(dict(env, WEB_WAIT='3'), log_dir)
    yield url
    proc.stop()


@pytest.fixture(scope='session')
def idle_vhost() -> Iterator[Vhost]:
    with Vhost('route_check_idle') as vhost:
        yield vhost


@pytest.fixture(scope='session')
def idle_web(idle_vhost: Vhost, log_dir: Path) -> Iterator[str]:
    """A gateway with no workers and the default (strict) target policy: what it sends stays
    in the queues, so tests can count it (admission control off: nothing drains them)."""
    proc, url = start_web(base_env(BROKER_URL=idle_vhost.url, CHECK_ALLOW='', WEB_WAIT='0.3',
                                   MAX_BACKLOG_SECONDS='0'), log_dir, name='idle-web')
    yield url
    proc.stop()


@pytest.fixture(scope='session')
def system(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[System]:
    """The whole supervised system, started by `make run` in a copy of the tree."""
    with running_system(tmp_path_factory.mktemp('tree'), log_dir) as running:
        yield running
