"""Every bad input through the command line: exit status 2, one line naming what to fix, no traceback,
and no existing file changed."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_backprop import files
from cnn_backprop.architecture import DIGITS_SPEC, Architecture
from cnn_backprop.data import CLASSES
from cnn_backprop.network import init_params

COMMAND = str(Path(sys.executable).parent / "cnn-backprop")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder of good and bad files, shared by every case (none of them may change)."""
    root = tmp_path_factory.mktemp("inputs")
    arch = Architecture.parse()
    files.save_model(root / "model.npz", files.Model(arch, init_params(arch, np.random.default_rng(0)), CLASSES))
    digits = Architecture.parse(DIGITS_SPEC, 1, 8)
    digits_params = init_params(digits, np.random.default_rng(0))
    files.save_model(root / "digits.npz", files.Model(digits, digits_params, tuple("0123456789"), "digits"))
    np.savez(root / "three.npz", images=np.zeros((6, 5, 5)), labels=np.array([0, 1, 2, 0, 1, 2]))
    (root / "folder" / "a").mkdir(parents=True)
    (root / "folder" / "a" / "x.png").write_bytes(b"not a png")
    (root / "nofolders").mkdir()
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
        "g_digits.json": {"net": DIGITS_SPEC, "label": 10},
        "g_dense.json": {"net": DIGITS_SPEC, "fc_weights": [[1.0] * 63] * 10},
    }
    for name, value in givens.items():
        (root / name).write_text(json.dumps(value))
    return root


