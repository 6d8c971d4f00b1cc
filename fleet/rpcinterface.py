"""A supervisord RPC interface extension: CPU and memory of each managed process with its children.

It runs inside supervisord (no extra daemon) and uses only the standard library and /proc, so
it works on any Linux host whose supervisord can import it (copy this file onto its Python
path, or set PYTHONPATH). In supervisord.conf:

    [rpcinterface:fleet]
    supervisor.rpcinterface_factory = fleet.rpcinterface:make_fleet_rpcinterface

``fleet.getStats()`` answers one entry per running process: ``{group, name, pid, cpu, rss_kb,
tasks}``: CPU in percent of one core since the previous call (-1 on the first call), resident
memory in KiB (KiB so that it fits XML-RPC's 32-bit integers), and how many processes the tree
has. Children (a Celery worker's pool, a shell's command) count with their parent.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

TICKS = os.sysconf('SC_CLK_TCK')
PAGE_KB = os.sysconf('SC_PAGE_SIZE') // 1024


def read_proc() -> tuple[dict[int, list[int]], dict[int, tuple[int, int]]]:
    """Every process's children, and its (CPU ticks, resident pages), from /proc/*/stat."""
    children: dict[int, list[int]] = defaultdict(list)
    usage: dict[int, tuple[int, int]] = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat', 'rb') as f:
                data = f.read()
        except OSError:  # it ended meanwhile
            continue
        # The name (field 2) is in parentheses and may hold spaces: split after its last ')'.
        fields = data[data.rindex(b')') + 2:].split()
        pid = int(entry)
        children[int(fields[1])].append(pid)
        usage[pid] = (int(fields[11]) + int(fields[12]), int(fields[21]))  # utime + stime, rss
    return children, usage


def tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


class FleetNamespaceRPCInterface:
    def __init__(self, supervisord: Any):
        self.supervisord = supervisord
        self._previous: dict[int, tuple[float, int]] = {}  # pid -> (when, CPU ticks) at the last call

    def getStats(self) -> list[dict[str, Any]]:  # noqa: N802 - XML-RPC method names are camelCase
        """CPU and memory of each running process, its children included."""
        children, usage = read_proc()
        now = time.monotonic()
        stats, current = [], {}
        for group in self.supervisord.process_groups.values():
            for process in group.processes.values():
                if not process.pid or process.pid not in usage:
                    continue
                pids = [p for p in tree(process.pid, children) if p in usage]
                ticks = sum(usage[p][0] for p in pids)
                current[process.pid] = (now, ticks)
                before = self._previous.get(process.pid)
                cpu = -1.0
                if before and now > before[0]:  # a child that ended takes its ticks along: never below 0
                    cpu = max(0.0, 100.0 * (ticks - before[1]) / TICKS / (now - before[0]))
                stats.append({'group': group.config.name, 'name': process.config.name, 'pid': process.pid,
                              'cpu': round(cpu, 1), 'rss_kb': sum(usage[p][1] for p in pids) * PAGE_KB,
                              'tasks': len(pids)})
        self._previous = current
        return stats


def make_fleet_rpcinterface(supervisord: Any, **config: Any) -> FleetNamespaceRPCInterface:
    return FleetNamespaceRPCInterface(supervisord)
