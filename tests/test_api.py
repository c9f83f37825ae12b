"""The Python API: the package exports what it documents, and a user error is the command line's.  (The examples
in the README and the docs run in tests/test_readme.py.)"""

import subprocess
import sys

import pytest

import cnn_backprop as cb
from cnn_backprop.cli import main


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


def test_a_network_and_a_pass_show_themselves_in_a_notebook():
    arch = cb.Architecture.parse(cb.DIGITS_SPEC, 1, 8)
    assert repr(arch) == f"Architecture({cb.DIGITS_SPEC!r}, input 1x8x8)"
    rows = arch.summary()
    assert rows[0] == ("conv1", "conv 32x3x3 pad 1", "conv1_pre", "32x8x8", 32 * 9 + 32)
    assert rows[3][-1] == 64 * 32 * 9 + 64 and sum(row[-1] for row in rows) == 320 + 18496 + 2570
    assert "<td>pool2</td><td>maxpool 2</td><td>pool2</td><td>64x2x2</td><td>0</td>" in arch._repr_html_()
    assert "21,386 parameters" in arch._repr_html_()
    p = cb.run(seed=0)
    page = p._repr_html_()
    assert repr(p).startswith("Pass(conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid, image 1x5x5, label 1")
    for heading in ("Given", "1. Output sizes", "2. Forward pass", "3. Backward pass"):
        assert f"<h2>{heading}" in page
    assert "z = fc_pre = fc_weights . pool + fc_bias = 7.3361" in page


def test_an_explained_number_and_a_training_history_show_themselves_in_a_notebook():
    from cnn_backprop.explain import terms

    p = cb.run(seed=0)
    explained = cb.explain_value(p, "conv_pre[1,2]", decimals=10)
    assert isinstance(explained, list) and explained[0].startswith("conv_pre[1,2] = ")
    quantity, rows, result = terms(explained[0])
    assert quantity == "conv_pre[1,2]" and len(rows) == 10  # the bias and nine products
    assert sum(value for _, value in rows) == pytest.approx(float(result), abs=1e-8)
    assert float(result) == pytest.approx(p.values["conv_pre"][0, 1, 2], abs=1e-10)
    page = explained._repr_html_()
    assert page.count("<tr><td>") == 10 and f"<th>{result}</th>" in page
    assert terms("pool[0,0] = max(1, 2, 3, 4) = 4") is None
    history = cb.fit(epochs=2, train_size=64, test_size=64)["history"]
    assert isinstance(history, list) and [row["epoch"] for row in history] == [1, 2]
    assert repr(history).startswith("History(2 epochs; last: test accuracy ")
    assert history._repr_png_().startswith(b"\x89PNG")


@pytest.mark.parametrize("spec", [cb.SEED_SPEC, "conv 2x3x3, tanh, dense 2, relu, dense 1, sigmoid",
                                  "conv 2x3x3, batchnorm, relu, dense 3, softmax"])  # fmt: skip
def test_a_pass_of_a_network_is_the_pass_of_its_instance(spec):
    import numpy as np

    net = cb.build(spec, seed=4)
    image = np.random.default_rng(1).normal(0, 1, (1, 5, 5))
    p = cb.pass_of(net, image, 1)
    forward = net.forward(image[None], np.array([1]))
    assert p.loss == forward["loss"]
    np.testing.assert_array_equal(p.grads["image"], net.backward()["image"][0])
    for given in (p.given, p, dict(p.given, image=image)):  # its own given, arrays and all, and the Pass itself
        again = cb.run(given=given)
        assert again.loss == p.loss and str(again.arch) == str(p.arch)
        np.testing.assert_array_equal(again.grads["image"], p.grads["image"])


LENET = ("conv 6x5x5 pad 2, sigmoid, avgpool 2, conv 16x5x5, sigmoid, avgpool 2, dense 120, sigmoid, dense 84, "
         "sigmoid, dense 10, softmax")  # fmt: skip


def test_a_pass_of_any_size_shows_a_summary_of_at_most_200_kb():
    import numpy as np

    net = cb.build(LENET, input_shape=(3, 32, 32))
    p = cb.pass_of(net, np.random.default_rng(0).random((3, 32, 32)), 3)
    shown = p._repr_html_()
    assert len(shown) < 200_000
    for named in p.arch.named:
        assert named.kind_of.reshapes or named.kind_of.is_output or f"<td>{named.output}</td>" in shown
    assert 'cb.explain_value(p, "dL/dconv1_kernel[0,0,0,0]")' in shown and shown.count("data:image/png") >= 8
    assert "predicted class" in shown and "train mode" in shown
    small = cb.run()._repr_html_()  # a pass of a few numbers shows them all
    assert "1. Output sizes" in small and "data:image/png" not in small


def test_figures_show_in_a_fresh_kernel_and_reports_as_tables():
    from IPython.core.interactiveshell import InteractiveShell

    formatter = InteractiveShell.instance().display_formatter  # no %matplotlib: what a fresh kernel has
    p = cb.run()
    history = [{"epoch": epoch, "train_loss": 1 / epoch, "train_accuracy": 0.5, "test_loss": 1 / epoch,
                "test_accuracy": 0.5, "relu_alive": 1.0} for epoch in (1, 2)]  # fmt: skip
    for figure in (cb.overview_figure(p), cb.learning_curves(history)):
        assert formatter.format(figure)[0]["image/png"].startswith(b"\x89PNG")
    report = formatter.format(cb.check_gradients(p))[0]["text/html"]
    assert report.startswith("<table><caption>gradcheck passed: worst ") and "<td>dL/dconv_kernel</td>" in report
    net = cb.build("conv 2x3x3, batchnorm, relu, dense 2, softmax")
    for shown in (net.arch.summary(), net.eval()):
        table = formatter.format(shown)[0]["text/html"]
        assert "<td>bn</td><td>batchnorm</td><td>bn</td><td>2x3x3</td><td>4</td>" in table
    assert "62 parameters, eval mode</caption>" in table and repr(net).endswith(", eval mode)")


def test_a_model_trained_in_float32_is_kept_in_float64():
    model = cb.fit(source="shapes", epochs=1, dtype="float32", train_size=64)["model"]
    assert {value.dtype.name for value in model.params.values()} == {"float64"}
