"""/probe side by side with Debian's blackbox_exporter: one modules file, the same local targets,
the same answers. Also /check's richer result: phases that add up, TLS facts, body patterns, and a
hostile pattern that cannot hold a worker."""

from __future__ import annotations

import datetime
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme
import yaml
from prometheus_client.parser import text_string_to_metric_families

from testbed.blackbox import blackbox_exporter
from testbed.process import free_port
from tests.processes import start_web

BODY = b'Hello from the probe test'
# Compared value by value; every other metric blackbox gives is compared by name.
COMPARED = ('probe_success', 'probe_http_status_code', 'probe_http_redirects', 'probe_failed_due_to_regex',
            'probe_http_ssl', 'probe_ssl_earliest_cert_expiry')
NOT_AFTER = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=10)


class Targets:
    """HTTP and HTTPS on free loopback ports: /ok, /404, /r<n> (a chain of n redirects to /ok),
    /error (a body with ERROR), /slow (3 s), /aaaa (64 KiB of 'a', for a hostile pattern)."""

    def __init__(self, ca: trustme.CA) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self) -> None:  # http.server's naming
                path = self.path
                if path.startswith('/r') and path[2:].isdigit():
                    hops = int(path[2:])
                    self.send_response(302)
                    self.send_header('Location', f'/r{hops - 1}' if hops > 1 else '/ok')
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                if path == '/slow':
                    time.sleep(3)
                body = {'/error': b'ERROR: out of order', '/aaaa': b'a' * 65536}.get(path, BODY)
                self.send_response(404 if path == '/404' else 200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.plain = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.tls = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert('localhost', '127.0.0.1', not_after=NOT_AFTER).configure_cert(context)
        self.tls.socket = context.wrap_socket(self.tls.socket, server_side=True)
        for server in (self.plain, self.tls):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.http = f'http://127.0.0.1:{self.plain.server_port}'
        self.https = f'https://localhost:{self.tls.server_port}'

    def close(self) -> None:
        for server in (self.plain, self.tls):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope='module')
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope='module')
def targets(ca: trustme.CA) -> Iterator[Targets]:
    served = Targets(ca)
    yield served
    served.close()


@pytest.fixture(scope='module')
def modules_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One file for both exporters, in blackbox_exporter's syntax."""
    home = tmp_path_factory.mktemp('probe')
    ca.cert_pem.write_to_path(str(home / 'ca.pem'))
    ip4 = {'preferred_ip_protocol': 'ip4'}
    modules = {
        'http_2xx': {'prober': 'http', 'http': ip4},
        'http_no_error': {'prober': 'http', 'http': {**ip4, 'fail_if_body_matches_regexp': ['ERROR']}},
        'http_hello': {'prober': 'http', 'http': {**ip4, 'fail_if_body_not_matches_regexp': ['Hello from']}},
        'http_tls': {'prober': 'http', 'http': {**ip4, 'tls_config': {'ca_file': 'ca.pem'}}},
        'http_1s': {'prober': 'http', 'timeout': '1s', 'http': ip4},
        'tcp_connect': {'prober': 'tcp', 'tcp': ip4},
        'tcp_tls': {'prober': 'tcp', 'tcp': {**ip4, 'tls': True, 'tls_config': {'ca_file': 'ca.pem'}}},
    }
    path = home / 'probe.yml'
    path.write_text(yaml.safe_dump({'modules': modules}))
    return path


@pytest.fixture(scope='module')
def blackbox(modules_file: Path, log_dir: Path) -> Iterator[str]:
    with blackbox_exporter(modules_file, log_dir) as (url, _pid):
        yield url


@pytest.fixture(scope='module')
def ours(env: dict[str, str], log_dir: Path, modules_file: Path, workers: dict) -> Iterator[str]:
    proc, url = start_web(dict(env, PROBE_CONFIG=str(modules_file)), log_dir, name='web-probe')
    yield url
    proc.stop()


def metrics(base: str, module: str, target: str) -> dict[str, float]:
    answer = requests.get(f'{base}/probe', params={'module': module, 'target': target}, timeout=40)
    assert answer.status_code == 200, answer.text
    assert answer.headers['Content-Type'].startswith('text/plain; version=0.0.4')
    return {sample.name: sample.value for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}


CASES = {  # name: (module, target path or TCP, on which server)
    'ok': ('http_2xx', '/ok', 'http'),
    '404': ('http_2xx', '/404', 'http'),
    'redirects': ('http_2xx', '/r3', 'http'),
    'https with its CA': ('http_tls', '/ok', 'https'),
    'https without its CA': ('http_2xx', '/ok', 'https'),
    'body matches': ('http_no_error', '/error', 'http'),
    'body does not match': ('http_hello', '/error', 'http'),
    'body passes both': ('http_hello', '/ok', 'http'),
    'refused port': ('http_2xx', 'refused', 'http'),
    'slower than the timeout': ('http_1s', '/slow', 'http'),
    'tcp': ('tcp_connect', 'tcp', 'http'),
    'tcp refused': ('tcp_connect', 'refused-tcp', 'http'),
    'tcp with tls': ('tcp_tls', 'tcp', 'https'),
}


