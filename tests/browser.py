"""Headless Chromium (Debian's package) driven by Playwright, with the flags this sandbox needs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
# Without the background-networking flags Chromium keeps dialling out, which this machine refuses.
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_path(default_dir: Path, name: str) -> Path:
    """Where to save a screenshot: SCREENSHOT_DIR (e.g. docs/) when regenerating the docs."""
    return Path(os.environ.get('SCREENSHOT_DIR', default_dir)) / name
