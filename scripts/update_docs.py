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
import subprocess
import sys
import tempfile
from pathlib import Path

import doc_blocks

from cnn_backprop.cli import main
from cnn_backprop.kinds import grammar_table

ROOT = doc_blocks.ROOT
GRAMMAR = re.compile(r"(<!-- grammar: .*? -->\n)(.*?)(\n<!-- /grammar -->)", re.S)


def main_update():
    figures = ROOT / "docs" / "figures"
    for path in doc_blocks.documents():
        with tempfile.TemporaryDirectory() as scratch:
            shown = doc_blocks.run_document(path, Path(scratch), check=False)
        text = GRAMMAR.sub(lambda m: m.group(1) + grammar_table() + m.group(3), doc_blocks.rewritten(path, shown))
        path.write_text(text, encoding="utf-8")
    with tempfile.TemporaryDirectory() as scratch, doc_blocks.inside(scratch):
        with contextlib.redirect_stdout(sys.stderr):
            main(["walkthrough", "--figures", str(figures)])
            main(["train", "--quiet", "--out", "model.npz", "--plot", str(figures / "learning_curves.png")])
            main(["dataset", "--count", "32", "--out", "data.npz", "--plot", str(figures / "dataset.png")])
            main(["train", "--data", "digits", "--quiet", "--out", "digits.npz"])
            main(["evaluate", "--model", "digits.npz", "--plot", str(figures / "digits_evaluation.png")])
            main(["walkthrough", "--seed", "1", "--report", "report.html"])
            main(["explore", "--seed", "1", "--no-open", "--out", "explore.html"])
            main(["exercise", "--count", "1", "--integers", "--out", "sheets"])
        screenshot(Path(scratch) / "report.html", figures / "report.png", height=1400)
        explorer_screenshot(Path(scratch) / "explore.html", figures / "explorer.png")
        screenshot(Path(scratch) / "sheets" / "exercise_1_key.html", figures / "exercise_key.png", height=1100)


def screenshot(page, png, width=1000, height=1200):
    """A PNG of ``page`` as headless Chromium draws it (skipped, with a note, without Chromium)."""
    if shutil.which("chromium") is None:
        print(f"no chromium: {png.name} not updated", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def explorer_screenshot(page, png):
    """The explorer wide, in the backward view, a kernel gradient hovered: its terms, and lines to both factors."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(f"no playwright (make test installs it): {png.name} not updated", file=sys.stderr)
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 860})
        tab.goto(page.as_uri())
        tab.check("#gradients")
        tab.hover('td[data-quantity="backward.conv_kernel"][data-index="1,1"]')
        tab.screenshot(path=png)
        browser.close()


if __name__ == "__main__":
    main_update()
