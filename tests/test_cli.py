"""The command line end to end: output, files written, and one-line errors with exit status 2."""

import json
import re
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
    assert names == {
        f"{n}.png" for n in ("image", "conv_kernel", "conv_pre", "pool", "dL_dconv_relu", "dL_dconv_kernel", "overview")
    }
    for path in (tmp_path / "figs").iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_gradcheck_passes(capsys):
    status, out, _ = run(capsys, "gradcheck", "--seed", "3", "--pool-stride", "2")
    assert status == 0
    assert "passed: worst" in out
    worst = float(out.split("worst ")[1].split()[0])
    assert worst < 1e-6


@pytest.mark.parametrize(
    "argv,message",
    [
        (["walkthrough", "--given", "missing.json"], "missing.json: no such file"),
        (["walkthrough", "--pool-stride", "0"], "--pool-stride: pool_stride must be a whole number >= 1, got 0"),
        (["walkthrough", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
        (["walkthrough", "--decimals", "-1"], "--decimals must be >= 0"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_errors_are_one_line_with_status_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("cnn-backprop: error: ")
    assert message in err


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
        ("[1, 2]", "must be a JSON object"),
        ('{"label": 2}', "label must be 0 (cross) or 1 (rectangle), got 2"),
        ('{"image": [[1, 2], [3]]}', "image is ragged"),
        ('{"conv_bias": NaN}', "conv_bias must be a finite number, got nan"),
        ('{"pool_size": 4}', "pool: a 4x4 pool window does not fit the 3x3 map; use maxpool 3 or smaller"),
    ],
)
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
    bad = subprocess.run(
        [command, "walkthrough", "--given", str(tmp_path / "nope.json")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


def test_train_evaluate_predict_dataset_end_to_end(capsys, tmp_path):
    model, curves = tmp_path / "m.npz", tmp_path / "curves.png"
    status, out, _ = run(
        capsys,
        "train",
        "--train-size",
        "1500",
        "--epochs",
        "8",
        "--seed",
        "2",
        "--out",
        str(model),
        "--plot",
        str(curves),
        "--json",
    )
    summary = json.loads(out)
    assert status == 0 and summary["test_accuracy"] >= 0.97
    for key in (
        "train_accuracy",
        "train_loss",
        "test_loss",
        "epochs",
        "seconds",
        "train_size",
        "test_size",
        "batch_size",
        "lr",
        "seed",
    ):
        assert key in summary
    assert (summary["train_size"], summary["epochs"], summary["seed"]) == (1500, 8, 2)
    assert curves.read_bytes()[:4] == b"\x89PNG"

    data = tmp_path / "d.npz"
    status, out, _ = run(
        capsys, "dataset", "--count", "300", "--seed", "9", "--out", str(data), "--plot", str(tmp_path / "grid.png")
    )
    assert status == 0 and "wrote 300 images" in out and (tmp_path / "grid.png").stat().st_size > 1000

    status, out, _ = run(
        capsys, "evaluate", "--model", str(model), "--data", str(data), "--json", "--plot", str(tmp_path / "wrong.png")
    )
    report = json.loads(out)
    assert status == 0 and report["count"] == 300
    assert sum(map(sum, report["confusion"])) == 300
    assert report["accuracy"] == (report["confusion"][0][0] + report["confusion"][1][1]) / 300

    images = np.load(data)["images"][:4]
    np.save(tmp_path / "x.npy", images[:, 0])
    status, out, _ = run(capsys, "predict", "--model", str(model), str(tmp_path / "x.npy"), "--json")
    rows = json.loads(out)
    assert status == 0 and [row["index"] for row in rows] == [0, 1, 2, 3]
    for row in rows:
        assert set(row) == {"index", "label", "class", "probabilities", "probability_rectangle"}
        assert row["class"] == ("rectangle" if row["label"] == 1 else "cross")
        assert (row["probability_rectangle"] > 0.5) == (row["label"] == 1)
        assert row["probabilities"] == [1 - row["probability_rectangle"], row["probability_rectangle"]]


def test_dataset_is_the_training_set_of_the_same_seed(capsys, tmp_path):
    from cnn_backprop import data

    run(capsys, "dataset", "--count", "50", "--seed", "4", "--out", str(tmp_path / "d.npz"))
    images = data.load("shapes", seed=4, train_size=50).train_images
    np.testing.assert_array_equal(np.load(tmp_path / "d.npz")["images"], images)


def test_train_text_summary_and_progress(capsys):
    import io

    from cnn_backprop.summary import progress

    status, out, err = run(capsys, "train", "--train-size", "200", "--test-size", "100", "--epochs", "2")
    assert status == 0 and "trained 2 epochs on 200 images" in out and "test" in out
    # not a terminal: lines, not a bar; a run this short gets the last epoch's alone
    assert err.startswith("epoch 2/2: loss ") and err.count("\n") == 1 and "\r" not in err
    status, _, err = run(capsys, "train", "--train-size", "200", "--test-size", "100", "--epochs", "2", "--quiet")
    assert status == 0 and err == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    row = {"train_loss": 0.5, "train_accuracy": 0.9, "test_accuracy": 0.875}
    stream = Terminal()
    show = progress(2, stream, width=4)
    show(1, row)
    show(2, row)
    assert stream.getvalue() == (
        "\repoch 1/2 [##..] loss 0.5000  train 90.00%  test 87.50%"
        "\repoch 2/2 [####] loss 0.5000  train 90.00%  test 87.50%\n"
    )
    # a log: a line whenever 5 s have passed since the last one, and after the last epoch
    now = iter([0, 1, 6, 7, 13, 20])  # the start, then the clock as each epoch ends
    stream = io.StringIO()
    show = progress(5, stream, clock=lambda: next(now))
    for epoch in range(1, 6):
        show(epoch, row)
    assert [line.split(":")[0] for line in stream.getvalue().splitlines()] == ["epoch 2/5", "epoch 4/5", "epoch 5/5"]


def test_gradcheck_exits_1_when_a_gradient_is_wrong(capsys, monkeypatch):
    from cnn_backprop.kinds.conv import Conv2D

    correct = Conv2D.backward

    def doubled_kernel_gradient(self, grad):
        result = correct(self, grad)
        self.grads["kernel"] = 2 * self.grads["kernel"]
        return result

    monkeypatch.setattr(Conv2D, "backward", doubled_kernel_gradient)
    status, out, _ = run(capsys, "gradcheck", "--seed", "1")
    assert status == 1
    assert "dL/dconv_kernel" in out and "FAIL" in out and out.rstrip().splitlines()[-1].startswith("FAILED: worst")


DIGITS_NET = "conv 4x3x3 pad 1, relu, maxpool 2, conv 6x3x3 pad 1, relu, avgpool 2, dense 10, softmax"


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A small digits model trained for a few epochs, and its folder."""
    folder = tmp_path_factory.mktemp("digits")
    options = [
        "--epochs",
        "6",
        "--lr",
        "0.05",
        "--momentum",
        "0.9",
        "--shift",
        "0",
        "--lr-decay",
        "none",
        "--seed",
        "3",
        "--quiet",
    ]
    status = main(["train", "--data", "digits", "--net", DIGITS_NET, *options, "--out", str(folder / "digits.npz")])
    assert status == 0
    return folder


def test_digits_train_evaluate_predict_export(capsys, digits_model):
    torch = pytest.importorskip("torch")
    capsys.readouterr()
    model = digits_model / "digits.npz"
    status, out, _ = run(capsys, "evaluate", "--model", str(model), "--json", "--plot", str(digits_model / "e.png"))
    report = json.loads(out)
    assert status == 0 and report["count"] == 359 and report["classes"] == [str(k) for k in range(10)]
    assert report["data"] == "the digits' test split (seed 3)"  # the training seed: its test set is held out
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 359
    assert report["accuracy"] == np.trace(confusion) / 359 > 0.8
    np.testing.assert_allclose(report["class_accuracy"], np.diag(confusion) / confusion.sum(axis=1))
    assert (digits_model / "e.png").read_bytes()[:4] == b"\x89PNG"
    status, text, _ = run(capsys, "evaluate", "--model", str(model))
    assert "true / predicted" in text and text.count("%") == 11  # overall and one per class

    run(capsys, "dataset", "--data", "digits", "--out", str(digits_model / "test.npz"))
    status, out, _ = run(capsys, "predict", "--model", str(model), str(digits_model / "test.npz"), "--json")
    rows = json.loads(out)
    assert status == 0 and len(rows) == 359
    assert set(rows[0]) == {"index", "label", "class", "probabilities"} and len(rows[0]["probabilities"]) == 10
    for row in rows[:20]:
        assert row["label"] == int(np.argmax(row["probabilities"])) and row["class"] == str(row["label"])

    status, out, _ = run(capsys, "export", "--model", str(model), "--out", str(digits_model / "model.py"))
    assert status == 0 and "LOSS = 'cross_entropy'" in out
    namespace = {"__file__": str(digits_model / "model.py")}
    exec((digits_model / "model.py").read_text(), namespace)
    assert namespace["LOSS"] == "cross_entropy" and namespace["SPEC"] == DIGITS_NET
    images = np.load(digits_model / "test.npz")["images"]
    with torch.no_grad():
        theirs = torch.softmax(namespace["build"]()(torch.from_numpy(images)), dim=1).numpy()
    np.testing.assert_allclose(theirs, [row["probabilities"] for row in rows], rtol=0, atol=1e-12)


def test_export_without_weights_and_with_a_path(capsys, tmp_path, digits_model):
    pytest.importorskip("torch")
    status, _, _ = run(capsys, "export", "--net", "conv 2x3x3, relu, maxpool 2, dense 1, sigmoid", "--out",
                       str(tmp_path / "fresh.py"))  # fmt: skip
    namespace = {"__file__": str(tmp_path / "fresh.py")}
    exec((tmp_path / "fresh.py").read_text(), namespace)
    assert status == 0 and namespace["LOSS"] == "bce" and namespace["WEIGHTS"] is None
    model = namespace["build"]()
    assert [name for name, _ in model.named_children()] == ["conv", "conv_relu", "pool", "fc_input", "fc"]
    assert model.fc.in_features == 2 and model.conv.weight.dtype == namespace["torch"].float64
    run(capsys, "export", "--model", str(digits_model / "digits.npz"), "--out", str(tmp_path / "elsewhere.py"))
    namespace = {"__file__": str(tmp_path / "elsewhere.py")}
    exec((tmp_path / "elsewhere.py").read_text(), namespace)
    loaded = namespace["build"]()  # the model file found from the exported file's folder
    again = namespace["build"](str(digits_model / "digits.npz"))  # or from a path
    assert all((a == b).all() for a, b in zip(loaded.state_dict().values(), again.state_dict().values()))


def test_walkthrough_of_any_network_from_a_given_file(capsys, tmp_path):
    status, out, _ = run(capsys, "walkthrough", "--data", "digits", "--seed", "4", "--json")
    given = json.loads(out)["given"]
    assert status == 0 and given["net"].startswith("conv 32x3x3 pad 1") and np.shape(given["image"]) == (8, 8)
    (tmp_path / "one-digit.json").write_text(json.dumps(given))
    status, out, _ = run(capsys, "walkthrough", "--given", str(tmp_path / "one-digit.json"), "--all", "--figures",
                         str(tmp_path / "figs"))  # fmt: skip
    assert status == 0 and "conv2_pre (before ReLU):" in out and "dL/dconv1_kernel:" in out
    names = {p.stem for p in (tmp_path / "figs").iterdir()}
    assert names == {"image", "conv1_kernel", "conv1_pre", "pool1", "dL_dconv1_relu", "conv2_kernel", "conv2_pre",
                     "pool2", "dL_dconv2_relu", "dL_dconv2_kernel", "dL_dconv1_kernel", "overview"}  # fmt: skip


@pytest.mark.parametrize("which", ["conv2_kernel[3,0,1,2]", "conv1_pre[0,1,1]", "fc_pre[4]", "dL/dpool1[2,1,1]",
                                   "fc_weights[2,5]", "conv2_bias[7]", "dL/dconv1_relu[5,3,3]"])  # fmt: skip
def test_explain_one_value_shows_every_term_and_they_add_up(capsys, which):
    status, out, _ = run(capsys, "walkthrough", "--data", "digits", "--seed", "1", "--explain", which,
                         "--decimals", "12")  # fmt: skip
    _, js, _ = run(capsys, "walkthrough", "--data", "digits", "--seed", "1", "--json")
    result = json.loads(js)
    assert status == 0
    for line in out.strip().splitlines():
        target, expression = line.split(" = ", 1)
        *_, total = expression.rsplit(" = ", 1)
        name, index = re.match(r"(?:dL/d)?(\w+)\[([\d,]+)\]", target).groups()
        part = "backward" if target.startswith("dL/d") else "forward"
        expected = np.asarray(result[part][name])[tuple(map(int, index.split(",")))]
        assert float(total) == pytest.approx(expected, abs=1e-11), line
        # where the line is a plain sum of products, what it shows adds up to its total (to the decimals shown)
        sums = [part for part in expression.split(" = ")[:-1] if re.fullmatch(r"[-+*/().\de ]+", part)]
        assert sums or which.startswith("dL/dconv1_relu"), line  # only a max pool's routing is not a plain sum
        for shown in sums:
            assert eval(shown) == pytest.approx(expected, abs=1e-9), line  # our own digits and + * / ( )


def test_train_json_reports_what_was_used_on_digits(capsys):
    status = main(["train", "--data", "digits", "--net", "conv 2x3x3, relu, maxpool 2, dense 10, softmax",
                   "--epochs", "1", "--json", "--quiet"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert status == 0 and (summary["train_size"], summary["test_size"], summary["init"]) == (1438, 359, "pytorch")


def test_a_pass_too_big_to_read_prints_its_summary_and_says_how_to_get_everything(capsys):
    status, out, _ = run(capsys, "walkthrough", "--data", "digits")
    lines = out.splitlines()
    assert status == 0 and len(lines) < 60
    assert "  conv2_kernel     64x32x3x3" in lines and "1. OUTPUT SIZES" in lines
    assert re.search(r"^  conv1_pre +32x8x8 +from -\d\.\d{4} to \d\.\d{4}$", out, re.M)
    assert re.search(r"^  dL/dconv1_kernel 32x1x3x3 +largest \|entry\| \d\.\d{4}$", out, re.M)
    assert lines[-1] == ("(a summary: this pass has 57,266 numbers. --all prints every one, --json writes them as "
                         "JSON, --explain NAME[i,j,...] shows how one was computed)")  # fmt: skip
    status, out, _ = run(capsys, "walkthrough", "--data", "digits", "--all")
    assert status == 0 and len(out.splitlines()) > 19000 and "conv2_pre (before ReLU):" in out
    status, out, _ = run(capsys, "walkthrough")  # the seed's 135 numbers are printed whole unasked
    assert status == 0 and "dL/dconv_pre = dL/dconv_relu * [conv_pre > 0]:" in out and "summary" not in out


def test_explain_takes_the_name_the_text_prints(capsys):
    _, text, _ = run(capsys, "walkthrough")
    assert "  dL/dkernel:" in text  # the seed's one kernel, as the notebook names it
    status, out, _ = run(capsys, "walkthrough", "--explain", "dL/dkernel[0,0]")
    assert status == 0 and out == run(capsys, "walkthrough", "--explain", "dL/dconv_kernel[0,0]")[1]
    assert out.startswith("dL/dkernel[0,0] = ") and out.rstrip().endswith("= -1.217e-03")
    status, out, err = run(capsys, "walkthrough", "--data", "digits", "--explain", "kernel[0,0,0,0]")
    assert status == 2 and out == ""
    assert err == "cnn-backprop: error: --explain: 'kernel' is one of conv1_kernel, conv2_kernel; name which\n"


def test_counts_are_plural_only_when_more_than_one(capsys, tmp_path):
    status, out, _ = run(capsys, "exercise", "--count", "1", "--out", str(tmp_path / "sheets"))
    assert status == 0 and out.startswith("wrote 1 exercise (0 crosses, 1 rectangle) to ")
    status, out, _ = run(capsys, "dataset", "--count", "3", "--out", str(tmp_path / "d.npz"))
    assert status == 0 and out == f"wrote 3 images (1 cross, 2 rectangles) to {tmp_path / 'd.npz'}\n"


def test_nets_prints_plain_text(capsys):
    status, out, _ = run(capsys, "nets")
    assert status == 0 and "`" not in out and "NAME_kernel and\nNAME_bias (conv)" in out


def test_explore_without_a_browser_says_where_the_page_is(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("webbrowser.open", lambda uri: False)
    page = tmp_path / "page.html"
    status, out, _ = run(capsys, "explore", "--out", str(page))
    assert status == 0 and page.is_file()
    assert out.splitlines()[1] == (f"found no browser to open it: open {page.as_uri()} in one, or copy {page} to a "
                                   "machine that has one (the page needs no network)")  # fmt: skip
    monkeypatch.setattr("webbrowser.open", lambda uri: True)
    assert run(capsys, "explore", "--out", str(page))[1].count("\n") == 1
