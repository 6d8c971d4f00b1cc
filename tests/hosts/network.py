"""Test hosts out of Linux network namespaces: a bridge, a veth per host, names in /etc/hosts.

Addresses come from 198.18.0.0/15 (RFC 2544, for benchmarking), never a LAN or public range: a
/24 of it that no route of this machine uses yet, so runs side by side do not collide. The bridge
itself holds the .1: that is the test runner, the "client machine" the tests send requests from.
Every name (namespaces, bridge, veths) carries a per-run prefix, and close() removes them by
name, ending whatever still runs inside them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

NETNS_ETC = Path('/etc/netns')


class NoNamespaces(Exception):
    """This machine (or user) cannot create network namespaces."""


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=check)


def namespaces() -> set[str]:
    """What `ip netns list` shows (names only)."""
    return {line.split()[0] for line in run('ip', 'netns', 'list').stdout.splitlines() if line.strip()}


def free_subnet() -> str:
    """'198.A.B' for a /24 in 198.18.0.0/15 that no route uses."""
    routes = run('ip', '-4', 'route', 'show', 'table', 'all').stdout
    while True:
        subnet = f'198.{secrets.choice((18, 19))}.{secrets.randbelow(256)}'
        if f'{subnet}.' not in routes:
            return subnet


@dataclass(frozen=True)
class Host:
    name: str  # its hostname, and its name in every host's /etc/hosts
    netns: str
    address: str

    def on(self, *argv: str) -> list[str]:
        """argv run "on" this host: in its network namespace, with its own hostname (a UTS
        namespace), so Celery's `name@%h` differs from host to host."""
        return ['ip', 'netns', 'exec', self.netns, 'unshare', '--uts', '--',
                'sh', '-c', 'hostname "$0" && exec "$@"', self.name, *argv]


class Network:
    """Hosts named ``names`` on one bridge; use as a context manager, or call close()."""

    def __init__(self, names: list[str]):
        if os.geteuid() != 0 or run('ip', 'netns', 'add', probe := f'rcp{secrets.token_hex(3)}',
                                    check=False).returncode != 0:
            raise NoNamespaces('creating network namespaces needs CAP_NET_ADMIN (run as root)')
        run('ip', 'netns', 'del', probe)
        self.prefix = f'rc{secrets.token_hex(3)}'  # interface names have at most 15 characters
        self.bridge = f'{self.prefix}br'
        subnet = free_subnet()
        self.client = f'{subnet}.1'
        # A second address of the client machine, for a route some hosts cannot reach (blackhole).
        self.client_alt = f'{subnet}.2'
        self.hosts = {name: Host(name, f'{self.prefix}-{name}', f'{subnet}.{11 + i}')
                      for i, name in enumerate(names)}
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def veth(self, host: Host) -> str:
        """The host's cable, on the bridge's side."""
        return f'{self.prefix}-{host.name}'

    def link(self, host: Host, up: bool) -> None:
        """Plug or unplug the host's cable."""
        run('ip', 'link', 'set', self.veth(host), 'up' if up else 'down')

    def blackhole(self, host: Host, address: str) -> None:
        """Make ``address`` unreachable from ``host``: its kernel refuses to send there at once."""
        run('ip', 'netns', 'exec', host.netns, 'ip', 'route', 'add', 'blackhole', f'{address}/32')

    def listening(self, host: Host) -> set[tuple[str, int]]:
        """(address, port) of every TCP and UDP socket listening on the host."""
        lines = run('ip', 'netns', 'exec', host.netns, 'ss', '-H', '-l', '-n', '-t', '-u').stdout.splitlines()
        sockets = set()
        for local in (line.split()[4] for line in lines if line.strip()):
            address, _, port = local.rpartition(':')
            address = address.strip('[]').partition('%')[0]
            sockets.add(('0.0.0.0' if address == '*' else address, int(port)))
        return sockets

    def _build(self) -> None:
        run('ip', 'link', 'add', self.bridge, 'type', 'bridge')
        run('ip', 'addr', 'add', f'{self.client}/24', 'dev', self.bridge)
        run('ip', 'addr', 'add', f'{self.client_alt}/24', 'dev', self.bridge)
        run('ip', 'link', 'set', self.bridge, 'up')
        hosts_file = ''.join(f'{h.address} {h.name}\n' for h in self.hosts.values())
        for host in self.hosts.values():
            run('ip', 'netns', 'add', host.netns)
            etc = NETNS_ETC / host.netns  # `ip netns exec` mounts it over /etc/hosts
            etc.mkdir(parents=True)
            (etc / 'hosts').write_text(f'127.0.0.1 localhost\n{self.client} client\n{hosts_file}')
            veth = self.veth(host)
            run('ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns)
            run('ip', 'link', 'set', veth, 'master', self.bridge, 'up')
            inside = ('ip', 'netns', 'exec', host.netns, 'ip')
            run(*inside, 'addr', 'add', f'{host.address}/24', 'dev', 'eth0')
            run(*inside, 'link', 'set', 'eth0', 'up')
            run(*inside, 'link', 'set', 'lo', 'up')

    def close(self) -> None:
        """Remove everything of this run by name; end any process still inside a namespace."""
        for host in self.hosts.values():
            pids = run('ip', 'netns', 'pids', host.netns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run('ip', 'netns', 'del', host.netns, check=False)
            run('ip', 'link', 'del', self.veth(host), check=False)  # gone with its peer, normally
            shutil.rmtree(NETNS_ETC / host.netns, ignore_errors=True)
        run('ip', 'link', 'del', self.bridge, check=False)
