"""Debian's blackbox_exporter on a free port, the reference /probe is compared with (tests, bench).

Its package's own service is never started (scripts/prometheus.sh installs it without); this runs
the binary with a modules file of the caller's, relative paths in it (ca_file) read beside it.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.process import Proc, free_port, wait_for

BINARY = '/usr/bin/prometheus-blackbox-exporter'


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(f'{url}/-/healthy', timeout=2) as answer:
        return answer.status == 200


@contextmanager
def blackbox_exporter(modules_file: Path, log_dir: Path) -> Iterator[tuple[str, int]]:
    """(its base URL, its pid) while it runs; stopped on the way out."""
    port = free_port()
    argv = [BINARY, f'--config.file={modules_file}', f'--web.listen-address=127.0.0.1:{port}']
    proc = Proc('blackbox', argv, {'PATH': '/usr/bin:/bin'}, log_dir, cwd=modules_file.parent)
    url = f'http://127.0.0.1:{port}'
    try:
        wait_for(lambda: _healthy(url), 30, 0.1, 'blackbox_exporter up')
        yield url, proc.pid
    finally:
        proc.stop()
