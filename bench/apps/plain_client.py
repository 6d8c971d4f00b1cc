"""The ceiling for /add: Celery's own client, no HTTP at all, from several threads.

    python -m bench.apps.plain_client --threads 8 --warmup 3 --duration 15

Prints one JSON line: completed calls, errors and latency percentiles of the measured part.
Whatever a gateway adds on top of this (HTTP, its event loop) can only cost throughput.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from add_task import add


def run(threads: int, warmup: float, duration: float) -> dict[str, object]:
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + duration
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads

    def client(index: int) -> None:
        while (now := time.monotonic()) < stop_at:
            try:
                add.apply_async((index, 1)).get(timeout=10)
            except Exception:  # counted, like a non-2xx answer
                errors[index] += now >= measure_from
                continue
            if now >= measure_from:
                latencies[index].append(time.monotonic() - now)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done = sorted(x for per_thread in latencies for x in per_thread)

    def percentile(p: float) -> float:
        return done[min(len(done) - 1, int(p / 100 * len(done)))] * 1000 if done else 0.0

    return {
        'requests': len(done),
        'errors': sum(errors),
        'duration_s': duration,
        'latency_ms': {'p50': percentile(50), 'p90': percentile(90), 'p99': percentile(99)},
    }


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=8)
    parser.add_argument('--warmup', type=float, default=3.0)
    parser.add_argument('--duration', type=float, default=15.0)
    options = parser.parse_args()
    print(json.dumps(run(options.threads, options.warmup, options.duration)))
