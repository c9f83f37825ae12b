"""Every bad input through the command line: exit status 2, one line naming what to fix, no traceback,
and no existing file changed."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_backprop import files
from cnn_backprop.network import Architecture, init_params

COMMAND = str(Path(sys.executable).parent / "cnn-backprop")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder of good and bad files, shared by every case (none of them may change)."""
    root = tmp_path_factory.mktemp("inputs")
    arch = Architecture()
    files.save_model(root / "model.npz", arch, init_params(arch, np.random.default_rng(0)))
    np.savez(root / "data.npz", images=np.zeros((3, 5, 5)), labels=np.array([0, 1, 0]))
    np.savez(root / "bad_labels.npz", images=np.zeros((2, 5, 5)), labels=np.array([0, 7]))
    np.savez(root / "short_labels.npz", images=np.zeros((2, 5, 5)), labels=np.array([0]))
    np.savez(root / "pickled.npz", images=np.array([None], dtype=object), labels=np.zeros(1))
    np.save(root / "wrong_size.npy", np.zeros((2, 4, 4)))
    (root / "half.csv").write_text("0,0,0\n")
    (root / "empty.npz").write_bytes(b"")
    (root / "notjson.json").write_text("{")
    (root / "old.npz").write_bytes(b"existing model, must survive")
    (root / "truncated.npz").write_bytes((root / "model.npz").read_bytes()[:200])
    givens = {
        "g_list.json": [1, 2],
        "g_key.json": {"pool_strid": 2},
        "g_label.json": {"label": 3},
        "g_ragged.json": {"image": [[0, 0, 0], [0, 0]]},
        "g_square.json": {"conv_kernel": [[1, 2, 3], [4, 5, 6]]},
        "g_type.json": {"conv_bias": "one"},
        "g_stride.json": {"conv_stride": 0},
        "g_pad.json": {"conv_padding": -1},
        "g_pool.json": {"pool_size": 0},
        "g_big.json": {"conv_kernel": [[1] * 7] * 7, "conv_padding": 0},
        "g_fc.json": {"pool_stride": 2, "fc_weights": [1, 2, 3, 4]},
        "g_float.json": {"pool_stride": 1.5},
        "g_bool.json": {"label": True},
        "g_inf.json": {"fc_bias": 1e999},
        "g_huge.json": {"conv_padding": 10**10},
    }
    for name, value in givens.items():
        (root / name).write_text(json.dumps(value))
    return root


