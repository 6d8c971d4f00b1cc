"""`make bench` is not part of the test suite (it takes half an hour), so its code paths rot
unseen: a rename once broke `--overload` without a test noticing. This runs the overload bench
in miniature, on its own vhost and result database, and checks that it reports both runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.process import child_env
from tests import REDIS_TEST_URL


def test_the_overload_bench_runs_and_reports(tmp_path: Path) -> None:
    subprocess.run([sys.executable, '-m', 'bench', '--overload', '--out', str(tmp_path),
                    '--redis-url', REDIS_TEST_URL, '--sustained-minutes', '0.1',
                    '--overload-seconds', '4', '--overload-clients', '40'],
                   env=child_env(), check=True, timeout=300, stdout=subprocess.DEVNULL)
    result = json.loads((tmp_path / 'overload.json').read_text())
    sustained, overload = result['sustained'], result['overload']
    assert sustained['minutes'] and sum(m['requests'] for m in sustained['minutes']) > 0, sustained
    assert overload['statuses'].get('200', 0) > 0, overload
    assert (tmp_path / 'overload.md').read_text().startswith('# Bounded under load')
