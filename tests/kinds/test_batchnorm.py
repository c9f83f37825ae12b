"""batchnorm: by hand, its running statistics and evaluation against PyTorch, where it may stand, its arithmetic and
its mistake named by check (PyTorch, the loop reference, finite differences, every command, evaluation against the
exported module and the page: tests/test_every_kind.py, on its example network)."""

import math

import numpy as np
import pytest
from conftest import mark_one_mistake, torch_module

from cnn_backprop import explain, walkthrough
from cnn_backprop.architecture import Architecture
from cnn_backprop.cli import main
from cnn_backprop.kinds import conv
from cnn_backprop.kinds.batchnorm import EPS, BatchNorm2D
from cnn_backprop.network import Network
from cnn_backprop.validate import InputError

NET = "conv 2x3x3, batchnorm, relu, maxpool 2 stride 1, conv 2x2x2 pad 1, batchnorm, dense 2, softmax"


def test_batchnorm_by_hand():
    layer = BatchNorm2D(np.array([2.0]), np.array([1.0]))
    layer.buffers.update(running_mean=np.zeros(1), running_var=np.ones(1), num_batches_tracked=np.zeros((), int))
    x = np.array([1.0, 3.0, 5.0, 7.0]).reshape(1, 1, 2, 2)  # mean 4, biased variance 5, unbiased 20/3
    out = layer.forward(x)
    np.testing.assert_allclose(out.ravel(), 2 * (x.ravel() - 4) / np.sqrt(5 + 1e-5) + 1, atol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_mean"], [0.4], atol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_var"], [0.9 + 0.1 * 20 / 3], atol=1e-15)
    assert layer.buffers["num_batches_tracked"] == 1
    # a gradient that is constant over the map moves the mean alone: the three terms cancel it
    np.testing.assert_allclose(layer.backward(np.ones((1, 1, 2, 2))), 0, atol=1e-15)
    layer.training = False  # evaluation: the running statistics, and a gradient through a constant scale
    np.testing.assert_allclose(layer.forward(x).ravel(), 2 * (x.ravel() - 0.4) / np.sqrt(0.9 + 2 / 3 + 1e-5) + 1)
    np.testing.assert_allclose(layer.backward(np.ones((1, 1, 2, 2))), 2 / np.sqrt(0.9 + 2 / 3 + 1e-5), atol=1e-15)


def test_running_statistics_and_evaluation_are_pytorchs():
    torch = pytest.importorskip("torch")
    arch = Architecture.parse(NET, 1, 5)
    rng = np.random.default_rng(0)
    params = {key: rng.normal(0, 1, shape) for key, shape in arch.param_shapes().items()}
    model, _ = torch_module(arch, params)
    network = Network(arch, params)
    for _ in range(3):  # three training batches, then an evaluation batch
        images, labels = rng.normal(0, 1, (4, 1, 5, 5)), rng.integers(0, 2, 4)
        network.forward(images, labels)
        model(torch.from_numpy(images))
    for name, value in model.state_dict().items():
        ours = {**network.params, **network.buffers}[next(k for k, v in _names(arch).items() if v == name)]
        np.testing.assert_allclose(ours, value.numpy(), rtol=0, atol=1e-12, err_msg=name)
    images = rng.normal(0, 1, (5, 1, 5, 5))
    z = model.eval()(torch.from_numpy(images)).detach().numpy()
    np.testing.assert_allclose(network.eval().logits(images), z, rtol=0, atol=1e-12)


def _names(arch):
    from cnn_backprop.export import torch_names

    return torch_names(arch)


@pytest.mark.parametrize(
    "net",
    ["batchnorm, conv 1x3x3, dense 1, sigmoid", "conv 1x3x3, relu, batchnorm, dense 1, sigmoid",
     "conv 1x3x3, dense 3, batchnorm, dense 1, sigmoid"],
)  # fmt: skip
def test_batchnorm_stands_right_after_a_conv_layer(net, capsys):
    with pytest.raises(InputError) as error:
        Architecture.parse(net)
    assert "put it right after a conv layer" in str(error.value) or "cannot come after" in str(error.value)
    assert main(["walkthrough", "--net", net]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnn-backprop: error: ") and err.count("\n") == 1


def test_a_one_by_one_map_is_refused():
    with pytest.raises(InputError, match="bn: the map before it is 1x1"):
        Architecture.parse("conv 1x5x5, batchnorm, dense 1, sigmoid")


def test_the_text_shows_the_mean_the_variance_and_the_three_terms():
    pass_ = walkthrough.run(walkthrough.complete_given({"net": NET}, 1))
    text = explain.format_walkthrough(pass_)
    assert "bn1_mean = the mean of each channel of conv1_pre = [" in text
    assert "bn1_var = the mean of (conv1_pre - bn1_mean)^2 over each channel = [" in text
    assert "dL/dconv1_pre = bn1_gamma / sqrt(bn1_var + eps) * (dL/dbn1 - mean(dL/dbn1) - x_hat *" in text
    x = pass_.values["conv1_pre"][1]
    np.testing.assert_allclose(pass_.extras["bn1_mean"][1], x.mean(), atol=1e-15)
    np.testing.assert_allclose(pass_.extras["bn1_var"][1], ((x - x.mean()) ** 2).mean(), atol=1e-15)
    (line,) = explain.value_arithmetic(pass_, "dL/dconv1_pre[1,2,0]")
    assert float(line.rsplit("=", 1)[1]) == pytest.approx(pass_.grads["conv1_pre"][1, 2, 0], rel=1e-3)


def test_constant_statistics_are_named():
    def wrong(pass_):  # dL/dx = gamma / sqrt(var + eps) * dL/dout, channel by channel
        grad, gamma, var = pass_.grads["bn1"], pass_.params["bn1_gamma"], pass_.extras["bn1_var"]
        return np.stack([grad[c] * gamma[c] / np.sqrt(var[c] + 1e-5) for c in range(len(grad))])

    def then(pass_, wrong):  # the kernel's gradient from it, by the right rule
        return {("backward", "conv1_kernel"): conv.conv_backward(wrong, pass_.image, pass_.params["conv1_kernel"])[0]}

    changed, carried, others = mark_one_mistake(NET, "backward", "conv1_pre", wrong, then=then)
    assert changed and {(e.verdict, e.mistake) for e in changed} == {("wrong", "bn-constant-stats")}
    assert carried and {e.verdict for e in carried} == {"carried"}
    assert {e.verdict for e in others} == {"right"}


# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def bn_constant_stats(pass_, named):
    x, g, gamma = pass_.values[named.input], pass_.grads[named.output], pass_.params[named.params["gamma"]]
    out = np.zeros(x.shape)
    for c in range(len(x)):
        mean = sum(x[c].flat) / x[c].size
        var = sum((v - mean) ** 2 for v in x[c].flat) / x[c].size
        for i, j in np.ndindex(x.shape[1:]):
            out[c, i, j] = gamma[c] / math.sqrt(var + EPS) * g[c, i, j]
    return "backward", named.input, out


MISTAKES = {"bn-constant-stats": bn_constant_stats}
