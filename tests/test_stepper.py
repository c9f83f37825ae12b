"""The step-through of a sliding layer in a real browser: forward, each output as its window makes it; backward,
question 3 built window by window (dL/dkernel and dL/dinput), a padded convolution's zero border drawn."""

import json

import numpy as np
import pytest
from test_page import CHROMIUM, browser, open_page, python_result  # noqa: F401 - the fixture

from cnn_backprop import walkthrough
from cnn_backprop.cli import main
from cnn_backprop.page import starting_given

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

VALUES = "(ns) => ns.map((n) => Number(n.dataset.value))"
PADDED = "conv 2x3x3 stride 2 pad 1, relu, conv 2x2x2 pad 1, relu, dense 2, softmax"


def stepper_values(tab, quantity):
    return tab.eval_on_selector_all(f'.stepper table[data-quantity="{quantity}"] td[data-value]', VALUES)


def test_step_through_a_convolution_and_a_pooling(browser, tmp_path):  # noqa: F811 - the fixture
    given = starting_given(walkthrough.complete_given(seed=1))
    result = python_result(given)
    tab = open_page(browser, tmp_path, given)
    for _ in range(3):
        tab.click("#stepper-step")
    # Forward: the window has moved to [1,0]; four outputs are shown, each Python's, and the arithmetic of the last.
    assert stepper_values(tab, "conv_pre") == pytest.approx(np.ravel(result["forward"]["conv_pre"])[:4], abs=1e-12)
    assert tab.inner_text("#stepper-text").startswith("window 4 of 9: [1,0]")
    # the window [1,0] of the image is lit: rows 1-3, columns 0-2
    lit = tab.eval_on_selector_all(".stepper [data-quantity='image'] .source", "(ns) => ns.map((n) => n.dataset.full)")
    assert lit == [f"0,{r},{s}" for r in range(1, 4) for s in range(3)]
    # Backward: after every window, what they sent back is dL/dimage (one filter, one channel).
    tab.check("#gradients")
    tab.click("#stepper-reset")
    for _ in range(8):
        tab.click("#stepper-step")
    sent = stepper_values(tab, "stepper.sent")
    assert sent == pytest.approx(np.ravel(result["backward"]["image"]), abs=1e-12)
    # A pooling's channel is its input's: one picker.
    tab.select_option("#stepper-layer", "1")
    assert tab.locator("#stepper-c").count() == 0
    assert not {"undefined", "null", "NaN"} & set(tab.inner_text("body").split()) and tab.errors == []


def json_of(capsys, tmp_path, given):
    """`cnn-backprop walkthrough --given ... --json` of ``given``: what a student checks the page against."""
    (tmp_path / "given.json").write_text(json.dumps(given))
    assert main(["walkthrough", "--given", str(tmp_path / "given.json"), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("net", [None, PADDED])
def test_backward_the_step_through_builds_dL_dkernel_window_by_window(browser, tmp_path, capsys, net):  # noqa: F811
    """Every conv layer, every filter f and input channel c: after window t, the step-through's dL/dkernel[f,c] is
    the sum over windows 1..t of X's window times dL/dconv_pre[f,i,j] (padding read as 0), and dL/dbias[f] the sum
    of those dL/dconv_pre; after the last they are `walkthrough --json`'s, to 1e-12, and what the filters' windows
    sent back adds up to its dL/d(input).  A padded layer draws its zero border, and the lit window covers it."""
    given = starting_given(walkthrough.complete_given({"net": net} if net else {}, seed=2))
    shown = json_of(capsys, tmp_path, given)
    pass_ = walkthrough.run(walkthrough.complete_given(given))
    tab = open_page(browser, tmp_path, given)
    tab.check("#gradients")
    layers = {n.name: n for n in pass_.arch.named}
    offered = [layers[name] for name in tab.locator("#stepper-layer option").all_inner_texts()]  # the sliding ones
    convs = [(k, named) for k, named in enumerate(offered) if "kernel" in named.kind_of.param_keys]
    assert len(convs) == (1 if net is None else 2)
    for position, named in convs:
        key = f"{named.name}_kernel"
        layer, x, up = named.layer, pass_.values[named.input], pass_.grads[named.output]
        pad, stride = layer.padding, layer.stride
        kernel = np.reshape(shown["backward"][key], pass_.params[key].shape)
        F, C, K, _ = kernel.shape
        padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
        side = up.shape[1]  # the output's
        sent = np.zeros(x.shape)
        tab.select_option("#stepper-layer", str(position))
        for f in range(F):
            for c in range(C):
                tab.select_option("#stepper-f", str(f))
                if C > 1:
                    tab.select_option("#stepper-c", str(c))
                total = np.zeros((K, K))
                for t in range(side * side):
                    i, j = divmod(t, side)
                    total += up[f, i, j] * padded[c, stride * i : stride * i + K, stride * j : stride * j + K]
                    ours = np.reshape(stepper_values(tab, f"stepper.{key}"), (K, K))
                    np.testing.assert_allclose(ours, total, rtol=0, atol=1e-12, err_msg=f"{key}[{f},{c}] window {t}")
                    bias = stepper_values(tab, f"stepper.{named.name}_bias")
                    assert bias == pytest.approx([up[f].ravel()[: t + 1].sum()], abs=1e-12)
                    if t < side * side - 1:
                        tab.click("#stepper-step")
                np.testing.assert_allclose(ours, kernel[f, c], rtol=0, atol=1e-12, err_msg=f"{key}[{f},{c}]")
                assert bias == pytest.approx([np.ravel(shown["backward"][f"{named.name}_bias"])[f]], abs=1e-12)
                sent[c] += np.reshape(stepper_values(tab, "stepper.sent"), x.shape[1:])  # filter f's share
        # what every filter's windows sent back to each channel is dL/d(input)
        np.testing.assert_allclose(sent, np.reshape(shown["backward"][named.input], x.shape), rtol=0, atol=1e-12)
        # the zero border: shown as padding, the input's cells inside it, in the input and in its gradient
        side = x.shape[1] + 2 * pad  # the padded input's
        for quantity in (named.input, "stepper.sent"):
            table = f'.stepper table[data-quantity="{quantity}"]'
            assert tab.locator(f"{table} td").count() == side * side
            pads = tab.locator(f"{table} td[data-pad]")
            assert pads.count() == side * side - x.shape[1] ** 2
            assert tab.locator(f"{table} td[data-pad][data-value]").count() == 0
        if pad:
            border = f'.stepper table[data-quantity="{named.input}"] td[data-pad]'
            assert set(tab.locator(border).all_inner_texts()) == {"0"}
            # the last window of a padded layer reaches into the border: its padding cells are lit
            assert tab.locator(f"{border}.source").count() > 0
            assert "0 (pad)" in tab.inner_text("#stepper-text")
    assert not {"undefined", "null", "NaN"} & set(tab.inner_text("body").split()) and tab.errors == []
