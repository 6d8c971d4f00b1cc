"""What /proc says about processes: children, memory, open files, listening sockets (no psutil)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path


def proc_children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (no psutil)."""
    try:
        text = Path(f'/proc/{pid}/task/{pid}/children').read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def proc_tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(proc_children(p))
    return out


def rss_kib(pid: int) -> int:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    raise ValueError(f'no VmRSS for pid {pid}')


def open_fds(pid: int) -> int:
    return len(os.listdir(f'/proc/{pid}/fd'))


def listening_sockets(pids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN state that one of ``pids`` holds."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f'/proc/{pid}/fd'):
                try:
                    target = os.readlink(f'/proc/{pid}/fd/{fd}')
                except OSError:
                    continue
                if target.startswith('socket:['):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    found = []
    for table, v6 in (('/proc/net/tcp', False), ('/proc/net/tcp6', True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != '0A' or inode not in inodes:  # 0A = LISTEN
                continue
            hex_addr, hex_port = local.split(':')
            found.append((inodes[inode], _address(hex_addr, v6), int(hex_port, 16)))
    return found


def _address(hex_addr: str, v6: bool) -> str:
    raw = bytes.fromhex(hex_addr)
    if not v6:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # per-word host byte order
    return socket.inet_ntop(socket.AF_INET6, words)
