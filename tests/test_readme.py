"""Every command output shown in the README is what that command prints now."""

import re
import shlex
from pathlib import Path

import pytest

from cnn_backprop.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"<!-- output: cnn-backprop (.*?) -->\n```text\n(.*?)\n```", README.read_text(), re.S)


def test_readme_shows_outputs():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("args,shown", BLOCKS, ids=[args for args, _ in BLOCKS])
def test_readme_output_is_current(capsys, args, shown):
    main(shlex.split(args))
    assert capsys.readouterr().out.rstrip("\n") == shown
