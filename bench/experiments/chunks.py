"""`python -m bench.experiments.chunks`: POST /checks's chunk size (BULK_CHUNK), measured.

For each size, the shipped stack (web.py x N, the thread check worker) takes requests of 1000 TCP
and 1000 HTTP checks of the slow upstream; the figures are the stack's CPU per check and the
slowest request. Output: results/chunks.md. This is how BULK_CHUNK's default was chosen.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench import bulk, stacks
from bench.__main__ import RESULTS, shared_services
from bench.load import CPUS

SIZES = (25, 50, 100, 250, 500, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.experiments.chunks', description=__doc__)
    parser.add_argument('--sizes', default=','.join(map(str, SIZES)))
    parser.add_argument('--repeats', type=int, default=bulk.REPEATS)
    parser.add_argument('--redis-url', default='redis://127.0.0.1:6379/2')
    parser.add_argument('--out', type=Path, default=RESULTS)
    options = parser.parse_args()
    raw = options.out / 'raw'
    raw.mkdir(parents=True, exist_ok=True)
    lines = ['| BULK_CHUNK | kind | CPU ms per check | slowest request s |', '|--:|---|--:|--:|']
    with stacks.upstream(raw) as (upstream_url, _):
        kinds = bulk.plan(upstream_url, int(upstream_url.rsplit(':', 1)[1].strip('/')))
        for size in (int(n) for n in options.sizes.split(',')):
            os.environ['BULK_CHUNK'] = str(size)  # the gateway processes inherit it (child_env)
            with stacks.celery_gateway(raw, options.redis_url, 'shipped', CPUS, 500) as ours:
                stacks.wait_http(f'{ours.url}/healthz')  # its logs hold the previous size's "listening"
                for kind, (targets, _) in kinds.items():
                    print(f'BULK_CHUNK={size}: {kind}', flush=True)
                    run = bulk.measured('ours', kind, {**ours.groups, **shared_services()}, options.repeats,
                                        lambda targets=targets: bulk.post_checks(ours.url, targets))
                    lines.append(f'| {size} | {kind} | {run.cpu_ms_per_check:.3f} | {run.worst_s:.2f} |')
    (options.out / 'chunks.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
