"""Wait until the broker (BROKER_URL) and the result backend (RESULT_BACKEND) answer.

    python -m scripts.wait_services     # from the project's directory

Both as Celery reads them: several broker nodes (``;``-separated, one answering is enough) and a
``sentinel://`` result backend (its master, found through the Sentinels) included.
"""

import os
import sys
import time

from kombu import Connection

import celeryconfig
from main import app

DEADLINE = float(os.environ.get('SERVICES_TIMEOUT', 120))


def main() -> int:
    broker = celeryconfig.broker_url
    end = time.monotonic() + DEADLINE
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            with Connection(broker, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            app.backend.client.ping()
            return 0
        except Exception as exc:  # any failure means "not yet"
            last_error = exc
            time.sleep(1)
    print(f'services did not answer within {DEADLINE:.0f}s: {last_error!r}', file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
