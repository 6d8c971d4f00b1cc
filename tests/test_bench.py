"""`make bench` is not part of the test suite (it takes half an hour), so its code paths rot
unseen: a rename once broke `--overload` without a test noticing. This runs the overload bench
in miniature, on its own vhost and result database, and checks that it reports both runs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from bench import stacks
from testbed.process import child_env
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


def test_the_bare_gateway_answers_a_check_as_web_py_does(tmp_path: Path) -> None:
    """The bench's bare gateway (the libraries alone) does the work web.py does for a /check;
    without it its CPU figure would compare web.py with nothing."""
    with stacks.upstream(tmp_path) as (upstream_url, _), \
            stacks.celery_gateway(tmp_path, REDIS_TEST_URL, 'bare', 1, 4) as gateway:
        query = urllib.parse.urlencode({'url': upstream_url})
        with urllib.request.urlopen(f'{gateway.url}/check?{query}', timeout=10) as answer:
            body = json.loads(answer.read())
    assert body['ok'] is True and body['status'] == 200 and body['url'] == upstream_url, body
    assert body['task_id'], body
