"""Generated blocks of README.md: the text between ``<!-- name:begin -->`` and ``<!-- name:end -->``
is written by the program that measured it (make bench, the chaos suite), never by hand."""

from __future__ import annotations

import re
from pathlib import Path

from testbed.process import ROOT

README = ROOT / 'README.md'


def replace_block(name: str, text: str, path: Path = README) -> None:
    """Put ``text`` between the ``name`` markers of ``path``; the markers must be there."""
    begin, end = f'<!-- {name}:begin -->', f'<!-- {name}:end -->'
    content = path.read_text()
    pattern = re.compile(rf'{re.escape(begin)}\n.*?{re.escape(end)}', re.S)
    if not pattern.search(content):
        raise ValueError(f'{path} has no {begin} ... {end} block')
    block = f'{begin}\n<!-- generated: edits here are overwritten -->\n{text.rstrip()}\n{end}'
    path.write_text(pattern.sub(lambda _match: block, content, count=1))
