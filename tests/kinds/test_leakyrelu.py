"""leakyrelu: by hand, its slope in the spec, and its mistake named by check (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

import numpy as np
import pytest
from conftest import mark_one_mistake, torch_module

from cnn_backprop.architecture import Architecture, parse
from cnn_backprop.kinds import conv
from cnn_backprop.kinds.leakyrelu import LeakyReLU
from cnn_backprop.validate import InputError

NET = "conv 2x3x3, leakyrelu slope 0.2, maxpool 2 stride 1, dense 3, leakyrelu, dense 2, softmax"


def test_leakyrelu_by_hand():
    layer = LeakyReLU(0.1)
    np.testing.assert_allclose(layer.forward(np.array([[2.0, -3.0, 0.0]])), [[2.0, -0.3, 0.0]], atol=1e-15)
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[1.0, 0.1, 0.1]], atol=1e-15)


def test_the_slope_is_written_as_torch_writes_it():
    layers = parse("conv 1x3x3, leakyrelu, leakyrelu slope 0.2, dense 1, sigmoid")
    assert [str(layer) for layer in layers[1:3]] == ["leakyrelu", "leakyrelu slope 0.2"]
    model, _ = torch_module(Architecture(layers, 1, 5))
    assert [m.negative_slope for m in model if type(m).__name__ == "LeakyReLU"] == [0.01, 0.2]


@pytest.mark.parametrize("item,message", [("leakyrelu slope", "'slope' has no value"),
                                          ("leakyrelu slope -1", "'-1' is not a number >= 0"),
                                          ("leakyrelu 0.2", "'0.2' has no value")])  # fmt: skip
def test_a_bad_slope_is_refused_with_the_usage(item, message):
    with pytest.raises(InputError, match=message) as error:
        parse(f"conv 1x3x3, {item}, dense 1, sigmoid")
    assert "write leakyrelu [slope A], e.g. leakyrelu slope 0.2" in str(error.value)


@pytest.mark.parametrize("name,seed", [("conv", 1), ("fc1", 2)])
def test_a_dropped_slope_is_named(name, seed):
    def wrong(pass_):  # a ReLU's rule: nothing passes where the input was not positive
        grad, x = pass_.grads[f"{name}_leakyrelu"], pass_.values[f"{name}_pre"]
        return np.array([g if v > 0 else 0.0 for g, v in zip(grad.ravel(), x.ravel())]).reshape(x.shape)

    def then(pass_, wrong):  # the layer's weight gradient from it, by the right rule
        if name == "conv":
            return {("backward", "conv_kernel"): conv.conv_backward(wrong, pass_.image, pass_.params["conv_kernel"])[0]}
        return {("backward", "fc1_weights"): np.outer(wrong, pass_.values["fc1_input"])}

    changed, carried, others = mark_one_mistake(NET, "backward", f"{name}_pre", wrong, seed, then)
    assert changed and {(e.verdict, e.mistake) for e in changed} == {("wrong", "leaky-slope-dropped")}
    assert carried and {e.verdict for e in carried} == {"carried"}
    assert {e.verdict for e in others} == {"right"}


# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def leaky_slope_dropped(pass_, named):
    x, g = pass_.values[named.input], pass_.grads[named.output]
    return "backward", named.input, np.array([gi if xi > 0 else 0.0 for gi, xi in zip(g.flat, x.flat)]).reshape(x.shape)


MISTAKES = {"leaky-slope-dropped": leaky_slope_dropped}