CASES = [
    # walkthrough --given
    (["walkthrough", "--given", "g_list.json"], "g_list.json must be a JSON object with keys from image, label"),
    (["walkthrough", "--given", "g_key.json"], 'unknown key "pool_strid" (did you mean "pool_stride"?)'),
    (["walkthrough", "--given", "g_label.json"], "label must be 0 (cross) or 1 (rectangle), got 3"),
    (["walkthrough", "--given", "g_bool.json"], "label must be 0 (cross) or 1 (rectangle), got True"),
    (["walkthrough", "--given", "g_ragged.json"], "image is ragged: its rows have lengths [2, 3]"),
    (["walkthrough", "--given", "g_square.json"], "conv_kernel must be square, got 2x3"),
    (["walkthrough", "--given", "g_type.json"], "conv_bias must be a number, got 'one'"),
    (["walkthrough", "--given", "g_stride.json"], "conv_stride must be a whole number >= 1, got 0"),
    (["walkthrough", "--given", "g_pad.json"], "conv_padding must be a whole number >= 0, got -1"),
    (["walkthrough", "--given", "g_pool.json"], "pool_size must be a whole number >= 1, got 0"),
    (["walkthrough", "--given", "g_float.json"], "pool_stride must be a whole number >= 1, got 1.5"),
    (["walkthrough", "--given", "g_inf.json"], "fc_bias must be a finite number, got inf"),
    (["walkthrough", "--given", "g_big.json"], "a 7x7 kernel does not fit a 5x5 image with padding 0 (5x5)"),
    (
        ["walkthrough", "--given", "g_fc.json"],
        "pool size 2 at stride 2 on a 3x3 feature map gives 1x1, so fc_weights needs 1 value, got 4",
    ),
    (
        ["walkthrough", "--given", "g_huge.json"],
        "is 20000000005x20000000005, with 1 channels and 1 filters; at most 1024",
    ),
    (["train", "--padding", "600"], "with padding 600 is 1205x1205"),
    (["walkthrough", "--given", "notjson.json"], "notjson.json: not valid JSON"),
    (["walkthrough", "--given", "nothere.json"], "nothere.json: no such file"),
    (["walkthrough", "--figures", "old.npz"], "cannot write to old.npz: it exists and is not a directory"),
    (["gradcheck", "--given", "g_fc.json"], "fc_weights needs 1 value, got 4"),
    # architecture options
    (["train", "--kernel-size", "9"], "a 9x9 kernel does not fit a 5x5 image with padding 0"),
    (["train", "--pool-size", "4"], "a 4x4 pool window does not fit the 3x3 feature map"),
    (["train", "--padding", "-1"], "argument --padding: must be >= 0, got -1"),
    (["train", "--filters", "0"], "argument --filters: must be >= 1, got 0"),
    (["train", "--lr", "nan"], "argument --lr: must be a positive number, got nan"),
    (["train", "--lr", "-1"], "argument --lr: must be a positive number, got -1"),
    (["train", "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (
        ["train", "--epochs", "2", "--lr", "1e6", "--train-size", "64", "--out", "old.npz"],
        "training stopped in epoch 1: the ReLU died",
    ),
    # output paths
    (["train", "--out", "no/such/dir/m.npz"], "cannot write no/such/dir/m.npz: directory no/such/dir does not exist"),
    (["train", "--plot", "curves.txt"], "curves.txt: the figure's file name must end in .png, .svg or .pdf"),
    (["dataset", "--out", "d.csv"], "a data set is written as .npz"),
    (["exercise", "--out", "sheets", "--padding", "0", "600"], "--padding 600 with --pool-stride 1: a 5x5 image"),
    (["dataset", "--out", "missing/d.npz"], "directory missing does not exist"),
    # data and image files
    (
        ["evaluate", "--model", "model.npz", "--data", "bad_labels.npz"],
        "labels must be 0 (cross) or 1 (rectangle), got 7",
    ),
    (["evaluate", "--model", "model.npz", "--data", "short_labels.npz"], "labels must have shape (2,), one per image"),
    (
        ["evaluate", "--model", "model.npz", "--data", "pickled.npz"],
        "holds pickled Python objects, which are never loaded",
    ),
    (["evaluate", "--model", "model.npz", "--data", "empty.npz"], "not a readable .npz file (it is not a zip archive)"),
    (["evaluate", "--model", "model.npz", "--data", "data.csv"], "a data set must be an .npz file"),
    (["predict", "--model", "model.npz", "wrong_size.npy"], "images are 4x4, the model expects 5x5"),
    (["predict", "--model", "model.npz", "half.csv"], "line 1: expected 25 values (5x5 image), got 3"),
    (["predict", "--model", "model.npz", "nothere.npy"], "nothere.npy: no such file"),
    # model files
    (["predict", "--model", "old.npz", "wrong_size.npy"], "old.npz: not a readable .npz file"),
    (["evaluate", "--model", "truncated.npz"], "truncated.npz: not a readable .npz file"),
    (["evaluate", "--model", "data.npz"], "data.npz: not a cnn-backprop model: missing config"),
    (["evaluate"], "the following arguments are required: --model"),
]


def snapshot(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_bad_input_exits_2_with_one_line(workdir, argv, message):
    before = snapshot(workdir)
    done = subprocess.run([COMMAND, *argv], cwd=workdir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("cnn-backprop: error: ") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    assert message in done.stderr
    assert snapshot(workdir) == before
