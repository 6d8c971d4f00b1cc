"""Wait until the broker (BROKER_URL) and the result backend (RESULT_BACKEND) answer.

    python -m scripts.wait_services     # from the project's directory
"""

import os
import sys
import time

import redis
from kombu import Connection

import celeryconfig

DEADLINE = float(os.environ.get('SERVICES_TIMEOUT', 120))


def main() -> int:
    broker, backend = celeryconfig.broker_url, celeryconfig.result_backend
    end = time.monotonic() + DEADLINE
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            with Connection(broker, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            redis.Redis.from_url(backend, socket_connect_timeout=2).ping()
            return 0
        except Exception as exc:  # any failure means "not yet"
            last_error = exc
            time.sleep(1)
    print(f'services did not answer within {DEADLINE:.0f}s: {last_error!r}', file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
