"""CPU time and memory of processes and of the machine, read from /proc.

Used to show where a run's CPU went (gateway, worker, upstream, broker, load tool) and
whether the machine, not the design, was the limit.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import redis

CLK_TCK = os.sysconf('SC_CLK_TCK')
Groups = dict[str, list[int]]  # component name -> root pids (their descendants count too)


def _stat(pid: int) -> tuple[int, float]:
    """(ppid, user + system CPU seconds) of one process."""
    text = Path(f'/proc/{pid}/stat').read_text()
    fields = text[text.rindex(')') + 2 :].split()  # the name may hold spaces and parentheses
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def _all_stats() -> dict[int, tuple[int, float]]:
    stats = {}
    for entry in os.scandir('/proc'):
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = _stat(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass  # exited while we looked
    return stats


def cpu_snapshot(groups: Groups) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of each group (its roots and all their live
    descendants), per pid."""
    stats = _all_stats()
    children: dict[int, list[int]] = defaultdict(list)
    for pid, (ppid, _) in stats.items():
        children[ppid].append(pid)
    snapshot = {}
    for name, roots in groups.items():
        seen: set[int] = set()
        todo = [pid for pid in roots if pid in stats]
        while todo:
            pid = todo.pop()
            if pid not in seen:
                seen.add(pid)
                todo.extend(children[pid])
        snapshot[name] = {pid: stats[pid][1] for pid in seen}
    return snapshot


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds per group between two snapshots, over the processes alive at both (a process
    that came or went meanwhile would count its whole life, or a negative one)."""
    used = {}
    for name, pids in after.items():
        earlier = before.get(name, {})
        used[name] = sum(cpu - earlier[pid] for pid, cpu in pids.items() if pid in earlier)
    return used


def listener_pid(port: int) -> list[int]:
    """The process listening on TCP ``port`` (the shared RabbitMQ or Redis), found by its socket."""
    inodes = set()
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == '0A' and int(fields[1].rsplit(':', 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f'socket:[{fields[9]}]')
    for entry in os.scandir('/proc'):
        if entry.name.isdigit():
            try:
                for fd in os.scandir(f'{entry.path}/fd'):
                    if os.readlink(fd.path) in inodes:
                        return [int(entry.name)]
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                pass
    return []


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot; idle and iowait are not busy."""
    values = [int(v) for v in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    total = sum(values[:8])  # guest time is already inside user time
    return total - values[3] - values[4], total


def redis_keys(url: str) -> int:
    """How many keys the Redis database of ``url`` holds (the bench has a database of its own)."""
    client = redis.Redis.from_url(url)
    try:
        return int(client.dbsize())
    finally:
        client.close()


def redis_used_memory(url: str) -> int:
    """The Redis server's used_memory in bytes (the whole server: other databases count too)."""
    client = redis.Redis.from_url(url)
    try:
        return int(client.info('memory')['used_memory'])
    finally:
        client.close()
