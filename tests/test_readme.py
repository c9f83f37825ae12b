"""Every command in README.md and the docs pages works as written, and every output they show is what it prints.

The runner is scripts/doc_blocks.py (it says what runs and how a block is marked); scripts/update_docs.py
rewrites the shown outputs with the same runner.  Each document runs in a temporary directory of its own.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import doc_blocks  # noqa: E402

from cnn_backprop.kinds import grammar_table  # noqa: E402

DOCUMENTS = doc_blocks.documents()
NAMES = [str(path.relative_to(doc_blocks.ROOT)) for path in DOCUMENTS]


@pytest.mark.parametrize("path", DOCUMENTS, ids=NAMES)
def test_every_block_runs_as_written_and_prints_what_the_page_shows(path, tmp_path):
    doc_blocks.run_document(path, tmp_path)


def test_a_block_left_out_says_why_and_a_shown_output_names_its_command():
    runs = 0
    for path in DOCUMENTS:
        for block in doc_blocks.blocks(path):
            assert block.marker in ("", "output", "example", "not run", "in the tests"), block.where
            if block.marker == "not run":
                assert len(block.argument) > 10, f"{block.where}: 'not run' says why"
            if block.marker in ("output", "example"):
                assert block.language == "text" and block.command.startswith("cnn-backprop "), block.where
            runs += block.runs
    assert runs >= 10


def test_the_runner_catches_a_wrong_output_and_a_failing_command(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- output: cnn-backprop walkthrough -->\n```text\nGIVEN\n```\n")
    (block,) = doc_blocks.blocks(page)
    assert not doc_blocks.agrees(block, doc_blocks.run(block, tmp_path))
    page.write_text("```sh\ncnn-backprop walkthrough --seed x\n```\n")
    with pytest.raises(doc_blocks.Failed, match="exit status 2"):
        doc_blocks.run(doc_blocks.blocks(page)[0], tmp_path)


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if "<!-- grammar:" in p.read_text()])
def test_the_grammar_table_is_the_registrys(path):
    import re

    table = re.search(r"<!-- grammar: .*? -->\n(.*?)\n<!-- /grammar -->", path.read_text(), re.S).group(1)
    assert table == grammar_table()
