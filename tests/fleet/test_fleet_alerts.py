"""Alerts reach a webhook (a local HTTP server here): once per condition, retried with backoff,
followed by a recovery; a server that stops answering alerts too."""

from __future__ import annotations

import pytest

from tests.fleet.servers import Supervisord, WebhookReceiver, sleeper, wait_until


@pytest.fixture
def delta(tmp_path):
    # Starts only while the file `ok` exists: FATAL on demand, healthy on demand.
    flaky = sleeper(command=f'sh -c "test -f {tmp_path}/ok && exec sleep 100000 || exit 3"',
                    autostart='false', startretries='0')
    server = Supervisord(tmp_path, 'delta', {'program:flaky': flaky})
    try:
        yield server.start()
    finally:
        server.stop()


def test_alerts_fire_once_retry_with_backoff_and_recover(delta, fleet_factory, tmp_path):
    receiver = WebhookReceiver(fail=1)  # the first delivery fails: it must be retried
    try:
        fleet = fleet_factory([delta], extra=f'[[alerts]]\nurl = "{receiver.url}"\n')
        http = fleet.session()
        fleet.wait_reachable(http)
        for _ in range(2):  # the second failure of the same process is no new alert
            result = fleet.post(http, '/api/actions/start', {'processes': ['delta:flaky:flaky']}).json()
            assert not result['ok']
            wait_until(lambda: fleet.get(http, '/api/servers/delta')['processes'][0]['state'] == 'FATAL', 5,
                       'FATAL shown')
        (tmp_path / 'ok').touch()
        assert fleet.post(http, '/api/actions/start', {'processes': ['delta:flaky:flaky']}).json()['ok']
        wait_until(lambda: len(receiver.delivered()) == 2, 10, 'the alert and the recovery')
        firing, resolved = receiver.delivered()
        assert (firing['status'], firing['kind'], firing['process'], firing['state']) == (
            'firing', 'process', 'delta:flaky:flaky', 'FATAL')
        assert (resolved['status'], resolved['process']) == ('resolved', 'delta:flaky:flaky')
        (first, failed, _), (second, _, body) = receiver.received[:2]
        assert failed == 500 and body == firing and second - first >= 0.9, 'retried after a backoff'

        delta.stop()
        wait_until(lambda: len(receiver.delivered()) == 3, 10, 'the server alert')
        down = receiver.delivered()[2]
        assert (down['status'], down['kind'], down['server'], down['state']) == (
            'firing', 'server', 'delta', 'UNREACHABLE')
        assert len(receiver.received) == 4, 'no duplicates'
    finally:
        receiver.stop()


def test_a_webhook_answering_a_redirect_is_not_followed(delta, fleet_factory):
    """A 307 would replay the alert's POST to wherever it points (an internal address, say)."""
    inside = WebhookReceiver()
    hook = WebhookReceiver(redirect_to=inside.url)
    try:
        fleet = fleet_factory([delta], extra=f'[[alerts]]\nurl = "{hook.url}"\nattempts = 2\n')
        fleet.wait_reachable(fleet.session())
        delta.stop()  # the server alert
        wait_until(lambda: len(hook.received) == 2, 15, 'the alert and its one retry')
        assert [status for _, status, _ in hook.received] == [307, 307]
        assert inside.received == []
    finally:
        hook.stop()
        inside.stop()


# Headless Chromium shows no notifications: record what the page asks for instead.
RECORD_NOTIFICATIONS = '''
window.shown = [];
window.Notification = class extends Notification {
  constructor(title, options) { super(title, options); window.shown.push([title, options.body]); }
};
'''


def test_alerts_become_browser_notifications_once_asked_for(delta, fleet_factory, open_page):
    fleet = fleet_factory([delta])
    page = open_page(fleet, permissions=['notifications'])
    try:
        page.add_init_script(RECORD_NOTIFICATIONS)
        page.goto(f'{fleet.base}/processes')
        sync_api = pytest.importorskip('playwright.sync_api')
        sync_api.expect(page.locator('#live')).to_have_text('live')
        page.click('#notify')
        sync_api.expect(page.locator('#notify')).to_have_text('Notifications on')
        page.locator('tr[data-id="delta:flaky:flaky"] button[data-action="start"]').click()
        page.wait_for_function('() => window.shown.length > 0')
        [(title, body)] = page.evaluate('window.shown')
        assert title == 'Fleet: FATAL' and body.startswith('delta:flaky:flaky FATAL: ')
    finally:
        page.context.close()
