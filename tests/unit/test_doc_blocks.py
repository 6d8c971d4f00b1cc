"""The docs' generated blocks: their markers are where the writers look for them, and publishing a
report replaces the block and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.doc_blocks import main, replace_block
from testbed.process import ROOT


@pytest.mark.parametrize('name, doc', [('reliability', 'docs/reliability.md'),
                                       ('performance', 'docs/performance.md')])
def test_each_doc_has_its_block(name: str, doc: str) -> None:
    text = (ROOT / doc).read_text()
    assert text.count(f'<!-- {name}:begin -->') == text.count(f'<!-- {name}:end -->') == 1


def test_publishing_a_report_replaces_only_the_block(tmp_path: Path) -> None:
    doc, report = tmp_path / 'doc.md', tmp_path / 'report.md'
    doc.write_text('before\n<!-- table:begin -->\nold\n<!-- table:end -->\nafter\n')
    report.write_text('| new |\n')
    main(['table', str(report), str(doc)])
    assert doc.read_text() == ('before\n<!-- table:begin -->\n'
                               '<!-- generated: edits here are overwritten -->\n'
                               '| new |\n<!-- table:end -->\nafter\n')


def test_a_doc_without_the_block_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / 'doc.md'
    doc.write_text('no markers\n')
    with pytest.raises(ValueError, match='no <!-- table:begin -->'):
        replace_block('table', 'text', doc)
    assert doc.read_text() == 'no markers\n'


def test_a_missing_report_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(['table', str(tmp_path / 'absent.md'), str(tmp_path / 'doc.md')])
    assert exit_info.value.code == 1
