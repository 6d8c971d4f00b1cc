"""python -m fleet                    serve the dashboard (FLEET_CONFIG, FLEET_HOST, FLEET_PORT)
python -m fleet hash-password      print a password hash for the [[users]] of the config file
python -m fleet make-token         print a new API token, and its hash for the [[tokens]] of the config
python -m fleet status|start|stop|restart|tail [TARGET] [--direct]
                                   from a shell or CI: see fleet/cli.py (FLEET_URL, FLEET_TOKEN)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys

from fleet import auth, cli
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


def make_token() -> int:
    token, stored = auth.new_token()
    print(f'token (give it to the script, e.g. as FLEET_TOKEN; it is not stored): {token}')
    print(f'for the config:  token_hash = "{stored}"')
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog='python -m fleet', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', nargs='?', default='serve',
                        choices=['serve', 'hash-password', 'make-token', *cli.COMMANDS])
    parser.add_argument('target', nargs='?', help='server:group:name, a fleet group or a server')
    parser.add_argument('--direct', action='store_true', help="talk to the config's servers, not a dashboard")
    args = parser.parse_args()
    if args.command == 'hash-password':
        return hash_password()
    if args.command == 'make-token':
        return make_token()
    if args.command in cli.COMMANDS:
        return asyncio.run(cli.main(args.command, args.target, args.direct))
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        asyncio.run(serve(Settings.from_env()))
    except ConfigError as exc:
        print(f'fleet: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
