"""elu: by hand, its alpha in a spec and from PyTorch, and its mistake made by plain loops (PyTorch, the loop
reference, finite differences, every command and the page: tests/test_every_kind.py, on its example network)."""

import math

import numpy as np
import pytest
from conftest import torch_module

import cnn_backprop as cb
from cnn_backprop.architecture import Architecture, parse
from cnn_backprop.kinds.elu import ELU
from cnn_backprop.validate import InputError


def test_elu_by_hand():
    layer = ELU(2.0)
    x = np.array([[3.0, -np.log(2.0), 0.0]])  # 2 (e^-ln2 - 1) = -1
    np.testing.assert_allclose(layer.forward(x), [[3.0, -1.0, 0.0]], atol=1e-15)
    # where x <= 0 the slope is 2 e^x = out + 2: 1 at -ln 2, 2 at 0
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[1.0, 1.0, 2.0]], atol=1e-15)


def test_the_alpha_is_written_as_torch_writes_it():
    layers = parse("conv 1x3x3, elu, elu alpha 0.5, dense 1, sigmoid")
    assert [str(layer) for layer in layers[1:3]] == ["elu", "elu alpha 0.5"]
    model, _ = torch_module(Architecture(layers, 1, 5))
    assert [m.alpha for m in model if type(m).__name__ == "ELU"] == [1.0, 0.5]


@pytest.mark.parametrize("item,message", [("elu alpha", "'alpha' has no value"),
                                          ("elu alpha -1", "'-1' is not a number >= 0")])  # fmt: skip
def test_a_bad_alpha_is_refused_with_the_usage(item, message):
    with pytest.raises(InputError, match=message) as error:
        parse(f"conv 1x3x3, {item}, dense 1, sigmoid")
    assert "write elu [alpha A], e.g. elu alpha 0.5" in str(error.value)


def test_a_forwards_elu_comes_in_as_written():
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(18, 3)

        def forward(self, x):
            return self.fc(F.elu(self.conv(x), alpha=0.5).view(x.size(0), -1))

    assert str(cb.from_torch(Net(), (1, 5, 5)).arch) == "conv 2x3x3, elu alpha 0.5, dense 3, softmax"
    with pytest.raises(cb.InputError, match=r"ELU with alpha=0.3333333333333333: cnn-backprop supports alphas >= 0"):
        cb.from_torch(nn.Sequential(nn.ELU(1 / 3), nn.Flatten(), nn.Linear(25, 2)), (1, 5, 5))


# The mistake, by its own loops (tests/test_mistakes.py makes it at every layer of the kind).


def elu_alpha_dropped(pass_, named):
    """The derivative where x <= 0 taken as the output alpha (e^x - 1), the + alpha dropped."""
    x, g, alpha = pass_.values[named.input], pass_.grads[named.output], named.layer.alpha
    wrong = [gi if xi > 0 else gi * alpha * (math.exp(xi) - 1) for gi, xi in zip(g.flat, x.flat)]
    return "backward", named.input, np.array(wrong).reshape(x.shape)


MISTAKES = {"elu-alpha-dropped": elu_alpha_dropped}
