"""Every command in README.md and the docs pages works as written, and every output they show is what it prints.

The runner is scripts/doc_blocks.py (it says what runs and how a block is marked); scripts/update_docs.py
rewrites the shown outputs with the same runner.  The documents run as a newcomer follows them: in the order a
reader meets them, all in one scratch folder; and what they leave there is what git (and so ruff) ignores in a
checkout, so that following the pages in the clone itself never breaks its `make test`.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import doc_blocks  # noqa: E402

from cnn_backprop.kinds import grammar_table  # noqa: E402

DOCUMENTS = doc_blocks.documents()
NAMES = [str(path.relative_to(doc_blocks.ROOT)) for path in DOCUMENTS]


def test_every_page_in_reader_order_runs_as_written_in_one_folder_and_leaves_only_what_git_ignores(tmp_path):
    shown = doc_blocks.run_every_document(tmp_path)
    assert list(shown) == DOCUMENTS and sum(map(len, shown.values())) >= 10
    left = sorted(doc_blocks.files_in(tmp_path))
    assert "digits_model.py" in left and "explore.html" in left  # what the pages are known to write
    if shutil.which("git") is None or not (doc_blocks.ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to ignore files in")
    # as if written at the clone's root: ruff skips what git ignores (respect-gitignore, its default)
    done = subprocess.run(["git", "-C", str(doc_blocks.ROOT), "check-ignore", "--no-index", "--verbose",
                           "--non-matching", *left], capture_output=True, text=True)  # fmt: skip
    kept = [line.split("\t")[1] for line in done.stdout.splitlines() if line.startswith("::")]
    assert not kept, f"the pages leave files git does not ignore (add them to .gitignore): {kept}"


def test_the_runner_stops_a_block_that_overwrites_an_earlier_ones_file_unannounced(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```sh\necho a > out.txt\n```\n\n```sh\necho b > out.txt\n```\n")
    (tmp_path / "quiet").mkdir()
    with pytest.raises(doc_blocks.Failed, match="changes out.txt"):
        doc_blocks.run_document(page, tmp_path / "quiet")
    page.write_text("```sh\necho a > out.txt\n```\n\n```sh\necho b > out.txt  # overwrites out.txt\n```\n")
    (tmp_path / "said").mkdir()
    doc_blocks.run_document(page, tmp_path / "said")
    assert (tmp_path / "said" / "out.txt").read_text() == "b\n"


def test_the_pages_come_in_the_sites_order():
    assert NAMES[:4] == ["README.md", "docs/index.md", "docs/getting-started.md", "docs/seed-exercise.md"]
    assert sorted(NAMES) == sorted(["README.md", *(str(p.relative_to(doc_blocks.ROOT))
                                                   for p in (doc_blocks.ROOT / "docs").rglob("*.md"))])  # fmt: skip


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
