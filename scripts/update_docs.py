"""Rewrite every command output shown in README.md and the docs pages, and the figures they show, from the
current code.

Run by `make docs`.  tests/test_readme.py fails when a page and its commands disagree; both run the pages with
scripts/doc_blocks.py.  "output" blocks are compared exactly, "example" blocks (timings, training results whose
last digit may vary with the CPU) with their numbers aside.  The grammar table is the registry's: one row per
module in src/cnn_backprop/kinds/.
"""

import contextlib
import re
import shutil
import sys
import tempfile
from pathlib import Path

import doc_blocks

from cnn_backprop.api import run
from cnn_backprop.cli import main
from cnn_backprop.figures import overview, save, walkthrough_decimals
from cnn_backprop.kinds import grammar_table

ROOT = doc_blocks.ROOT
GRAMMAR = re.compile(r"(<!-- grammar: .*? -->\n)(.*?)(\n<!-- /grammar -->)", re.S)


def main_update():
    update_pages()
    update_figures()


def update_pages():
    """Every shown output, as its command prints it now, and the grammar table."""
    with tempfile.TemporaryDirectory() as scratch:
        every = doc_blocks.run_every_document(Path(scratch), check=False)
    for path, shown in every.items():
        text = GRAMMAR.sub(lambda m: m.group(1) + grammar_table() + m.group(3), doc_blocks.rewritten(path, shown))
        path.write_text(text, encoding="utf-8")


def update_figures():
    """The figures the pages show, drawn by the current code; a figure no page shows is removed."""
    figures = ROOT / "docs" / "figures"
    # the home figure in two layouts (index.md shows the narrow one on a phone), and only figures a page shows
    pass_ = run(seed=0)
    decimals = walkthrough_decimals(pass_)
    save(overview(pass_, decimals), figures / "overview.png")
    save(overview(pass_, decimals, columns=1), figures / "overview_narrow.png")
    with tempfile.TemporaryDirectory() as scratch, doc_blocks.inside(scratch):
        with contextlib.redirect_stdout(sys.stderr):
            main(["train", "--quiet", "--out", "model.npz", "--plot", str(figures / "learning_curves.png")])
            main(["dataset", "--count", "32", "--out", "data.npz", "--plot", str(figures / "dataset.png")])
            main(["train", "--data", "digits", "--quiet", "--out", "digits.npz"])
            main(["evaluate", "--model", "digits.npz", "--plot", str(figures / "digits_evaluation.png")])
            main(["walkthrough", "--seed", "1", "--report", "report.html"])
            main(["exercise", "--count", "1", "--integers", "--out", "sheets"])
        screenshot(Path(scratch) / "report.html", figures / "report.png", height=1400)
        screenshot(Path(scratch) / "sheets" / "exercise_1_key.html", figures / "exercise_key.png")
    shown = {m for path in doc_blocks.documents() for m in re.findall(r"figures/(\w+\.png)", path.read_text())}
    for unused in sorted({png.name for png in figures.glob("*.png")} - shown):
        (figures / unused).unlink()
        print(f"removed docs/figures/{unused}: no page shows it", file=sys.stderr)


def screenshot(page, png, width=1000, height=None):
    """A PNG of ``page`` as Chromium draws it: its top ``height`` pixels, or the whole page (skipped, with a note,
    without Playwright or Chromium)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(f"no playwright (make test installs it): {png.name} not updated", file=sys.stderr)
        return
    if shutil.which("chromium") is None:
        print(f"no chromium: {png.name} not updated", file=sys.stderr)
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": width, "height": height or 800})
        tab.goto(page.as_uri())
        tab.screenshot(path=png, full_page=height is None)
        browser.close()


if __name__ == "__main__":
    main_update()
