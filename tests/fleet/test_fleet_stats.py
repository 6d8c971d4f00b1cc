"""CPU and memory per process (children included) and per host, from the fleet RPC extension
loaded into a real supervisord; a server without it shows no figures."""

from __future__ import annotations

import pytest

from tests.fleet.servers import PY, Supervisord, sleeper, wait_until

BURN = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'while True: pass']); "
        'time.sleep(1e6)')
HOG = 'import time; data = b"x" * (100 * 2**20); time.sleep(1e6)'  # 100 MiB, written so it is resident


@pytest.fixture
def epsilon(tmp_path):
    server = Supervisord(tmp_path, 'epsilon', {'program:burner': sleeper(command=f'{PY} -c "{BURN}"'),
                                              'program:hog': sleeper(command=f"{PY} -c '{HOG}'")}, stats=True)
    try:
        yield server.start()
    finally:
        server.stop()


def test_cpu_and_memory_per_process_with_children_and_per_host(epsilon, supervisors, fleet_factory):
    fleet = fleet_factory([epsilon, supervisors['beta']])
    http = fleet.session()

    def figures() -> dict[str, dict]:
        processes = {p['id']: p for p in fleet.get(http, '/api/processes')['processes']}
        return processes if processes.get('epsilon:burner:burner', {}).get('cpu') is not None else {}
    processes = wait_until(figures, 10, 'CPU figures')
    # The burner's CPU is its child's: a busy loop (at least a fifth of a core on a busy machine).
    assert processes['epsilon:burner:burner']['cpu'] > 20
    assert processes['epsilon:hog:hog']['rss_kb'] > 100 * 1024
    assert processes['epsilon:hog:hog']['cpu'] < 20
    assert all(p['cpu'] is None and p['rss_kb'] is None for p in processes.values() if p['server'] == 'beta')
    # Per host: one point per poll, for the sparklines.
    history = fleet.get(http, '/api/servers/epsilon')['history']
    assert history and history[-1][1] > 20 and history[-1][2] > 100 * 1024
    assert fleet.get(http, '/api/servers/beta')['history'] == []
    # Per process too, [CPU %, RSS KiB], for theirs.
    burner = fleet.get(http, '/api/servers/epsilon')['process_history']['epsilon:burner:burner']
    assert burner and burner[-1][0] > 20
    assert fleet.get(http, '/api/servers/beta')['process_history'] == {}


def test_the_servers_view_shows_figures_and_sparklines(epsilon, fleet_factory, open_page):
    sync_api = pytest.importorskip('playwright.sync_api')
    fleet = fleet_factory([epsilon])
    page = open_page(fleet)
    try:
        page.goto(f'{fleet.base}/servers')
        stats = page.locator('[data-host-stats="epsilon"]')
        sync_api.expect(stats).to_contain_text('memory')
        page.wait_for_function('() => document.querySelector("[data-host-stats=epsilon] polyline")'
                               '.getAttribute("points").split(" ").length >= 3')  # it grows live
        sync_api.expect(page.locator('td.mem[data-id="epsilon:hog:hog"]')).to_contain_text(' MB')
        sync_api.expect(page.locator('td.cpu[data-id="epsilon:burner:burner"]')).to_contain_text('%')
        # Per process too, growing live.
        for cell in ('td.cpu[data-id="epsilon:burner:burner"]', 'td.mem[data-id="epsilon:hog:hog"]'):
            line = f'document.querySelector({cell!r} + " polyline")'
            page.wait_for_function(f'() => ({line}?.getAttribute("points") || "").split(" ").length >= 3')
    finally:
        page.context.close()
