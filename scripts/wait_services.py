"""Wait until the broker (BROKER_URL) and the result backend (RESULT_BACKEND) answer.

    python -m scripts.wait_services     # from the project's directory

Both as Celery reads them: several broker nodes (``;``-separated, one answering is enough) and a
``sentinel://`` result backend (its master, found through the Sentinels) included.
"""

import os
import sys

from kombu import Connection

import celeryconfig
from main import app
from testbed.process import wait_for

DEADLINE = float(os.environ.get('SERVICES_TIMEOUT', 120))


def answering() -> bool:
    with Connection(celeryconfig.broker_url, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1)
    return bool(app.backend.client.ping())  # Celery's client: a sentinel:// backend finds its master


def main() -> int:
    try:
        wait_for(answering, DEADLINE, 1, 'the broker and the result backend answering')
    except AssertionError as exc:
        print(f'services did not answer: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
