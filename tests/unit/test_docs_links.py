"""Every relative link of the project's Markdown files points at a file that exists, and every
``#anchor`` at a heading of its target: the docs moved out of README.md, and links rot quietly."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from testbed.process import ROOT

FENCE = re.compile(r'^(```|~~~).*?^\1', re.S | re.M)
INDENTED_CODE = re.compile(r'^(?: {4}|\t).*$', re.M)
CODE_SPAN = re.compile(r'`[^`\n]*`')
LINK = re.compile(r'!?\[[^\]\n]*\]\(([^)\s]+)\)')
HEADING = re.compile(r'^#{1,6}\s+(.+?)\s*#*\s*$', re.M)


def markdown_files() -> list[Path]:
    """Tracked and new (not ignored) Markdown files."""
    names = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z', '*.md'],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split('\0')
    return [ROOT / name for name in names if name and (ROOT / name).is_file()]


def prose(path: Path) -> str:
    """The file without its code, where brackets and parentheses are not links."""
    return CODE_SPAN.sub('', INDENTED_CODE.sub('', FENCE.sub('', path.read_text())))


def anchors(path: Path) -> set[str]:
    """GitHub's ids for the headings: lower case, punctuation dropped, spaces as hyphens, and
    ``-1``, ``-2``... for a repeated one."""
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub('', path.read_text())):
        slug = re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f'{slug}-{count}'] = 1
    return set(seen)


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(path)):
        if re.match(r'[a-z][a-z0-9+.-]*:', target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition('#')
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f'{target}: no such file')
        elif anchor and linked.suffix == '.md' and anchor not in anchors(linked):
            broken.append(f'{target}: no such heading')
    return broken


@pytest.mark.parametrize('path', markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / 'other.md').write_text('# Other\n\n## A section, with `code`\n')
    doc = tmp_path / 'doc.md'
    doc.write_text('# Doc\n\n[ok](other.md#a-section-with-code) [self](#doc) [web](https://example.com/)\n'
                   '`[not](a-link.md)`\n\n```\n[not](a-link-either.md)\n```\n'
                   '[gone](missing.md) [no heading](other.md#nowhere)\n')
    assert broken_links(doc) == ['missing.md: no such file', 'other.md#nowhere: no such heading']
