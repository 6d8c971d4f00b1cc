"""The dashboard in a real headless Chromium (Debian's), driven by Playwright.

Set FLEET_SCREENSHOT=docs/fleet-groups.png to also save a screenshot of the groups view.
"""

from __future__ import annotations

import os

import pytest

from tests.browser import screenshot_path
from tests.fleet.servers import ROOT

sync_api = pytest.importorskip('playwright.sync_api')


@pytest.fixture(scope='module')
def page(fleet, open_page):
    page = open_page(fleet)
    yield page
    page.context.close()


def test_servers_view_shows_both_hosts(page, fleet):
    page.goto(f'{fleet.base}/servers')
    for name in ('alpha', 'beta'):
        section = page.locator(f'section[data-server="{name}"]')
        sync_api.expect(section.locator('header .badge')).to_have_text('RUNNING')
        sync_api.expect(section.locator('header .location')).to_have_text(f'dc-{name}')  # from its config
    sync_api.expect(page.locator('#live')).to_have_text('live')
    fatal = page.locator('tr[data-id="alpha:missing:missing"]')
    sync_api.expect(fatal.locator('.state')).to_have_text('FATAL')
    sync_api.expect(fatal.locator('td.description')).to_contain_text("can't find command")


def test_restarting_a_group_updates_states_live(page, fleet):
    page.goto(f'{fleet.base}/groups')
    group = page.locator('section[data-group="sleepers"]')
    rows = {name: group.locator(f'tr[data-id="{name}:sleeper:sleeper"]') for name in ('alpha', 'beta')}
    for row in rows.values():
        sync_api.expect(row.locator('.state')).to_have_text('RUNNING')
    pids = {name: row.locator('td.pid').inner_text() for name, row in rows.items()}
    page.evaluate('window.notReloaded = true')
    page.once('dialog', lambda dialog: dialog.accept())
    group.locator('header button[data-action="restart"]').click()
    sync_api.expect(page.locator('#results-title')).to_have_text('restart: 2 ok, 0 failed')
    for name, row in rows.items():
        sync_api.expect(row.locator('td.pid')).not_to_have_text(pids[name])
        sync_api.expect(row.locator('.state')).to_have_text('RUNNING')
    assert page.evaluate('window.notReloaded') is True, 'the page changed without a reload'
    screenshot = os.environ.get('FLEET_SCREENSHOT')
    if screenshot:
        page.locator('#results-close').click()
        page.screenshot(path=str(ROOT / screenshot), full_page=True)


def test_live_log_tail(page, fleet):
    page.goto(f'{fleet.base}/processes')
    page.fill('#search', 'ticker')
    sync_api.expect(page.locator('tbody tr')).to_have_count(1)
    page.locator('tr[data-id="alpha:ticker:ticker"] button[data-tail]').click()
    tail = page.locator('#tail-text')
    sync_api.expect(tail).to_contain_text('fleet tick')
    first = tail.inner_text().strip().splitlines()[-1]
    next_number = int(first.split()[-1]) + 3
    sync_api.expect(tail).to_contain_text(f'fleet tick {next_number}\n')  # new lines keep arriving
    page.fill('#tail-search', f'tick {next_number}')
    sync_api.expect(page.locator('#tail-found')).to_have_text(f'fleet tick {next_number}')
    page.fill('#tail-search', '')
    download = page.locator('#tail-download').get_attribute('href')
    assert download == '/api/processes/alpha%3Aticker%3Aticker/log?stream=stdout'
    page.goto(f'{fleet.base}/servers')
    page.click('button[data-main-log="alpha"]')
    sync_api.expect(page.locator('#tail-text')).to_contain_text('supervisord started')


def test_selection_and_update_buttons(page, fleet):
    page.goto(f'{fleet.base}/processes')
    page.fill('#search', 'alpha:pair')
    sync_api.expect(page.locator('tbody tr')).to_have_count(2)
    page.check('thead input[type=checkbox]')
    sync_api.expect(page.locator('#selection')).to_have_text('2 selected')
    page.once('dialog', lambda dialog: dialog.accept())
    page.click('button[data-selection="restart"]')
    sync_api.expect(page.locator('#results-title')).to_have_text('restart: 2 ok, 0 failed')
    page.goto(f'{fleet.base}/servers')
    page.click('button[data-update="beta"]')
    sync_api.expect(page.locator('#results-title')).to_have_text('update beta: done')
    sync_api.expect(page.locator('#results-body')).to_contain_text('added')


def test_stop_selected_asks_first_and_changes_update_rows_in_place(page, fleet, supervisors):
    page.goto(f'{fleet.base}/processes')
    page.fill('#search', 'alpha:pair')
    one, two = (page.locator(f'tr[data-id="alpha:pair:{name}"]') for name in ('one', 'two'))
    sync_api.expect(one.locator('.state')).to_have_text('RUNNING')
    one.locator('input[type=checkbox]').check()
    asked = []
    page.once('dialog', lambda dialog: asked.append(dialog.message) or dialog.dismiss())
    page.click('button[data-selection="stop"]')
    assert asked == ['stop 1 selected processes?']
    assert supervisors['alpha'].info('pair:one')['statename'] == 'RUNNING', 'dismissed: nothing stopped'
    # An update changes only the rows of the processes that changed: the others stay the same nodes.
    two.evaluate('row => { row.dataset.marked = "yes"; }')
    page.once('dialog', lambda dialog: dialog.accept())
    page.click('button[data-selection="stop"]')
    sync_api.expect(page.locator('#results-title')).to_have_text('stop: 1 ok, 0 failed')
    sync_api.expect(one.locator('.state')).to_have_text('STOPPED')
    assert two.get_attribute('data-marked') == 'yes', 'the unchanged row was rebuilt'
    one.locator('button[data-action="start"]').click()
    sync_api.expect(one.locator('.state')).to_have_text('RUNNING')


