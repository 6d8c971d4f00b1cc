"""Every test has exactly one of the markers `make unit`, `make integration`, `make chaos` and
`make hosts` select (tests/conftest.py applies them): each target runs its share of the suite,
and together they run all of it, as `make test` does."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import pytest

from testbed.process import ROOT

KINDS = ('unit', 'integration', 'chaos', 'hosts')


def test_every_test_has_exactly_one_of_unit_integration_chaos_hosts() -> None:
    none = f"not ({' or '.join(KINDS)})"
    several = ' or '.join(f'({a} and {b})' for a, b in itertools.combinations(KINDS, 2))
    argv = [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider']
    collected = subprocess.run([*argv, '-m', f'{none} or {several}'], cwd=ROOT, capture_output=True,
                               text=True, timeout=120)
    # Exit code 5: no test has none or several; the tests it lists otherwise are the culprits.
    assert collected.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, collected.stdout + collected.stderr
    deselected = re.search(r'(\d+) deselected', collected.stdout)
    assert deselected and int(deselected[1]) > 0, collected.stdout  # the suite itself was collected
