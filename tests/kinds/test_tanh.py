"""tanh: by hand, and its mistake named by check (PyTorch, the loop reference, finite differences, every command
and the page: tests/test_every_kind.py, on its example network)."""

import numpy as np
from conftest import mark_one_mistake

from cnn_backprop import explain, walkthrough
from cnn_backprop.kinds import conv
from cnn_backprop.kinds.tanh import Tanh

NET = "conv 2x3x3, tanh, maxpool 2 stride 1, dense 3, tanh, dense 2, softmax"


def test_tanh_by_hand():
    layer = Tanh()
    x = np.array([[0.0, np.log(2.0), -np.log(3.0)]])  # tanh: 0, 3/5, -4/5
    np.testing.assert_allclose(layer.forward(x), [[0.0, 0.6, -0.8]], atol=1e-15)
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 2.0, 1.0]])), [[1.0, 2 * 0.64, 0.36]], atol=1e-15)


def test_the_derivative_is_explained_with_the_output():
    pass_ = walkthrough.run(walkthrough.complete_given({"net": NET}, 1))
    (line,) = explain.value_arithmetic(pass_, "dL/dfc1_pre[0]")
    up, out = pass_.grads["fc1_tanh"][0], pass_.values["fc1_tanh"][0]
    assert line.startswith("    dL/dfc1_pre[0] = dL/dfc1_tanh[0] * (1 - fc1_tanh[0]^2) = ")
    assert float(line.rsplit("=", 1)[1]) == round(up * (1 - out**2), 4)


def test_one_minus_the_input_squared_is_named():
    def wrong(pass_):  # 1 - x^2 of the input, entry by entry
        grad, x = pass_.grads["conv_tanh"], pass_.values["conv_pre"]
        return np.array([g * (1 - v * v) for g, v in zip(grad.ravel(), x.ravel())]).reshape(x.shape)

    def then(pass_, wrong):  # the kernel's gradient from it, by the right rule
        return {("backward", "conv_kernel"): conv.conv_backward(wrong, pass_.image, pass_.params["conv_kernel"])[0]}

    changed, carried, others = mark_one_mistake(NET, "backward", "conv_pre", wrong, then=then)
    assert changed and {(e.verdict, e.mistake) for e in changed} == {("wrong", "tanh-wrong-derivative")}
    assert carried and {e.verdict for e in carried} == {"carried"}
    assert {e.verdict for e in others} == {"right"}


# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def tanh_wrong_derivative(pass_, named):
    x, g = pass_.values[named.input], pass_.grads[named.output]
    return "backward", named.input, np.array([gi * (1 - xi * xi) for gi, xi in zip(g.flat, x.flat)]).reshape(x.shape)


MISTAKES = {"tanh-wrong-derivative": tanh_wrong_derivative}