def test_signal_menu_and_the_audit_view(page, fleet):
    page.goto(f'{fleet.base}/processes')
    page.fill('#search', 'alpha:celery')
    row = page.locator('tr[data-id="alpha:celery:celery"]')
    sync_api.expect(row.locator('.state')).to_have_text('RUNNING')
    page.once('dialog', lambda dialog: dialog.accept())
    row.locator('select').select_option('USR1')
    sync_api.expect(page.locator('#results-title')).to_have_text('signal: 1 ok, 0 failed')
    page.click('nav a[href="/audit"]')
    page.fill('input[data-audit-filter="action"]', 'signal')
    first = page.locator('table.audit tbody tr').first
    sync_api.expect(first).to_contain_text('signal USR1')
    sync_api.expect(first).to_contain_text('alpha:celery:celery')
    page.fill('input[data-audit-filter="action"]', 'no such action')
    sync_api.expect(page.locator('table.audit tbody')).to_have_text('Nothing recorded.')


@pytest.mark.parametrize(('name', 'context'), [
    ('fleet-phone.png', {'viewport': {'width': 375, 'height': 740}, 'is_mobile': True}),
    ('fleet-dark.png', {'color_scheme': 'dark'}),
])
def test_phones_and_dark_mode(fleet, open_page, tmp_path, name, context):
    """Set SCREENSHOT_DIR=docs to refresh the screenshots in docs/."""
    page = open_page(fleet, **context)
    try:
        page.goto(f'{fleet.base}/servers')
        sync_api.expect(page.locator('section[data-server="alpha"] header .badge')).to_have_text('RUNNING')
        sync_api.expect(page.locator('td.mem[data-id="alpha:ticker:ticker"] svg.spark')).to_be_visible()
        # Nothing wider than the screen: wide tables scroll inside their cards.
        assert page.evaluate('document.documentElement.scrollWidth') <= page.viewport_size['width']
        background = page.evaluate('getComputedStyle(document.body).backgroundColor')
        dark = sum(int(c) for c in background[4:-1].split(',')[:3]) < 150
        assert dark is (context.get('color_scheme') == 'dark'), background
        page.screenshot(path=str(screenshot_path(tmp_path, name)))
    finally:
        page.context.close()


def test_tail_several_processes_with_stdout_and_stderr_side_by_side(page, fleet):
    page.goto(f'{fleet.base}/processes')
    page.fill('#search', 'alpha:t')  # ticker only
    page.check('tr[data-id="alpha:ticker:ticker"] input[type=checkbox]')
    page.fill('#search', 'accents')
    page.check('tr[data-id="alpha:accents:accents"] input[type=checkbox]')
    page.click('button[data-tail-selection]')
    rows = page.locator('#multi-panes .multi-row')
    sync_api.expect(rows).to_have_count(2)
    ticker = page.locator('.multi-row[data-id="alpha:ticker:ticker"]')
    sync_api.expect(ticker.locator('pre[data-stream="stdout"]')).to_contain_text('fleet tick')
    page.check('#multi-both')
    sync_api.expect(ticker.locator('pre')).to_have_count(2)
    sync_api.expect(ticker.locator('pre[data-stream="stdout"]')).to_contain_text('fleet tick')
    box = {s: ticker.locator(f'pre[data-stream="{s}"]').bounding_box() for s in ('stdout', 'stderr')}
    assert box['stderr']['x'] > box['stdout']['x'] and abs(box['stderr']['y'] - box['stdout']['y']) < 1
    sync_api.expect(page.locator('.multi-row[data-id="alpha:accents:accents"] pre[data-stream="stdout"]')
                    ).to_contain_text('\u00e9\u00e9\u00e9')
    page.click('#multi-close')
    sync_api.expect(page.locator('#multi')).to_be_hidden()


def test_rolling_restart_button_reports_each_server(page, fleet):
    """A group on several servers has a rolling-restart button; the first failure stops it."""
    page.goto(f'{fleet.base}/groups')
    group = page.locator('section[data-group="flaky"]')
    page.once('dialog', lambda dialog: dialog.accept())
    group.locator('header button[data-rollout="flaky"]').click()
    sync_api.expect(page.locator('#results-title')).to_have_text(
        'rolling restart of flaky: stopped at the first failure', timeout=30_000)
    rows = page.locator('#results-body tr')
    sync_api.expect(rows).to_have_count(2)
    sync_api.expect(rows.nth(0)).to_contain_text('alpha')
    sync_api.expect(rows.nth(0)).to_contain_text('FAILED')
    sync_api.expect(rows.nth(1)).to_contain_text('beta')
    sync_api.expect(rows.nth(1)).to_contain_text('SKIPPED')
