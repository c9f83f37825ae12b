"""avgpool K [stride S]: the mean of each K x K window, on each channel alone.

    pool[c, i, j] = (1 / K^2) sum_{m, n} x[c, S*i + m, S*j + n]

Backward, each window sends 1/K^2 of its gradient to every entry; a pixel in
several (overlapping) windows gets the sum of their shares.
"""

import numpy as np

from ..layers import channels_first
from ..text import factor, scalar, titled
from ._kind import STRIDE_IGNORED
from ._pool import Pool, Pool2D


class AvgPool2D(Pool2D):
    """Average pooling.

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), the mean of each window,
              H' = (H - size) // stride + 1.
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends
              1/size^2 of its gradient to every entry; overlapping windows add up.
    """

    def forward(self, x):
        entries = self._windows(x)
        total = entries[0].copy()
        for entry in entries[1:]:
            total += entry
        return channels_first(total / len(entries))

    def backward(self, grad):
        return self.average_backward(grad)


def avgpool_forward(x, size=2, stride=2):
    """Mean of each ``size x size`` window; (C, H, W) -> (C, H', W')."""
    channels, height, width = x.shape
    out_h = (height - size) // stride + 1
    out_w = (width - size) // stride + 1
    out = np.zeros((channels, out_h, out_w))
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                total = 0.0
                for m in range(size):
                    for n in range(size):
                        total += x[c, stride * i + m, stride * j + n]
                out[c, i, j] = total / (size * size)
    return out


def avgpool_backward(grad_out, input_shape, size=2, stride=2):
    """Every entry of a window gets 1/size^2 of the window's gradient; overlapping windows add up."""
    grad = np.zeros(input_shape)
    channels, out_h, out_w = grad_out.shape
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                for m in range(size):
                    for n in range(size):
                        grad[c, stride * i + m, stride * j + n] += grad_out[c, i, j] / (size * size)
    return grad


class AvgPool(Pool):
    name = "avgpool"
    order = 31
    example_net = "avgpool 2 stride 1, conv 2x2x2, relu, avgpool 2, dense 1, sigmoid"
    summary = "the mean of each K x K window; stride K by default"
    what = "Average"
    torch_class = "AvgPool2d"
    torch_functions = ("avg_pool2d",)
    torch_supported = {"divisor_override": None}  # count_include_pad counts padding, which no pool of ours has
    mistakes = {
        "avgpool-no-divide": "Each window's whole gradient went to every entry of the window; the mean divides by "
        "K^2, so each entry gets dL/dpool / K^2 from every window it is in.",
        **STRIDE_IGNORED,
    }

    def build(self, layer, params, input_grad=True):
        return AvgPool2D(layer.size, layer.stride)

    def reference(self, x, layer, params):
        out = avgpool_forward(x, layer.size, layer.stride)
        return out, {}, lambda grad: (avgpool_backward(grad, x.shape, layer.size, layer.stride), {})

    def rule(self, named):
        return f"each window's gradient split equally over its {named.layer.size**2} entries; overlaps add up"

    def forward_lines(self, p, named, explain):
        lines = titled(f"{named.output} (mean of each window)", p.shown(named.output), p.d)
        if explain:
            lines += [self.value_line(p, named, i) for i in np.ndindex(named.out_shape)]
        return lines

    def value_line(self, p, named, index):
        window, write = self.window(p, named, index)
        return f"    {p.at(named.output, index)} = mean({', '.join(window)}) = {write(p.value[named.output][index])}"

    def input_gradient_line(self, p, named, target, index):
        up, size = p.grad[named.output], named.layer.size
        terms = [f"{factor(p.fmt(up), up[window])}/{size**2}" for window in self.windows_holding(named, index)]
        value = scalar(p.grad[named.input][index], p.d)
        return f"    {target} = (a share of every window it is in) {' + '.join(terms) or '0'} = {value}"

    def backward_mistakes(self, key, named, layer, x, grad):
        return {
            **super().backward_mistakes(key, named, layer, x, grad),
            "avgpool-no-divide": layer.average_backward(grad) * layer.size**2,
        }


KIND = AvgPool()
