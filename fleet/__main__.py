"""python -m fleet                  serve the dashboard (FLEET_CONFIG, FLEET_HOST, FLEET_PORT)
python -m fleet hash-password    print a password hash for the [[users]] of the config file
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys

from fleet import auth
from fleet.app import serve
from fleet.config import ConfigError, Settings


def hash_password() -> int:
    if sys.stdin.isatty():
        password = getpass.getpass('Password: ')
        if password != getpass.getpass('Again: '):
            print('the passwords differ', file=sys.stderr)
            return 1
    else:  # piped in, for scripts: the first line
        password = sys.stdin.readline().rstrip('\n')
    if not password:
        print('empty password', file=sys.stderr)
        return 1
    print(auth.hash_password(password))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog='python -m fleet', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', nargs='?', choices=['serve', 'hash-password'], default='serve')
    if parser.parse_args().command == 'hash-password':
        return hash_password()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        asyncio.run(serve(Settings.from_env()))
    except ConfigError as exc:
        print(f'fleet: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
