"""The gateway's OpenAPI 3.1 contract, openapi.yaml, read once and served as JSON."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

PATH = Path(__file__).with_name('openapi.yaml')


def document() -> dict[str, Any]:
    return yaml.safe_load(PATH.read_text())


@functools.cache
def document_json() -> bytes:
    return json.dumps(document()).encode()
