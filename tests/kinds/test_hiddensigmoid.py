"""sigmoid anywhere but last (hiddensigmoid): by hand, the word it shares with the output, as PyTorch writes it, and
its mistake made by plain loops (PyTorch, the loop reference, finite differences, every command and the page:
tests/test_every_kind.py, on its example network)."""

import numpy as np
import pytest

import cnn_backprop as cb
from cnn_backprop.architecture import Architecture
from cnn_backprop.kinds.hiddensigmoid import Sigmoid


def test_sigmoid_by_hand():
    layer = Sigmoid()
    x = np.array([[0.0, np.log(3.0), -800.0]])  # 1/2, 3/4, and 0 without overflow
    np.testing.assert_allclose(layer.forward(x), [[0.5, 0.75, 0.0]], atol=1e-15)
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 2.0, 1.0]])), [[0.25, 2 * 0.1875, 0.0]], atol=1e-15)


def test_the_last_sigmoid_is_the_output_and_any_other_an_activation():
    arch = Architecture.parse("conv 2x3x3, sigmoid, dense 3, sigmoid, dense 1, sigmoid", 1, 5)
    assert [n.kind for n in arch.named] == ["conv", "hiddensigmoid", "flatten", "dense", "hiddensigmoid", "dense",
                                            "sigmoid"]  # fmt: skip
    assert [n.output for n in arch.named][:2] == ["conv_pre", "conv_sigmoid"] and str(arch).count("sigmoid") == 3
    assert Architecture.parse(str(arch), 1, 5) == arch


def test_a_forwards_hidden_sigmoid_comes_in_and_a_last_one_is_refused():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    hidden = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid(), nn.Flatten(), nn.Linear(18, 2))
    assert str(cb.from_torch(hidden, (1, 5, 5)).arch) == "conv 2x3x3, sigmoid, dense 2, softmax"
    last = nn.Sequential(nn.Flatten(), nn.Linear(25, 1), nn.Sigmoid())
    with pytest.raises(cb.InputError, match=r"^layer 3 \(2\): Sigmoid: the module must end in logits .* drop it: "
                       "loss='bce' adds the sigmoid$"):  # fmt: skip
        cb.from_torch(last, (1, 5, 5), loss="bce")


# The mistake, by its own loops (tests/test_mistakes.py makes it at every layer of the kind).


def wrong_derivative(pass_, named):
    """x (1 - x) of the input, entry by entry."""
    x, g = pass_.values[named.input], pass_.grads[named.output]
    return "backward", named.input, np.array([gi * xi * (1 - xi) for gi, xi in zip(g.flat, x.flat)]).reshape(x.shape)


MISTAKES = {"sigmoid-wrong-derivative": wrong_derivative}
