"""globalavgpool: the mean of each channel's whole map, as torch.nn.AdaptiveAvgPool2d(1) and x.mean((2, 3)).

    pool[c, 0, 0] = (1 / (H W)) sum_{i, j} x[c, i, j]

Backward, each channel's gradient is shared equally by the H*W entries of its
map.  It ends the feature maps of networks that pool their last maps to one
number a channel before the dense layer, whatever the image's size.
"""

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled
from ._kind import Kind


class GlobalAvgPool2D(Module):
    """The mean of each channel's map.

    forward:  x (N, C, H, W) -> pool (N, C, 1, 1).
    backward: dL/dpool (N, C, 1, 1) -> dL/dx (N, C, H, W) = dL/dpool / (H W) at every entry.
    """

    def forward(self, x):
        self._x_shape = x.shape
        return x.mean(axis=(2, 3), keepdims=True)

    def backward(self, grad):
        h, w = self._x_shape[2:]
        return np.broadcast_to(grad / (h * w), self._x_shape).copy()


def globalavgpool_forward(x):
    """The mean of each channel's map: (C, H, W) -> (C, 1, 1)."""
    channels, height, width = x.shape
    out = np.zeros((channels, 1, 1))
    for c in range(channels):
        total = 0.0
        for i in range(height):
            for j in range(width):
                total += x[c, i, j]
        out[c, 0, 0] = total / (height * width)
    return out


def globalavgpool_backward(grad_out, input_shape):
    """Every entry of channel c gets dL/dpool[c] / (H W)."""
    grad = np.zeros(input_shape)
    channels, height, width = input_shape
    for c in range(channels):
        for i in range(height):
            for j in range(width):
                grad[c, i, j] = grad_out[c, 0, 0] / (height * width)
    return grad


class GlobalAvgPool(Kind):
    name = "globalavgpool"
    order = 32
    example_net = "conv 3x3x3 pad 1, relu, globalavgpool, dense 2, softmax"
    summary = "the mean of each channel's whole map (AdaptiveAvgPool2d(1)): C maps to C numbers"
    base = "pool"
    pools = True
    reads = gives = "map"
    mistakes = {
        "globalavgpool-no-divide": "Each channel's whole gradient went to every entry of its map; the mean divides by "
        "H*W, so each entry gets dL/dpool / (H*W).",
    }

    def names(self, own, previous, following):
        return own, own

    def shapes(self, layer, name, in_shape, before):
        return (in_shape[0], 1, 1), {}

    def build(self, layer, params, input_grad=True):
        return GlobalAvgPool2D()

    def reference(self, x, layer, params):
        return globalavgpool_forward(x), {}, lambda grad: (globalavgpool_backward(grad, x.shape), {})

    torch_class = "AdaptiveAvgPool2d"
    torch_functions = ("adaptive_avg_pool2d", "mean")

    def torch_module(self, named):
        return "torch.nn.AdaptiveAvgPool2d(1)"

    def from_torch(self, module, refuse):
        size = module.output_size
        if size not in (1, (1, 1), [1, 1]):
            refuse(f"output_size={size!r}", "output_size=1, the mean of each channel's whole map")
        return {}

    def from_torch_call(self, torch, arguments, shapes, refuse):
        """F.adaptive_avg_pool2d(x, 1), and x.mean((2, 3)) (its output (N, C), flattened by the reader)."""
        (n, c, *_), out = shapes
        if tuple(out) not in ((n, c), (n, c, 1, 1)):
            refuse(f"an output of shape {'x'.join(map(str, out))}", "the mean of each channel's map, x.mean((2, 3))")
        return {}

    def given_lines(self, p, named):
        return [f"  {named.name}: the mean of each channel's {named.in_shape[1]}x{named.in_shape[2]} map"]

    def forward_lines(self, p, named, explain):
        lines = titled(f"{named.output} (the mean of each channel's map)", p.shown(named.output), p.d)
        if explain:
            lines += [self.value_line(p, named, index) for index in np.ndindex(named.out_shape)]
        return lines

    def backward_lines(self, p, named, explain):
        grad_in, (_, h, w) = p.source_name(named), named.in_shape
        title = f"dL/d{grad_in} (each channel's gradient shared equally by the {h * w} entries of its map)"
        return titled(title, p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        write = p.fmt(p.value[named.input])
        entries = ", ".join(write(v) for v in p.value[named.input][index[0]].ravel())
        return f"    {p.at(named.output, index)} = mean({entries}) = {scalar(p.value[named.output][index], p.d)}"

    def input_gradient_line(self, p, named, target, index):
        up, (_, h, w) = p.grad[named.output], named.in_shape
        at = (index[0], 0, 0)
        value = scalar(p.grad[named.input][index], p.d)
        return f"    {target} = dL/d{p.at(named.output, at)} / {h * w} = {factor(p.fmt(up), up[at])}/{h * w} = {value}"

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"globalavgpool-no-divide": np.broadcast_to(grad, x.shape).copy()}


KIND = GlobalAvgPool()
