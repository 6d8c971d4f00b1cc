"""The audit log: who did what, to which process on which server, when, and with what result.

One JSON object per line, appended to a file only its owner can read (var/fleet/audit.jsonl by
default); the dashboard never rewrites it. Readers get the newest entries first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = 'audit.jsonl'
SCAN = 16 * 1024 * 1024  # bytes read back from the end at most for one query
FIELD = 256  # characters of a text field kept: a client's text (a user name tried) never bloats a line
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Entry:
    time: float  # seconds since the epoch
    user: str
    role: str
    address: str  # the client's IP address
    action: str  # login, logout, start, stop, restart, signal HUP, update, clear
    server: str
    target: str  # a process id, `server:*` or a user name
    status: str
    ok: bool
    description: str


class AuditLog:
    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_APPEND: every line goes to the end, whatever else holds the file open.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, entry: Entry) -> None:
        # One write per line: a line is never interleaved with another, and a crash loses at
        # most the line being written. Small and local, so it is done on the event loop.
        fields = {name: value[:FIELD] if isinstance(value, str) else value
                  for name, value in asdict(entry).items()}
        os.write(self._fd, (json.dumps(fields, ensure_ascii=False) + '\n').encode())

    def read(self, limit: int, **match: str) -> list[dict]:
        """The newest `limit` entries whose fields contain the given texts (case-insensitive)."""
        wanted = {k: v.lower() for k, v in match.items() if v}
        found = []
        for line in self._lines_backwards():
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut by a crash
                continue
            if all(text in str(entry.get(key, '')).lower() for key, text in wanted.items()):
                found.append(entry)
                if len(found) >= limit:
                    break
        return found

    def _lines_backwards(self) -> Iterator[bytes]:
        with open(self.path, 'rb') as f:
            end = f.seek(0, os.SEEK_END)
            start = max(0, end - SCAN)
            rest = b''
            while end > start:
                step = min(CHUNK, end - start)
                end -= step
                f.seek(end)
                block = f.read(step) + rest
                lines = block.split(b'\n')
                rest = lines.pop(0)  # may be the end of a line that began before this block
                yield from (line for line in reversed(lines) if line)
            if rest and start == 0:
                yield rest

    def close(self) -> None:
        os.close(self._fd)

