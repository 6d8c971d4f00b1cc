"""The Targets table of `make bench` (bench/reports/targets.py) from scripted rows."""

from __future__ import annotations

import argparse

from bench.bulk import BulkRun, goals
from bench.reports import performance
from bench.reports.bulk import table
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


def test_the_probe_table_sets_the_whole_stack_against_blackbox_exporters_process() -> None:
    ours = Row('/probe', 'probe', 60, 190.0, 11400, 300.0, 380.0, 400.0, 2850, 0, {}, {}, 200.0, 2.0, 50.0,
               {'web': 30.0, 'worker': 20.0, 'rabbitmq': 10.0, 'redis': 5.0, 'upstream': 40.0})
    theirs = Row('/probe', 'blackbox', 60, 195.0, 11700, 300.0, 380.0, 400.0, 2925, 0, {}, {}, 200.0, 2.0,
                 50.0, {'exporter': 13.0, 'upstream': 40.0})
    table = performance.probe_table([ours, theirs])
    assert table[2].endswith('| 60 | 190 | 300 | 3.42 |')  # (30 + 20 + 10 + 5) * 10 / 190; not the upstream
    assert table[3].endswith('| 60 | 195 | 300 | 0.67 |')
    assert table[-1] == ("- at 60 clients our stack answers 0.97 x blackbox_exporter's probes per second "
                         'and spends 5.1 x its CPU per probe.')


def test_bulk_targets_set_our_cpu_per_check_against_blackboxs_per_probe() -> None:
    runs = [BulkRun('ours', 'tcp', 5000, 5000, [0.3, 0.4], {'web': 0.5, 'worker': 1.0, 'upstream': 9.0}),
            BulkRun('blackbox', 'tcp', 5000, 5000, [0.9], {'exporter': 2.0}),
            BulkRun('ours', 'http', 5000, 5000, [0.8, 1.6], {'web': 1.0, 'worker': 2.0, 'redis': 0.5}),
            BulkRun('blackbox', 'http', 5000, 5000, [1.4], {'exporter': 3.0})]
    found = goals(runs, {'requests': 100, 'max_growth_kib': 1024})
    assert [(g['measured'], g['pass']) for g in found] == [
        ('0.75 x (0.300 vs 0.400 ms)', True),  # the upstream's CPU is not the stack's
        ('1.17 x (0.700 vs 0.600 ms)', False),
        ('1.60 s (worst of 2)', False),
        ('+1.0 MiB (worst process)', True)]
    shown = [{**vars(r), 'cpu_ms_per_check': r.cpu_ms_per_check} for r in runs]
    rows = table({'runs': shown, 'goals': found})
    assert '| 0.300 | web 0.100, worker 0.200 |' in rows[2]
