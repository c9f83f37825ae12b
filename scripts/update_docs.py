"""Rewrite every command output shown in README.md, and the README's figures, from the current code.

Run by `make docs`.  tests/test_readme.py fails when the README and the commands disagree.
"""

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

from cnn_backprop.cli import main

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- output: cnn-backprop (.*?) -->\n```text\n)(.*?)(\n```)", re.S)


def output_of(args):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(shlex.split(args))
    return buffer.getvalue().rstrip("\n")


def main_update():
    readme = ROOT / "README.md"
    text = BLOCK.sub(lambda m: m.group(1) + output_of(m.group(2)) + m.group(4), readme.read_text())
    readme.write_text(text)
    with contextlib.redirect_stdout(sys.stderr):
        main(["walkthrough", "--figures", str(ROOT / "docs" / "figures")])


if __name__ == "__main__":
    main_update()
