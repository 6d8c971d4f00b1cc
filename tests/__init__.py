"""The test suite. Importing it (pytest does, before any conftest) points this process at the
session's own broker vhost and Redis DB, before anything reads BROKER_URL or RESULT_BACKEND
(celeryconfig reads them when first imported): an in-process Celery app never talks to another
run's workers. The vhost is only named here; the ``vhost`` fixture creates it for the tests that
use it, and until then the broker refuses a client pointed at it."""

import os
import sys

from testbed.vhosts import Vhost

REDIS_TEST_URL = os.environ.get('TEST_RESULT_BACKEND', 'redis://127.0.0.1:6379/1')
SESSION_VHOST = Vhost(create=False)

if 'celeryconfig' in sys.modules:
    raise RuntimeError('celeryconfig was imported before the test environment was set')
os.environ.update(BROKER_URL=SESSION_VHOST.url, RESULT_BACKEND=REDIS_TEST_URL)
