"""Shared test oracles: the same network in PyTorch float64, and random instances."""

import os

import numpy as np
import pytest
from hypothesis import settings

from cnn_backprop.network import Architecture

# CI explores the same examples every run, so a red CI always means a change broke
# something; locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def torch_pass(arch, params, images, labels):
    """Forward and backward through PyTorch autograd in float64, named as network.py names them.

    Returns (forward, backward) dicts of NumPy arrays; backward[k] is dL/d(k) with
    L the mean BCE over the batch, as in the engine.
    """
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def leaf(array):
        return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)

    t = {name: leaf(value) for name, value in params.items()}
    x = leaf(images)
    conv_pre = F.conv2d(x, t["conv_kernel"], t["conv_bias"], stride=arch.conv_stride, padding=arch.conv_padding)
    conv_relu = F.relu(conv_pre)
    pool = F.max_pool2d(conv_relu, arch.pool_size, arch.pool_stride)
    fc_pre = F.linear(pool.reshape(len(images), -1), t["fc_weights"], t["fc_bias"])
    target = torch.tensor(np.asarray(labels, dtype=np.float64)).reshape(-1, 1)
    loss = F.binary_cross_entropy_with_logits(fc_pre, target)
    for tensor in (conv_pre, conv_relu, pool, fc_pre):
        tensor.retain_grad()
    loss.backward()
    forward = {
        "conv_pre": conv_pre,
        "conv_relu": conv_relu,
        "pool": pool,
        "fc_pre": fc_pre,
        "output": torch.sigmoid(fc_pre),
        "loss": loss,
    }
    backward = {
        "conv_pre": conv_pre.grad,
        "conv_relu": conv_relu.grad,
        "pool": pool.grad,
        "fc_pre": fc_pre.grad,
        "image": x.grad,
        **{name: t[name].grad for name in params},
    }
    as_numpy = lambda d: {k: v.detach().numpy() for k, v in d.items()}  # noqa: E731
    return as_numpy(forward), as_numpy(backward)


def random_instance(rng, arch, batch=3):
    """Signed random parameters and images for ``arch``, so ReLUs are both on and off."""
    shapes = arch.param_shapes()
    params = {name: rng.normal(0, 1, shape) for name, shape in shapes.items()}
    images = rng.normal(0, 1, (batch, arch.channels, arch.image_size, arch.image_size))
    labels = rng.integers(0, 2, batch)
    return params, images, labels


ARCHITECTURES = [
    Architecture(),
    Architecture(pool_stride=2),
    Architecture(conv_padding=1),
    Architecture(conv_padding=1, pool_stride=2),
    Architecture(image_size=7, kernel_size=3, conv_stride=2, conv_padding=1),
    Architecture(image_size=8, channels=2, filters=3, kernel_size=3, conv_padding=2, pool_size=3, pool_stride=2),
    Architecture(image_size=6, channels=3, filters=2, kernel_size=2, conv_stride=2, pool_size=2, pool_stride=1),
    Architecture(image_size=4, kernel_size=4, conv_padding=1, pool_size=1, pool_stride=1),
]


@pytest.fixture(
    params=ARCHITECTURES,
    ids=lambda a: (
        f"img{a.image_size}-c{a.channels}-f{a.filters}-k{a.kernel_size}-s{a.conv_stride}-p{a.conv_padding}"
        f"-pool{a.pool_size}s{a.pool_stride}"
    ),
)
def arch(request):
    return request.param
