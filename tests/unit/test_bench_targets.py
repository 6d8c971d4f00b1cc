"""The Targets table of `make bench` (bench/reports/targets.py) from scripted rows."""

from __future__ import annotations

import argparse

from bench.reports.rows import Row
from bench.reports.targets import targets


def check_row(stack: str, qps: float, web_pct: float, endpoint: str = '/check') -> Row:
    return Row(endpoint, stack, 60, qps, int(qps * 60), 300.0, 380.0, 400.0, int(qps * 15), 0, {}, {},
               200.0, 2.0, 50.0, {'web': web_pct})


def test_web_cpu_per_check_is_shown_beside_tornados_floor_and_the_bare_gateway() -> None:
    rows = [check_row('c', 190.0, 30.0), check_row('floor', 198.0, 12.0), check_row('bare', 190.0, 28.0)]
    table = targets(rows, argparse.Namespace(clients=60), {})
    web = next(t for t in table if t['target'].startswith('web CPU per /check'))
    assert web == {'target': 'web CPU per /check at 60 <= 1.2 ms', 'pass': False,
                   'measured': '1.58 ms (Tornado alone, the floor: 0.61 ms; '
                               'the libraries alone, bare: 1.47 ms)'}
    without_references = targets(rows[:1], argparse.Namespace(clients=60), {})
    assert without_references[0]['measured'] == '1.58 ms'


def test_web_cpu_per_add_is_shown_beside_the_bare_gateways_add_only() -> None:
    rows = [check_row('ours', 500.0, 60.0, '/add'), check_row('bare', 520.0, 52.0, '/add'),
            check_row('floor', 198.0, 12.0)]
    web = next(t for t in targets(rows, argparse.Namespace(clients=60), {})
               if t['target'].startswith('web CPU per /add'))
    assert web['measured'] == '1.20 ms (the libraries alone, bare: 1.00 ms)'
