"""Generated blocks of the docs: the text between ``<!-- name:begin -->`` and ``<!-- name:end -->``
of a docs/ file is written by the program that measured it, never by hand. `make bench` writes
docs/performance.md's ``performance`` block; a full chaos run leaves its table in
var/reports/reliability.md (no test writes a tracked file), and publishing it is a step of its own:

    python -m testbed.doc_blocks reliability var/reports/reliability.md docs/reliability.md
    make docs                                                  # the same
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


def replace_block(name: str, text: str, path: Path) -> None:
    """Put ``text`` between the ``name`` markers of ``path``; the markers must be there."""
    begin, end = f'<!-- {name}:begin -->', f'<!-- {name}:end -->'
    content = path.read_text()
    pattern = re.compile(rf'{re.escape(begin)}\n.*?{re.escape(end)}', re.S)
    if not pattern.search(content):
        raise ValueError(f'{path} has no {begin} ... {end} block')
    block = f'{begin}\n<!-- generated: edits here are overwritten -->\n{text.rstrip()}\n{end}'
    path.write_text(pattern.sub(lambda _match: block, content, count=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='python -m testbed.doc_blocks',
                                     description='Put a generated text into a block of a doc.')
    parser.add_argument('name', help='the block: <!-- NAME:begin --> ... <!-- NAME:end -->')
    parser.add_argument('source', type=Path, help='the text, e.g. var/reports/reliability.md')
    parser.add_argument('target', type=Path, help='the doc holding the block, e.g. docs/reliability.md')
    args = parser.parse_args(argv)
    if not args.source.is_file():
        parser.exit(1, f'{args.source}: no such file\n')
    replace_block(args.name, args.source.read_text(), args.target)
    print(f'{args.target}: block {args.name!r} now holds {args.source}')


if __name__ == '__main__':
    main()
