"""The Python API: the README's example runs as written, the package exports what it documents, and a user error
is the command line's."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnn_backprop as cb
from cnn_backprop.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readmes_python_api_example_runs(tmp_path, monkeypatch, capsys):
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "lr must be a positive number, got -1" in out and (tmp_path / "digits4.npz").is_file()
    assert re.search(r"^1438 0\.\d+$", out, re.M)


def test_every_exported_name_is_documented():
    for name in cb.__all__:
        assert getattr(cb, name).__doc__, name
    assert "Start here" in cb.__doc__


def test_importing_the_package_imports_neither_torch_nor_matplotlib():
    code = "import sys, cnn_backprop; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == [
        "False",
        "False",
    ]


@pytest.mark.parametrize(
    "call,argv",
    [
        (lambda: cb.run(net="conv 8x3x3, relu, maxpool 2, conv 16x3x3, dense 1, sigmoid"),
         ["walkthrough", "--net", "conv 8x3x3, relu, maxpool 2, conv 16x3x3, dense 1, sigmoid"]),
        (lambda: cb.run(pool_stride=0), ["walkthrough", "--pool-stride", "0"]),
        (lambda: cb.fit("dense 3, softmax"), ["train", "--net", "dense 3, softmax"]),
    ],
)  # fmt: skip
def test_an_api_error_is_the_commands(call, argv, capsys):
    with pytest.raises(cb.InputError) as error:
        call()
    assert main(argv) == 2
    assert capsys.readouterr().err == f"cnn-backprop: error: {error.value}\n"


def test_the_readmes_pytorch_example_runs():
    pytest.importorskip("torch")
    section = README.read_text().split("### Into PyTorch", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    exec(compile(code, "README.md", "exec"), {})
