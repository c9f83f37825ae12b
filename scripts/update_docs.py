"""Rewrite every command output shown in README.md, and the README's figures, from the current code.

Run by `make docs`.  tests/test_readme.py fails when the README and the commands disagree.
"""

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from cnn_backprop.cli import main

ROOT = Path(__file__).resolve().parent.parent
# "output" blocks are compared with the command by tests/test_readme.py; "example" blocks hold
# timings (or training results whose last digit may vary with the CPU) and are only regenerated.
BLOCK = re.compile(r"(<!-- (?:output|example): cnn-backprop (.*?) -->\n```text\n)(.*?)(^```$)", re.S | re.M)


def output_of(args):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        main(shlex.split(args))
    return buffer.getvalue().rstrip("\n")


def main_update():
    readme = ROOT / "README.md"
    figures = ROOT / "docs" / "figures"
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # the README's examples write model.npz and data.npz here, in order
        text = BLOCK.sub(lambda m: m.group(1) + output_of(m.group(2)) + "\n" + m.group(4), readme.read_text())
        with contextlib.redirect_stdout(sys.stderr):
            main(["walkthrough", "--figures", str(figures)])
            main(["train", "--quiet", "--out", "model.npz", "--plot", str(figures / "learning_curves.png")])
            main(["dataset", "--count", "32", "--out", "data.npz", "--plot", str(figures / "dataset.png")])
            main(["evaluate", "--model", "digits.npz", "--plot", str(figures / "digits_evaluation.png")])
            main(["walkthrough", "--seed", "1", "--report", "report.html"])
            main(["exercise", "--count", "1", "--integers", "--out", "sheets"])
        screenshot(Path(scratch) / "report.html", figures / "report.png", height=1400)
        screenshot(Path(scratch) / "sheets" / "exercise_1_key.html", figures / "exercise_key.png", height=1100)
    readme.write_text(text)


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


if __name__ == "__main__":
    main_update()
