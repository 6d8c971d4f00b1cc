"""The ``redis.asyncio`` client for Celery's Redis result backend: one server, or Sentinel.

The URL and options are read by Celery itself (its RedisBackend / SentinelBackend), so the
gateway accepts exactly what the workers accept::

    RESULT_BACKEND=redis://:pw@host:6379/0
    RESULT_BACKEND='sentinel://:pw@h1:26379/0;sentinel://:pw@h2:26379/0;sentinel://:pw@h3:26379/0'
    result_backend_transport_options = {'master_name': 'mymaster'}   # Celery's setting

With Sentinel every new connection asks the Sentinels where the master is now, so after a
failover the next reconnect (of the pub/sub connection too) reaches the promoted replica.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from celery import Celery
from celery.app.backends import by_url
from celery.backends.base import Backend
from celery.backends.redis import RedisBackend, SentinelBackend
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff


def celery_backend(app: Celery, url: str | None = None) -> Backend:
    """The app's result backend, or the one Celery would make for ``url``."""
    if url is None:
        return app.backend
    cls, url = by_url(url, app.loader)
    return cls(app=app, url=url)


def result_redis(backend: Backend, *, timeout: float) -> aioredis.Redis:
    """An asyncio client for the backend's Redis, with short timeouts (a dead Redis must give a
    quick answer, not a hung request)."""
    if not isinstance(backend, RedisBackend):
        raise ValueError(f'tcelery needs a Redis result backend, not {type(backend).__name__}')
    timeouts = {'socket_connect_timeout': timeout, 'socket_timeout': timeout}
    # One quick retry, no backoff: the result reader reconnects in its own loop every 0.5 s, and
    # redis-py's default (exponential backoff, 3 retries) kept it away for seconds after Redis or
    # a new master was back.
    retry = Retry(NoBackoff(), 1)
    if not isinstance(backend, SentinelBackend):
        return aioredis.from_url(backend.url, health_check_interval=30, retry=retry, **timeouts)
    options = backend.app.conf.result_backend_transport_options or {}
    master_name = options.get('master_name')
    if not master_name:
        raise ValueError("a sentinel:// result backend needs result_backend_transport_options['master_name']")
    params = backend.connparams  # Celery's parse: the sentinels in 'hosts', then db and credentials
    sentinel = Sentinel(
        [(host['host'], host['port']) for host in params['hosts']],
        min_other_sentinels=options.get('min_other_sentinels', 0),
        sentinel_kwargs={**timeouts, **options.get('sentinel_kwargs', {})},
        **timeouts,
    )
    credentials = {key: params[key] for key in ('username', 'password') if params.get(key)}
    return sentinel.master_for(master_name, db=params.get('db') or 0, health_check_interval=30,
                               retry=retry, **credentials)
