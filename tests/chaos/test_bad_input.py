"""Bad input, property-based: every endpoint's parameters, oversized requests, and an SSRF corpus
through the HTTP API.

Never a 5xx; always JSON, a 4xx with an ``error`` message or a legitimate 2xx/202. The gateway
used is ``idle_web`` (tests/conftest.py): no workers and CHECK_ALLOW empty, so whatever passes
validation stays in its private vhost's queues.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import routing
from testbed.vhosts import Vhost
from tests.chaos.harness import token
from tests.chaos.tally import Tally
from tests.processes import base_env, start_web, start_worker
from tests.test_policy import CARRIED
from tests.upstream import Upstream

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=False, database=None)
seen: Counter[str] = Counter()


@pytest.fixture(scope='module', autouse=True)
def bad_input_row(tally: Tally) -> Iterator[None]:
    yield
    if seen['requests']:
        tally.record_counts(
            '6a. bad input (hypothesis, all endpoints)', seen['requests'], seen['accepted'], 'n/a',
            'n/a', 'n/a',
            notes=(f"no worker: accepted = legitimate 2xx/202; {seen['4xx']} JSON 4xx; "
                   f"{seen['5xx']} 5xx; {seen['closed']} closed by tornado (>64 KiB)"))


def check_answer(response: requests.Response) -> None:
    seen['requests'] += 1
    status = response.status_code
    assert status < 500, (status, response.request.url[:300], response.text[:300])
    assert response.headers['Content-Type'].startswith('application/json'), response.headers
    body = response.json()
    assert 'Traceback' not in response.text
    if 400 <= status < 500:
        seen['4xx'] += 1
        assert isinstance(body.get('error'), str) and body['error'], body
    else:
        assert status in (200, 202), status
        seen['accepted'] += 1
        assert body.get('task_id') or 'results' in body, body


def get(url: str, params: dict) -> requests.Response:
    return requests.get(url, params={k: v for k, v in params.items() if v is not None}, timeout=15)


# Anything a query value can be: text, raw bytes (invalid UTF-8 included), numbers, booleans.
anything = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.binary(max_size=60),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(['', ' ', '0', '1', 'true', 'no', 'maybe', '-1', '1e999', 'nan', '0x10', '\x00', '٣']),
)
hosts = st.one_of(
    st.sampled_from(['8.8.8.8', '1.1.1.1', '127.0.0.1', 'localhost', '::1', '[::1]', '0', '2130706433',
                     '10.0.0.1', '169.254.169.254', 'no-such-host.invalid', 'a' * 300, 'é.com', '-', '.']),
    st.text(max_size=40),
)
urls = st.one_of(
    anything,
    st.builds(lambda scheme, host, port, path: f'{scheme}://{host}{port}{path}',
              st.sampled_from(['http', 'https', 'HTTP', 'ftp', 'file', 'gopher', 'javascript', '', 'h']),
              hosts,
              st.sampled_from(['', ':80', ':0', ':65536', ':-1', ':x', ':443', ':99999999999']),
              st.one_of(st.just('/'), st.text(max_size=40))),
)


@SETTINGS
@given(x=anything, y=anything)
def test_add_never_5xx(idle_web: str, x: object, y: object) -> None:
    check_answer(get(f'{idle_web}/add', {'x': x, 'y': y}))


@SETTINGS
@given(url=urls, host=st.one_of(st.none(), hosts), port=anything, ignore_result=anything,
       follow_redirects=anything, timeout=anything)
def test_check_never_5xx(idle_web: str, url: object, host: object, port: object, ignore_result: object,
                         follow_redirects: object, timeout: object) -> None:
    params = {'url': url, 'host': host, 'port': port, 'ignore_result': ignore_result,
              'follow_redirects': follow_redirects, 'timeout': timeout}
    check_answer(get(f'{idle_web}/check', params))


@settings(max_examples=100, deadline=None, database=None)
@given(task_id=st.one_of(st.uuids().map(str), st.text(max_size=80), st.binary(max_size=40)))
def test_result_never_5xx(idle_web: str, task_id: str | bytes) -> None:
    check_answer(requests.get(f'{idle_web}/result/{quote(task_id, safe="")}', timeout=15))


def raw_request(base: str, payload: bytes, timeout: float = 10.0) -> bytes:
    host, port = base.rsplit('/', 1)[1].split(':')
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        data = b''
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize('size, status', [(9 * 1024, 414), (60 * 1024, 414)])
def test_oversized_uri_is_a_json_414(idle_web: str, size: int, status: int) -> None:
    response = requests.get(f'{idle_web}/add?x=1&pad={"a" * size}', timeout=10)
    assert response.status_code == status
    assert 'longer than' in response.json()['error']
    seen['requests'] += 1
    seen['4xx'] += 1


@pytest.mark.parametrize('size', [17 * 1024, 60 * 1024])
def test_oversized_headers_are_a_json_431(idle_web: str, size: int) -> None:
    response = requests.get(f'{idle_web}/add', headers={'X-Pad': 'a' * size}, timeout=10)
    assert response.status_code == 431
    assert 'headers larger than' in response.json()['error']
    many = requests.get(f'{idle_web}/add', headers={f'X-Pad-{i}': 'a' * 100 for i in range(200)}, timeout=10)
    assert many.status_code == 431
    seen['requests'] += 2
    seen['4xx'] += 2


@pytest.mark.parametrize('what', ['header', 'uri'])
def test_beyond_tornados_64_kib_the_connection_is_closed(idle_web: str, what: str) -> None:
    """Past HTTPServer(max_header_size=64 KiB) tornado itself drops the connection before any
    handler runs: no answer at all (documented; not a 5xx, and the process is unharmed)."""
    pad = b'a' * (70 * 1024)
    if what == 'header':
        payload = b'GET /add HTTP/1.1\r\nHost: x\r\nX-Pad: ' + pad + b'\r\nConnection: close\r\n\r\n'
    else:
        payload = b'GET /add?x=' + pad + b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    answer = raw_request(idle_web, payload)
    assert answer == b'' or answer.startswith((b'HTTP/1.1 4', b'HTTP/1.0 4')), answer[:200]
    seen['requests'] += 1
    seen['closed'] += 1
    assert requests.get(f'{idle_web}/healthz', timeout=5).status_code in (200, 503)  # still serving


def test_malformed_requests_never_5xx(idle_web: str) -> None:
    for payload in (b'GET /add?x=%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                    b'GET /add?x=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                    b'GET /result/%ff%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                    b'GET /check?url=http://%5B::1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                    b'DELETE /add HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                    b'GET /add HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
                    b'GARBAGE\r\n\r\n'):
        answer = raw_request(idle_web, payload)
        status = int(answer.split(b' ', 2)[1])
        assert 200 <= status < 500, answer[:300]
        if not payload.startswith(b'GARBAGE'):  # tornado's own parser answers a bare 400
            assert b'application/json' in answer.split(b'\r\n\r\n', 1)[0], answer[:300]
        seen['requests'] += 1
        seen['4xx' if status >= 400 else 'accepted'] += 1


# --- SSRF corpus, through the HTTP API, on a gateway whose CHECK_ALLOW is empty.

def ssrf_corpus() -> dict[str, str]:
    me = socket.gethostname()
    return {
        'decimal': 'http://2130706433/', 'octal': 'http://0177.0.0.1/', 'octal-long': 'http://017700000001/',
        'hex': 'http://0x7f.0.0.1/', 'hex-long': 'http://0x7f000001/', 'short': 'http://127.1/',
        'zero': 'http://0/', 'loopback-2': 'http://127.0.0.2:8889/',
        'ipv4-mapped': 'http://[::ffff:127.0.0.1]/', 'ipv4-mapped-hex': 'http://[::ffff:7f00:1]/',
        'ipv4-mapped-long': 'http://[0:0:0:0:0:ffff:127.0.0.1]/', 'unspecified': 'http://0.0.0.0/',
        'unspecified6': 'http://[::]/', 'ipv6-loopback': 'http://[::1]/', 'ipv6-loopback-long': 'http://[0:0::1]/',
        'localhost': 'http://localhost/', 'LOCALHOST': 'http://LOCALHOST:6379/', 'localhost-dot': 'http://localhost./',
        'localhost-sub': 'http://foo.localhost/', 'hostname': f'http://{me}/', 'hostname-dot': f'http://{me}./',
        'metadata': 'http://169.254.169.254/latest/meta-data/', 'metadata-decimal': 'http://2852039166/',
        'link-local6': 'http://[fe80::1%25lo]/', 'private-10': 'http://10.0.0.1/', 'private-192': 'http://192.168.1.1/',
        'cgnat': 'http://100.64.0.1/', 'broadcast': 'http://255.255.255.255/', 'multicast': 'http://224.0.0.1/',
        'userinfo': 'http://8.8.8.8@127.0.0.1/', 'backslash': 'http://8.8.8.8\\@127.0.0.1/',
        'https-loopback': 'https://127.0.0.1:443/', 'redis-port': 'http://127.0.0.1:6379/',
        'file': 'file:///etc/passwd', 'file-host': 'file://localhost/etc/passwd', 'gopher': 'gopher://127.0.0.1:6379/_INFO',
        'ftp': 'ftp://127.0.0.1/', 'dict': 'dict://127.0.0.1:6379/info', 'no-scheme': '//127.0.0.1/',
        'javascript': 'javascript:alert(1)', 'data': 'data:text/plain,hi',
        # IPv6 forms that carry a refused IPv4 address (issue 17): 6to4, Teredo, NAT64, IPv4-compatible.
        **{f'carries {name}': f'http://[{address}]/' for name, (address, _carried) in CARRIED.items()},
    }


def test_ssrf_corpus_refused_before_sending(idle_web: str, idle_vhost: Vhost, tally: Tally) -> None:
    before = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    corpus = ssrf_corpus()
    answers = {name: get(f'{idle_web}/check', {'url': url}) for name, url in corpus.items()}
    me = socket.gethostname()
    for host in ('127.0.0.1', '2130706433', '0x7f.1', 'localhost', me, '::1', '::ffff:127.0.0.1',
                 '0.0.0.0', '169.254.169.254', '10.1.2.3', 'fe80::1', *(a for a, _c in CARRIED.values())):
        answers[f'tcp {host}'] = get(f'{idle_web}/check', {'host': host, 'port': '6379'})
    wrong = {name: (r.status_code, r.text[:200]) for name, r in answers.items()
             if r.status_code not in (400, 403) or not r.json().get('error')}
    # Each carrying form is a 403 whose reason names the IPv4 address it carries.
    carried = {f'carries {name}': ipv4 for name, (_address, ipv4) in CARRIED.items()} | \
        {f'tcp {address}': ipv4 for address, ipv4 in CARRIED.values()}
    unnamed = {name: (answers[name].status_code, answers[name].text[:200]) for name, ipv4 in carried.items()
               if answers[name].status_code != 403 or ipv4 not in answers[name].json()['error']}
    after = {q: idle_vhost.depth(q) for q in routing.ALL_QUEUES}
    assert not wrong, wrong
    assert not unnamed, unnamed
    assert after == before  # nothing was sent
    tally.record_counts('6b. SSRF corpus via HTTP (CHECK_ALLOW empty)', len(answers),
                        sum(r.status_code < 300 for r in answers.values()), 'n/a', 'n/a', 'n/a',
                        notes=f'{sum(r.status_code in (400, 403) for r in answers.values())} refused '
                              f'(400/403); queued: {sum(after.values()) - sum(before.values())}')


@pytest.fixture(scope='module')
def allow_by_name_system(log_dir: Path, hostname_alias: str) -> Iterator[str]:
    """A gateway and worker whose CHECK_ALLOW names only this machine's host name (which resolves
    to 127.0.0.1): the first hop to the upstream by that name is allowed, loopback is not."""
    vhost = Vhost('rc_chaos_redirect')
    env = base_env(BROKER_URL=vhost.url, CHECK_ALLOW=hostname_alias)
    worker = start_worker('check', env, log_dir, concurrency=8, name='chaos-worker-redirect')
    web, url = start_web(dict(env, WEB_WAIT='10'), log_dir, name='chaos-web-redirect')
    yield url
    web.stop()
    worker.stop()
    vhost.delete()


def test_redirect_to_loopback_is_refused_by_the_worker(allow_by_name_system: str, hostname_alias: str,
                                                       upstream: Upstream,
                                                       tally: Tally) -> None:
    web, port = allow_by_name_system, upstream.port
    allowed = f'http://{hostname_alias}:{port}'
    targets = {
        'loopback': f'http://127.0.0.1:{port}/secret', 'localhost': f'http://localhost:{port}/secret',
        'ipv6-loopback': f'http://[::1]:{port}/secret', 'decimal': f'http://2130706433:{port}/secret',
        'hex': f'http://0x7f.1:{port}/secret', 'mapped': f'http://[::ffff:127.0.0.1]:{port}/secret',
        'zero': f'http://0:{port}/secret', 'metadata': 'http://169.254.169.254/latest/meta-data/',
        'private': 'http://10.0.0.1/', 'file': 'file:///etc/passwd', 'gopher': f'gopher://127.0.0.1:{port}/_x',
        **{name: f'http://[{address}]:{port}/secret' for name, (address, _carried) in CARRIED.items()},
    }
    cases = {}
    for name, target in targets.items():
        tok = token()
        sep = '&' if '?' in target else '?'
        ours = target.startswith('http://') and f':{port}/' in target  # the upstream would count it
        hop = f'{target}{sep}t={tok}' if ours else target
        cases[name] = (tok, f'{allowed}/redirect?to={quote(hop, safe="")}')
    # Two hops: allowed -> allowed -> loopback.
    tok = token()
    inner = f'{allowed}/redirect?to={quote(f"http://127.0.0.1:{port}/secret?t={tok}", safe="")}'
    cases['two-hops'] = (tok, f'{allowed}/redirect?to={quote(inner, safe="")}')
    # Control: a redirect to the allowed name is followed (so the refusals are the policy's doing).
    control = token()
    cases['control'] = (control, f'{allowed}/redirect?to={quote(f"{allowed}/ok?t={control}", safe="")}')

    with ThreadPoolExecutor(len(cases)) as pool:
        answers = dict(zip(cases, pool.map(
            lambda case: requests.get(f'{web}/check', params={'url': case[1], 'follow_redirects': 1},
                                      timeout=20), cases.values()), strict=True))
    results = {name: (r.status_code, r.json()) for name, r in answers.items()}
    assert results['control'][0] == 200 and results['control'][1]['ok'] is True, results['control']
    assert upstream.token_count(control) == 1
    leaked = {name: upstream.token_count(tok) for name, (tok, _url) in cases.items()
              if name != 'control' and upstream.token_count(tok)}
    not_refused = {name: body for name, (status, body) in results.items() if name != 'control' and
                   not (status == 200 and body['ok'] is False and body['error'].startswith('refused'))}
    assert not leaked, leaked
    assert not not_refused, not_refused
    # Every case is a check that ran to a result: a 200 carrying it (refused or, for the control, ok).
    accepted = [name for name, (status, body) in results.items() if status == 200 and body.get('task_id')]
    completed = [name for name in accepted if 'ok' in results[name][1]]
    duplicated = sum(max(0, upstream.token_count(tok) - 1) for tok, _url in cases.values())
    refused = sum(body['error'].startswith('refused') for name, (_status, body) in results.items()
                  if name != 'control')
    tally.record_counts('6c. redirect to loopback (first hop allowed by name)', len(cases), len(accepted),
                        len(completed), len(accepted) - len(completed), duplicated,
                        notes=f'{refused} hops refused by the worker; {len(leaked)} reached a forbidden '
                              f'target; control followed')


def test_gateway_still_healthy_after_bad_input(idle_web: str) -> None:
    """Sanity: the gateway is still healthy after the whole bad-input run."""
    started = time.monotonic()
    assert requests.get(f'{idle_web}/healthz', timeout=5).status_code == 200
    assert requests.get(f'{idle_web}/result/{uuid.uuid4()}', timeout=5).json()['status'] == 'PENDING'
    assert time.monotonic() - started < 2
