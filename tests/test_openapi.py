"""Schemathesis against a running gateway with real workers: every answer conforms to openapi.yaml
(status, content type, headers, body), no 5xx but the documented 502/503, and answers in time.

The gateway may check only the test upstream (CHECK_ALLOW names its address, 127.0.0.77), and the
targets Schemathesis makes up are pointed there before they are sent: a public address would
otherwise be a real check, run by a real worker, against somebody's host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
)

import routing
from probe.policy import TargetRefused, parse_url, validate_host
from testbed.process import ROOT, Proc
from tests.processes import start_web
from tests.upstream import Upstream

UPSTREAM_HOST = '127.0.0.77'
WAIT = 2.0  # WEB_WAIT of the fuzzed gateway: a slower answer is a 202
TASK_API_TOKEN = 'fuzzed-gateway-task-api-token'
TASK_API = {'/', '/apply-async/{task}/', '/apply/{task}/', '/tasks/result/{task_id}/',
            '/tasks/revoke/{task_id}/'}
schema = schemathesis.openapi.from_path(
    ROOT / 'gateway' / 'openapi.yaml',
    config=SchemathesisConfig.from_path(Path(__file__).with_name('schemathesis.toml')))


@pytest.fixture(scope='module')
def fuzz_upstream() -> Iterator[Upstream]:
    server = Upstream(UPSTREAM_HOST)
    yield server
    server.close()


@pytest.fixture(scope='module')
def fuzzed_web(env: dict[str, str], log_dir: Path, workers: dict[str, Proc],
               fuzz_upstream: Upstream) -> Iterator[str]:
    proc, url = start_web(dict(env, WEB_WAIT=str(WAIT), CHECK_ALLOW=f'{UPSTREAM_HOST}/32',
                               TASK_API_TASKS=routing.ADD, TASK_API_TOKEN=TASK_API_TOKEN), log_dir,
                          name='web-openapi')
    yield url
    proc.stop()


def well_formed(value: object, validate: Callable[[str], object]) -> bool:
    if not isinstance(value, str):
        return False
    try:
        validate(value)
    except TargetRefused:
        return False
    return True


def confine(query: dict | None, upstream: Upstream) -> None:
    """Point a well-formed target at the upstream; malformed ones stay, for the gateway to refuse."""
    if not query:
        return
    if well_formed(query.get('url'), parse_url):
        query['url'] = f'{urlsplit(query["url"]).scheme}://{UPSTREAM_HOST}:{upstream.port}/fuzz'
    if well_formed(query.get('host'), validate_host):
        query['host'] = UPSTREAM_HOST


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_answers_conform_to_the_contract(case, fuzzed_web: str, fuzz_upstream: Upstream) -> None:
    confine(case.query, fuzz_upstream)
    if isinstance(case.body, dict) and isinstance(case.body.get('targets'), list):
        for target in case.body['targets']:
            confine(target if isinstance(target, dict) else None, fuzz_upstream)
    # A 5xx fails status_code_conformance unless the operation documents it (502, 503), so
    # Schemathesis's blanket "no 5xx" check is replaced by the contract's.
    excluded = [not_a_server_error]
    if case.operation.path in TASK_API:
        # The token Schemathesis cannot know, so every call carries it, and the refusals without it
        # are tests/unit/test_task_api.py's. A task's arguments are bound to its signature: valid
        # JSON of the right shape can still be a 400.
        case.headers = {**(case.headers or {}), 'Authorization': f'Bearer {TASK_API_TOKEN}'}
        excluded += [positive_data_acceptance, missing_required_header, ignored_auth]
    if case.operation.path in ('/check', '/checks', '/probe'):
        # The rules across parameters (url, or host and port; ignore_result with url only), what
        # makes a URL or a host well formed, and which locations exist are beyond a schema: a
        # value of the right type can still be a 400, as the document says.
        excluded.append(positive_data_acceptance)
    if case.operation.path == '/checks':
        # A target that breaks the Target schema is that target's result (refused, and why), not
        # a 400 for the whole body: the body's own rules are tests/test_bulk.py's BAD_BODIES.
        excluded.append(negative_data_rejection)
    response = case.call_and_validate(base_url=fuzzed_web, excluded_checks=excluded, timeout=15)
    assert response.elapsed < WAIT + 2, response.elapsed  # seconds


def test_the_served_document_is_openapi_yaml(fuzzed_web: str) -> None:
    served = requests.get(f'{fuzzed_web}/openapi.json', timeout=10).json()
    assert served == schema.raw_schema


def test_the_fuzzed_checks_ran_on_real_workers(fuzz_upstream: Upstream) -> None:
    """Runs after the fuzzing above: its route checks reached the upstream through the workers."""
    assert fuzz_upstream.count('/fuzz') > 0
