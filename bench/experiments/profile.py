"""`python -m bench.experiments.profile`: where a gateway process's CPU goes, by library, under /check load.

    python -m bench.experiments.profile --stack bare --clients 60 --seconds 30

Brings up the stack (``shipped``: web.py as supervisord runs it; ``bare``: bench/apps/bare_gateway.py)
behind the thread-pool check worker and the slow upstream, loads /check with wrk, and samples
one gateway process with py-spy for the measured run. Each sample counts for the innermost frame
of its stack that belongs to a known library (or to our code), so the standard library's work
(json, socket, asyncio's futures) counts for whoever asked for it; what remains is the loop's own.
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import urllib.parse
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from bench import load, stacks
from bench.apps.upstream import HIGH
from testbed.process import VENV_BIN

AMQP = 'aio-pika, aiormq, pamqp (AMQP)'
CELERY = 'Celery and kombu (the message)'
OURS = 'our code (tcelery, web.py, bench gateways) and its metrics'
LOOP = 'the loop and the standard library, for no library above'
# (what a frame's file path contains, who it belongs to), the first match wins; None: the
# standard library, whose work counts for the first library further up the stack.
OWNERS = (
    ('/tornado/', 'Tornado'),
    ('/aio_pika/', AMQP),
    ('/aiormq/', AMQP),
    ('/pamqp/', AMQP),
    ('/redis/', 'redis.asyncio'),
    ('/celery/', CELERY),
    ('/kombu/', CELERY),
    ('/uvloop/', 'uvloop: the loop itself, in C'),
    ('/prometheus_client/', OURS),
    ('/site-packages/', 'other libraries'),
    ('/lib/python3', None),
)


def owner(frame: str) -> str | None:
    """Who a py-spy frame, ``function (path:line)``, belongs to; None for the standard library
    or a frame without a file."""
    if '(' not in frame:
        return None
    path = frame.rsplit('(', 1)[1]
    for part, name in OWNERS:
        if part in path:
            return name
    return OURS if '.py' in path else None


def shares(collapsed: str) -> Counter[str]:
    """Samples by owner, from py-spy's raw (collapsed) output: ``root;...;leaf count`` lines."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(' ')
        if not stack or not count.isdigit():
            continue
        found = next((o for o in map(owner, reversed(stack.split(';'))) if o is not None), None)
        counts[found or LOOP] += int(count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.experiments.profile', description=__doc__)
    parser.add_argument('--stack', choices=('shipped', 'bare'), default='bare')
    parser.add_argument('--clients', type=int, default=60)
    parser.add_argument('--seconds', type=int, default=30)
    parser.add_argument('--redis-url', default='redis://127.0.0.1:6379/2')
    parser.add_argument('--out', type=Path, default=Path('/tmp/bench-profile'))
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    collapsed = options.out / f'{options.stack}-{options.clients}.txt'
    with ExitStack() as stack:
        upstream_url, _ = stack.enter_context(stacks.upstream(options.out))
        gateway = stack.enter_context(stacks.celery_gateway(options.out, options.redis_url, options.stack,
                                                            load.CPUS, 500))
        url = gateway.url + '/check?url=' + urllib.parse.quote(upstream_url, safe='')
        load.wrk(url, options.clients, 3, options.out / 'warmup.log')
        gateway.drain('/check?url=' + urllib.parse.quote(upstream_url, safe=''), fast_s=HIGH * 2)
        run = threading.Thread(target=load.wrk, args=(url, options.clients, options.seconds + 2,
                                                      options.out / 'wrk.log'))
        run.start()
        spy = [str(VENV_BIN / 'py-spy'), 'record', '-p', str(gateway.web_pids[0]), '-r', '200',
               '-d', str(options.seconds), '--nonblocking', '--full-filenames', '--format', 'raw']
        subprocess.run([*spy, '-o', str(collapsed)], check=True, capture_output=True)
        run.join()
    counts = shares(collapsed.read_text())
    total = sum(counts.values())
    print(f'{options.stack}, /check at {options.clients} clients: {total} samples of one gateway process '
          f'({collapsed})')
    print('| whose code | share of the process\'s CPU samples |\n|---|--:|')
    for name, count in counts.most_common():
        print(f'| {name} | {count / total:.0%} |')


if __name__ == '__main__':
    main()
