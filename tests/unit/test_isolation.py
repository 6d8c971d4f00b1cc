"""The in-process Celery app of a test session talks to the session's own vhost and Redis DB."""

from __future__ import annotations

from tests import REDIS_TEST_URL, SESSION_VHOST


def test_the_celery_app_points_at_this_sessions_vhost_and_redis_db() -> None:
    from main import app

    assert app.conf.broker_url == SESSION_VHOST.url
    assert app.conf.result_backend == REDIS_TEST_URL
