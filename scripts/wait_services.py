"""Wait until the broker (BROKER_URL) and the result backend (RESULT_BACKEND) answer."""

import os
import sys
import time

import redis
from kombu import Connection

DEADLINE = float(os.environ.get('SERVICES_TIMEOUT', 120))


def main() -> int:
    broker = os.environ.get('BROKER_URL', 'amqp://guest:guest@127.0.0.1:5672//')
    backend = os.environ.get('RESULT_BACKEND', 'redis://127.0.0.1:6379/0')
    end = time.monotonic() + DEADLINE
    last_error: Exception | None = None
    while time.monotonic() < end:
        try:
            with Connection(broker, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1)
            redis.Redis.from_url(backend, socket_connect_timeout=2).ping()
            return 0
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_error = exc
            time.sleep(1)
    print(f'services did not answer within {DEADLINE:.0f}s: {last_error!r}', file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
