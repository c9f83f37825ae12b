"""The command line end to end: output, files written, and one-line errors with exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_backprop import walkthrough
from cnn_backprop.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_walkthrough_text_answers_the_three_questions(capsys):
    status, out, _ = run(capsys, "walkthrough")
    assert status == 0
    assert "(5 - 3 + 2*0) / 1 + 1 = 3  ->  3x3" in out
    assert "dL/dkernel:" in out and "dL/dconv_bias" in out


def test_walkthrough_json_is_the_computed_result(capsys):
    status, out, _ = run(capsys, "walkthrough", "--json", "--seed", "5", "--pool-stride", "2")
    assert status == 0
    result = json.loads(out)
    expected = json.loads(walkthrough.to_json(walkthrough.run(walkthrough.complete_given({"pool_stride": 2}, 5))))
    assert result == expected
    assert result["given"]["pool_stride"] == 2 and result["shapes"]["fc_input"] == [1]


def test_given_round_trip(capsys, tmp_path):
    _, out, _ = run(capsys, "walkthrough", "--json", "--seed", "11", "--pool-stride", "1")
    path = tmp_path / "given.json"
    path.write_text(json.dumps(json.loads(out)["given"]))
    _, again, _ = run(capsys, "walkthrough", "--json", "--given", str(path), "--seed", "999")
    assert json.loads(again) == json.loads(out)


def test_partial_given_and_pool_stride_option(capsys, tmp_path):
    path = tmp_path / "given.json"
    path.write_text(json.dumps({"conv_kernel": [[0, 0], [0, 1]], "conv_bias": 0, "fc_weights": [1.0] * 9}))
    status, out, _ = run(capsys, "walkthrough", "--json", "--given", str(path))
    result = json.loads(out)
    assert status == 0 and result["shapes"]["conv"] == [4, 4] and result["shapes"]["pool"] == [3, 3]
    image = np.array(result["given"]["image"])
    np.testing.assert_allclose(result["forward"]["conv_pre"], image[1:, 1:], atol=1e-15)


def test_explain_shows_products(capsys):
    _, out, _ = run(capsys, "walkthrough", "--explain")
    assert out.count("conv_pre[") >= 9 and "dL/dkernel[2,2] = " in out


def test_figures_are_written(capsys, tmp_path):
    status, _, _ = run(capsys, "walkthrough", "--figures", str(tmp_path / "figs"))
    assert status == 0
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    assert names == {f"{n}.png" for n in ("input", "kernel", "conv", "pool", "pool_gradient",
                                          "kernel_gradient", "overview")}
    for path in (tmp_path / "figs").iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_gradcheck_passes(capsys):
    status, out, _ = run(capsys, "gradcheck", "--seed", "3", "--pool-stride", "2")
    assert status == 0
    assert "passed: worst" in out
    worst = float(out.split("worst ")[1].split()[0])
    assert worst < 1e-6


@pytest.mark.parametrize("argv,message", [
    (["walkthrough", "--given", "missing.json"], "missing.json: no such file"),
    (["walkthrough", "--pool-stride", "0"], "--pool-stride: pool_stride must be a whole number >= 1, got 0"),
    (["walkthrough", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["walkthrough", "--decimals", "-1"], "--decimals must be >= 0"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_errors_are_one_line_with_status_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("cnn-backprop: error: ")
    assert message in err


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    ("[1, 2]", "must be a JSON object"),
    ('{"label": 2}', "label must be 0 (cross) or 1 (rectangle), got 2"),
    ('{"image": [[1, 2], [3]]}', "image is ragged"),
    ('{"conv_bias": NaN}', "conv_bias must be a finite number, got nan"),
    ('{"pool_size": 4}', "a 4x4 pool window does not fit the 3x3 feature map"),
])
def test_bad_given_files(capsys, tmp_path, content, message):
    path = tmp_path / "given.json"
    path.write_text(content)
    status, out, err = run(capsys, "walkthrough", "--given", str(path))
    assert status == 2 and out == "" and err.count("\n") == 1
    assert f"{path}" in err and message in err
    assert path.read_text() == content


def test_installed_command_runs_without_traceback(tmp_path):
    command = Path(sys.executable).parent / "cnn-backprop"
    ok = subprocess.run([command, "walkthrough", "--seed", "1"], capture_output=True, text=True)
    assert ok.returncode == 0 and "3. BACKWARD PASS" in ok.stdout
    bad = subprocess.run([command, "walkthrough", "--given", str(tmp_path / "nope.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
