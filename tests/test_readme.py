"""Every command output shown in the README is what that command prints now.

Numbers below 1e-8 in scientific notation (the relative errors of gradcheck)
are rounding noise: their digits change with the order of floating-point sums,
which the CPU's BLAS chooses, so they are compared as "some tiny number".
"""

import re
import shlex
from pathlib import Path

import pytest

from cnn_backprop.cli import main
from cnn_backprop.kinds import grammar_table

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"<!-- output: cnn-backprop (.*?) -->\n```text\n(.*?)\n```", README.read_text(), re.S)


def test_readme_shows_outputs():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("args,shown", BLOCKS, ids=[args for args, _ in BLOCKS])
def test_readme_output_is_current(capsys, args, shown):
    main(shlex.split(args))
    printed = capsys.readouterr()
    assert without_noise((printed.out + printed.err).rstrip("\n")) == without_noise(shown)


def test_readme_grammar_table_is_the_registrys():
    table = re.search(r"<!-- grammar: .*? -->\n(.*?)\n<!-- /grammar -->", README.read_text(), re.S).group(1)
    assert table == grammar_table()


def without_noise(text):
    return re.sub(r"\d\.\d+e-(09|[1-9]\d)", "<below 1e-8>", text)