def target_of(targets: Targets, path: str, server: str) -> str:
    base = targets.https if server == 'https' else targets.http
    if path == 'refused':
        return f'http://127.0.0.1:{free_port()}/'
    if path == 'refused-tcp':
        return f'127.0.0.1:{free_port()}'
    if path == 'tcp':
        return base.split('//', 1)[1]
    return base + path


@pytest.mark.parametrize('case', CASES, ids=CASES)
def test_probe_answers_as_blackbox_exporter_does(case: str, targets: Targets, blackbox: str,
                                                 ours: str) -> None:
    module, path, server = CASES[case]
    target = target_of(targets, path, server)
    theirs, mine = metrics(blackbox, module, target), metrics(ours, module, target)
    assert set(theirs) <= set(mine), set(theirs) - set(mine)
    for name in COMPARED:
        assert mine.get(name) == theirs.get(name), (name, mine.get(name), theirs.get(name))
    if 'probe_ssl_earliest_cert_expiry' in theirs:
        assert mine['probe_ssl_earliest_cert_expiry'] == NOT_AFTER.timestamp()


def test_probe_phases_add_up_to_its_duration(targets: Targets, ours: str) -> None:
    for target in (f'{targets.http}/r2', f'{targets.https}/ok'):
        text = requests.get(f'{ours}/probe', params={'module': 'http_tls', 'target': target}, timeout=40).text
        samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
        phases = sum(s.value for s in samples if s.name == 'probe_http_duration_seconds')
        duration = next(s.value for s in samples if s.name == 'probe_duration_seconds')
        assert next(s.value for s in samples if s.name == 'probe_success') == 1, text
        assert abs(duration - phases) < 0.005, text


def test_probe_refuses_a_private_target_without_a_task(ours: str) -> None:
    answer = requests.get(f'{ours}/probe', params={'module': 'http_2xx', 'target': 'http://10.1.2.3/',
                                                  'debug': 'true'}, timeout=10)
    assert answer.status_code == 200
    assert 'target refused, no check sent' in answer.text and 'private-use' in answer.text
    assert '\nprobe_success 0\n' in answer.text


def test_probe_bad_requests_are_clear_4xx(ours: str) -> None:
    for params, status, message in (({'module': 'http_2xx'}, 400, 'Target parameter is missing'),
                                    ({'module': 'nosuch', 'target': 'x'}, 404, 'Unknown module')):
        answer = requests.get(f'{ours}/probe', params=params, timeout=10)
        assert answer.status_code == status and message in answer.json()['error']
    answer = requests.get(f'{ours}/probe', params={'target': 'x'}, timeout=10,
                          headers={'X-Prometheus-Scrape-Timeout-Seconds': 'abc'})
    assert answer.status_code == 400 and 'Failed to parse timeout' in answer.json()['error']


def test_check_reports_phases_tls_and_body(targets: Targets, ours: str) -> None:
    answer = requests.get(f'{ours}/check', params={'url': f'{targets.https}/ok', 'insecure': 1},
                          timeout=20).json()
    assert answer['ok'] is True and answer['ssl'] is True and answer['http_version'] == '1.1'
    assert answer['tls']['version'].startswith('TLS 1.') and answer['tls']['cert_not_after'] == \
        NOT_AFTER.strftime('%Y-%m-%dT%H:%M:%SZ')
    assert 9 < answer['tls']['days_left'] <= 10
    assert abs(sum(answer['phases_ms'].values()) - answer['latency_ms']) < 5, answer
    verified = requests.get(f'{ours}/check', params={'url': f'{targets.https}/ok'}, timeout=20).json()
    assert verified['ok'] is False and verified['error'].startswith('certificate verify failed')
    body = requests.get(f'{ours}/check', params={'url': f'{targets.http}/error', 'body_not_matches': 'Hello'},
                        timeout=20).json()
    assert body['ok'] is False and body['failed_due_to_regex'] is True and body['status'] == 200
    tcp = requests.get(f'{ours}/check', params={'host': 'localhost', 'port': targets.tls.server_port,
                                               'tls': 1, 'insecure': 1}, timeout=20).json()
    assert tcp['ok'] is True and tcp['tls']['subject_alternative'] == 'localhost'


def test_check_refuses_bad_options_with_a_400(targets: Targets, ours: str) -> None:
    for params, message in (({'valid_status': '700'}, 'outside 100-599'), ({'method': 'POST'}, 'method'),
                            ({'body_matches': '(a'}, 'not a valid RE2'), ({'body_matches': 'a' * 257}, '256'),
                            ({'ip_protocol': 'ip5'}, 'ip_protocol'), ({'tls': 1}, 'tls applies')):
        answer = requests.get(f'{ours}/check', params={'url': f'{targets.http}/ok', **params}, timeout=10)
        assert answer.status_code == 400 and message in answer.json()['error'], (params, answer.text)


def test_a_hostile_pattern_cannot_hold_a_worker(targets: Targets, ours: str) -> None:
    """(a+)+$ against 64 KiB of 'a' takes Python's re years; RE2 answers in linear time."""
    started = time.monotonic()
    params = {'url': f'{targets.http}/aaaa', 'body_not_matches': '(a+)+b$'}
    answer = requests.get(f'{ours}/check', params=params, timeout=20).json()
    assert answer['ok'] is False and answer['failed_due_to_regex'] is True
    assert time.monotonic() - started < 2
    assert requests.get(f'{ours}/check', params={'url': f'{targets.http}/ok'}, timeout=5).json()['ok'] is True
