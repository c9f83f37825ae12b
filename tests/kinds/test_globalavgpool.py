"""globalavgpool: by hand, as PyTorch writes it (a module, F.adaptive_avg_pool2d, x.mean((2, 3))), and its mistake
made by plain loops (PyTorch, the loop reference, finite differences, every command and the page:
tests/test_every_kind.py, on its example network)."""

import numpy as np
import pytest

import cnn_backprop as cb
from cnn_backprop.architecture import Architecture
from cnn_backprop.kinds.globalavgpool import GlobalAvgPool2D


def test_globalavgpool_by_hand():
    layer = GlobalAvgPool2D()
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(layer.forward(x), [[[[1.5]], [[5.5]]]])
    np.testing.assert_array_equal(layer.backward(np.array([[[[4.0]], [[8.0]]]])), [[np.full((2, 2), 1.0),
                                                                                   np.full((2, 2), 2.0)]])  # fmt: skip


def test_it_is_named_as_a_pool_and_fits_any_map():
    arch = Architecture.parse("conv 2x3x3, relu, maxpool 2, conv 2x1x1, globalavgpool, dense 2, softmax", 1, 9)
    assert [n.name for n in arch.named if n.kind_of.pools] == ["pool1", "pool2"]
    assert arch.layer("pool2").out_shape == (2, 1, 1) and arch.layer("fc").in_shape == (2,)


FORWARDS = {
    "module": lambda m, x: m.fc(torch.flatten(m.pool(m.conv(x)), 1)),
    "F.adaptive_avg_pool2d": lambda m, x: m.fc(F.adaptive_avg_pool2d(m.conv(x), (1, 1)).view(x.size(0), -1)),
    "x.mean((2, 3))": lambda m, x: m.fc(m.conv(x).mean((2, 3))),
    "torch.mean(x, dim=[-2, -1])": lambda m, x: m.fc(torch.mean(m.conv(x), dim=[-2, -1])),
}
torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("written", list(FORWARDS))
def test_every_way_pytorch_writes_it_comes_in(written):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool, self.fc = nn.Conv2d(1, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Linear(3, 2)

        def forward(self, x):
            return FORWARDS[written](self, x)

    module = Net().double()
    net = cb.from_torch(module, (1, 6, 6))
    assert str(net.arch) == "conv 3x3x3, globalavgpool, dense 2, softmax"
    images = np.random.default_rng(0).normal(0, 1, (2, 1, 6, 6))
    with torch.no_grad():
        z = module(torch.from_numpy(images))
    np.testing.assert_allclose(net.predict_proba(images), torch.softmax(z, 1).numpy(), rtol=0, atol=1e-12)


def test_a_pool_to_more_than_one_number_is_refused():
    nn = torch.nn
    with pytest.raises(cb.InputError, match=r"AdaptiveAvgPool2d with output_size=2: cnn-backprop supports "
                       "output_size=1, the mean of each channel's whole map$"):  # fmt: skip
        cb.from_torch(nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4, 2)), (1, 6, 6))


# The mistake, by its own loops (tests/test_mistakes.py makes it at every layer of the kind).


def not_divided(pass_, named):
    """Each channel's whole gradient to every entry of its map."""
    x, g = pass_.values[named.input], pass_.grads[named.output]
    out = np.zeros(x.shape)
    for c, i, j in np.ndindex(x.shape):
        out[c, i, j] = g[c, 0, 0]
    return "backward", named.input, out


MISTAKES = {"globalavgpool-no-divide": not_divided}
