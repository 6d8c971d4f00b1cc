"""Chaos suite fixtures: the tally (JSON + a "Reliability" table at the end of the session), a
vhost per test, and a supervised system (`make run` in a temporary copy of the tree).

A full passing run writes its table to var/reports/reliability.md, untracked: `make docs`
publishes it into docs/reliability.md on purpose, as no test writes a tracked file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.process import ROOT
from testbed.vhosts import Vhost
from tests.chaos.tally import Tally
from tests.supervised import System, running_system

_tally: Tally | None = None
_chaos = {'passed': 0, 'failed': 0, 'seconds': 0.0}  # this directory's tests, fixtures included
RELIABILITY_REPORT = ROOT / 'var' / 'reports' / 'reliability.md'  # the block of docs/reliability.md


# A hook of this conftest: called for the reports of tests/chaos/ only.
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _chaos['seconds'] += report.duration
    if report.failed:
        _chaos['failed'] += 1
    elif report.when == 'call' and report.passed:
        _chaos['passed'] += 1


@pytest.fixture(scope='session')
def tally(tmp_path_factory: pytest.TempPathFactory) -> Tally:
    global _tally
    if _tally is None:
        _tally = Tally(tmp_path_factory.getbasetemp() / 'reliability.json')
    return _tally


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if _tally is None or not _tally.rows:
        return
    terminalreporter.section('Reliability')
    terminalreporter.write_line(_tally.markdown())
    terminalreporter.write_line(f'(counts also in {_tally.path})')
    if _tally.complete() and exitstatus == 0 and not _chaos['failed']:
        RELIABILITY_REPORT.parent.mkdir(parents=True, exist_ok=True)
        RELIABILITY_REPORT.write_text(f"Last full run of `tests/chaos`: {_chaos['passed']} passed, "
                                      f"{_chaos['seconds']:.0f} s.\n\n{_tally.markdown()}\n")
        terminalreporter.write_line(f'(a full passing run: table written to {RELIABILITY_REPORT}; '
                                    '`make docs` publishes it into docs/reliability.md)')


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    """A vhost of the test's own: the workers it kills or starves serve no other test."""
    with Vhost('rc_chaos') as vhost:
        yield vhost


@pytest.fixture(scope='session')
def supervised(tmp_path_factory: pytest.TempPathFactory, log_dir: Path) -> Iterator[System]:
    """`make run` in a temporary copy, with WEB_WAIT=1 so callers get a 202 and a task id quickly."""
    with running_system(tmp_path_factory.mktemp('supervised'), log_dir, WEB_WAIT='1',
                        ADD_CONCURRENCY='1') as system:
        yield system


@pytest.fixture(scope='session')
def hostname_alias() -> str:
    """This machine's host name, which resolves to a loopback address here."""
    import socket
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    if not addresses or not all(a.startswith('127.') or a == '::1' for a in addresses):
        pytest.skip(f'{name} resolves to {addresses}, not only to loopback')
    return name
