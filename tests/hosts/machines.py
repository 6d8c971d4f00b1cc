"""A route_check machine on a test host: its own copy of the tree (so its own var/), started
with `make run` on that host, as docs/operations.md's "Adding a worker machine" says. Settings go through
the environment only; the copy shares the test runner's .venv.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from testbed.process import ROOT, Proc, wait_for
from tests.hosts.network import Host
from tests.processes import base_env
from tests.supervised import copy_tree

SUPERVISORCTL = str(ROOT / '.venv/bin/supervisorctl')
# What base_env inherits from the test runner's own scripts/env.sh: each machine sets its own.
MACHINE_LOCAL = ('SUPERVISOR_PASSWORD', 'FLOWER_PASSWORD', 'FLEET_ADMIN_PASSWORD', 'VENV_BIN', 'FLEET_CONFIG',
                 'WEB_HOST', 'FLOWER_HOST', 'SUPERVISOR_HOST', 'FLEET_HOST', 'ROLE', 'WEB_PORT',
                 'SUPERVISOR_PORT', 'FLOWER_PORT', 'FLEET_PORT', 'RABBITMQ_API', 'LOCATION', 'CHECK_NODE')
PROGRAMS = {'worker': {'worker-add', 'worker-check'}, 'gateway': {'web-0', 'flower', 'fleet'}}


class Machine:
    def __init__(self, host: Host, home: Path, log_dir: Path, role: str, **settings: str):
        self.host = host
        self.home = home
        self.role = role
        home.mkdir(parents=True)
        copy_tree(home)
        env = base_env(ROLE=role, **settings)
        for name in MACHINE_LOCAL:
            if name not in settings and name != 'ROLE':
                env.pop(name, None)
        self.env = env
        run = host.on('make', '-o', '.venv/.installed', 'run')
        self.make = Proc(f'{host.name}-make-run', run, env, log_dir, cwd=home)

    def ctl(self, *args: str, check: bool = True) -> str:
        """supervisorctl on this host (through its unix socket)."""
        done = subprocess.run(self.host.on(SUPERVISORCTL, '-c', 'supervisord.conf', *args), cwd=self.home,
                              env=self.env, capture_output=True, text=True, timeout=90)
        if check and done.returncode not in (0, 3):  # 3: some process is not running (status)
            raise AssertionError(f'supervisorctl {args} on {self.host.name}: {done.stdout}{done.stderr}')
        return done.stdout

    def states(self) -> dict[str, str]:
        """{process name: state}, e.g. {'worker-add': 'RUNNING'}."""
        lines = (line.split() for line in self.ctl('status', check=False).splitlines())
        return {words[0].rpartition(':')[2]: words[1] for words in lines if len(words) > 1}

    def running(self) -> set[str]:
        return {name for name, state in self.states().items() if state == 'RUNNING'}

    def wait_running(self, timeout: float = 90) -> None:
        """Every program of its role RUNNING; the others (autostart=false) STOPPED."""
        self.make.wait_log('supervisord started', timeout=timeout)
        wanted = PROGRAMS[self.role]

        def settled() -> dict[str, str] | None:  # FATAL too: supervisord gave up, no use waiting
            states = self.states()
            up = {name for name, state in states.items() if state == 'RUNNING'}
            return states if up == wanted or 'FATAL' in states.values() else None

        states = wait_for(settled, timeout, 0.3, f'{self.host.name}: {sorted(wanted)} up')
        fatal = {n: self.ctl('tail', n, check=False)[-1500:] for n, st in states.items() if st == 'FATAL'}
        assert not fatal, f'{self.host.name}: FATAL {fatal}'


    def stop(self) -> None:
        self.make.stop(timeout=90, sig=signal.SIGINT)  # Ctrl-C, as a user ends `make run`