CASES = [
    # walkthrough --given
    (["walkthrough", "--given", "g_list.json"], "g_list.json must be a JSON object with keys image, label"),
    (["walkthrough", "--given", "g_key.json"], 'unknown key "pool_strid" (did you mean "pool_stride"?)'),
    (["walkthrough", "--given", "g_label.json"], "label must be 0 (cross) or 1 (rectangle), got 3"),
    (["walkthrough", "--given", "g_bool.json"], "label must be 0 (cross) or 1 (rectangle), got True"),
    (["walkthrough", "--given", "g_ragged.json"], "image is ragged: lists of lengths [2, 3] side by side"),
    (["walkthrough", "--given", "g_square.json"], "conv_kernel must be square, got 2x3"),
    (["walkthrough", "--given", "g_type.json"], "conv_bias must be a number, got 'one'"),
    (["walkthrough", "--given", "g_stride.json"], "conv_stride must be a whole number >= 1, got 0"),
    (["walkthrough", "--given", "g_pad.json"], "conv_padding must be a whole number >= 0, got -1"),
    (["walkthrough", "--given", "g_pool.json"], "pool_size must be a whole number >= 1, got 0"),
    (["walkthrough", "--given", "g_float.json"], "pool_stride must be a whole number >= 1, got 1.5"),
    (["walkthrough", "--given", "g_inf.json"], "fc_bias must be a finite number, got inf"),
    (["walkthrough", "--given", "g_big.json"], "conv: a 7x7 kernel does not fit a 5x5 image; use padding 1"),
    (
        ["walkthrough", "--given", "g_fc.json"],
        "pool size 2 at stride 2 on a 3x3 feature map gives 1x1, so fc_weights needs 1 value, got 4",
    ),
    (["walkthrough", "--given", "g_huge.json"], "is 20000000005x20000000005, with 1 filters; at most 1024"),
    (["walkthrough", "--given", "g_digits.json"], "label must be a class 0..9, got 10"),
    (
        ["walkthrough", "--given", "g_dense.json", "--data", "digits"],
        "gives 2x2 on 64 channels, so fc_weights needs 2560 values (10 rows of 256), got 630",
    ),
    (["walkthrough", "--given", "g_digits.json", "--net", "dense 2, softmax"], "but --net says 'dense 2, softmax'"),
    (["walkthrough", "--given", "notjson.json"], "notjson.json: not valid JSON"),
    (["walkthrough", "--given", "nothere.json"], "nothere.json: no such file"),
    (["walkthrough", "--figures", "old.npz"], "cannot write to old.npz: it exists and is not a directory"),
    (["walkthrough", "--explain", "conv_pre[9,9]"], "--explain conv_pre[9,9]: conv_pre is 3x3; give 2 indices"),
    (["walkthrough", "--explain", "conv_kernal[0,0]"], "no quantity 'conv_kernal' (did you mean \"conv_kernel\"?)"),
    (["walkthrough", "--explain", "conv_pre(1)"], "--explain 'conv_pre(1)': write NAME[i,j,...]"),
    (["walkthrough", "--data", "digits", "--explain", "bias[0]"], "'bias' is one of conv1_bias, conv2_bias, fc_bias"),
    (
        ["walkthrough", "--net", "conv 1x3x3, dropout 0.5, dense 1, sigmoid", "--explain", "dL/ddrop_mask[0,0,0]"],
        "--explain dL/ddrop_mask[0,0,0]: drop_mask is given (drawn in training mode); it has no gradient",
    ),
    (["gradcheck", "--given", "g_fc.json"], "fc_weights needs 1 value, got 4"),
    # network specs
    (
        ["walkthrough", "--net", "conv 8x3x3, relu, maxpool 2, conv 16x3x3, dense 1, sigmoid"],
        "conv2: a 3x3 kernel does not fit a 1x1 map; use padding 1 or drop pool",
    ),
    (["train", "--net", "convolution 8x3x3, dense 1, sigmoid"], "unknown layer 'convolution'"),
    (["train", "--net", "conv 8x3, dense 1, sigmoid"], "'conv 8x3': '8x3' is not FxKxK; write conv FxKxK"),
    (["train", "--net", "conv 2x3x3, relu, dense 1"], "a network ends in sigmoid or softmax"),
    (["train", "--net", "conv 2x3x3, relu, dense 4, sigmoid"], "sigmoid gives P(class 1) from one number z"),
    (["train", "--net", "conv 1x3x3 pad 600, relu, dense 1, sigmoid"], "with padding 600 is 1205x1205"),
    (["train", "--net", "conv 1x3x3, maxpool 4, dense 1, sigmoid"], "pool: a 4x4 pool window does not fit the 3x3 map"),
    (["train", "--net", "dense 3, softmax"], "the data has 2 classes (cross, rectangle), the network tells 3 apart"),
    # explore refuses what its Train button would
    (
        [
            "explore",
            "--no-open",
            "--out",
            "x.html",
            "--net",
            "conv 2x3x3, relu, maxpool 2, dense 2, softmax",
            "--data",
            "digits",
        ],
        "--net: the data has 10 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), the network tells 2 apart",
    ),
    (["train", "--data", "three.npz", "--net", "dense 1, sigmoid"], "end it in 'dense 3, softmax'"),
    (["train", "--lr", "nan"], "argument --lr: must be a positive number, got nan"),
    (["train", "--lr", "-1"], "argument --lr: must be a positive number, got -1"),
    (["train", "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (["train", "--init", "zeros"], "argument --init: invalid choice: 'zeros'"),
    (
        ["train", "--epochs", "2", "--lr", "1e6", "--train-size", "64", "--out", "old.npz"],
        "training stopped in epoch 1: a ReLU died",
    ),
    # data sources
    (["train", "--data", "mnist"], "mnist: a data set is 'shapes', 'digits', an .npz file or a folder"),
    (["train", "--data", "nofolders"], "nofolders: no class folders in it"),
    (["train", "--data", "folder"], "x.png: not a readable PNG image"),
    # output paths
    (["train", "--out", "no/such/dir/m.npz"], "cannot write no/such/dir/m.npz: directory no/such/dir does not exist"),
    (["train", "--plot", "curves.txt"], "curves.txt: the file name must end in .png or .svg or .pdf"),
    (["dataset", "--out", "d.csv"], "d.csv: the file name must end in .npz"),
    (
        ["exercise", "--out", "sheets", "--padding", "0", "600"],
        "--padding 600: conv: a 5x5 image with padding 600 is 1205x1205",
    ),
    (["dataset", "--out", "missing/d.npz"], "directory missing does not exist"),
    (["export", "--net", "conv 2x9x9, dense 1, sigmoid", "--out", "m.py"], "conv: a 9x9 kernel does not fit"),
    (["export", "--model", "model.npz", "--out", "m.txt"], "m.txt: the file name must end in .py"),
    (["export", "--out", "m.py"], "one of the arguments --model --net is required"),
    # data and image files
    (["evaluate", "--model", "model.npz", "--data", "three.npz"], "label 2 is not one of the model's 2 classes"),
    (["evaluate", "--model", "model.npz", "--data", "bad_labels.npz"], "label 7 is not one of the model's 2 classes"),
    (["evaluate", "--model", "model.npz", "--data", "short_labels.npz"], "labels must have shape (2,), one per image"),
    (
        ["evaluate", "--model", "model.npz", "--data", "pickled.npz"],
        "holds pickled Python objects, which are never loaded",
    ),
    (["evaluate", "--model", "model.npz", "--data", "empty.npz"], "not a readable .npz file (it is not a zip archive)"),
    (["evaluate", "--model", "model.npz", "--data", "data.csv"], "a data set is 'shapes', 'digits', an .npz file"),
    (["evaluate", "--model", "digits.npz", "--data", "data.npz"], "images are 1x5x5, the model expects 1x8x8"),
    (["predict", "--model", "model.npz", "wrong_size.npy"], "images are 1x4x4 (channels x height x width), the model"),
    (["predict", "--model", "model.npz", "half.csv"], "line 1: expected 25 values (1x5x5 image), got 3"),
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
