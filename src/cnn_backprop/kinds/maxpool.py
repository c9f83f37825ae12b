"""maxpool K [stride S]: the largest value of each K x K window, on each channel alone.

    pool[c, i, j] = max_{m, n} x[c, S*i + m, S*j + n]

Backward, each window's gradient goes to its maximum, the one entry that moved
the output; a pixel that is the maximum of several (overlapping) windows gets
the sum of their gradients.  A tie goes to the first maximum in row-major
order, as in PyTorch.
"""

import math

import numpy as np

from ..layers import channels_first, channels_last
from ..text import scalar, titled
from ._kind import STRIDE_IGNORED
from ._pool import Pool, Pool2D


class MaxPool2D(Pool2D):
    """Max pooling.

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), H' = (H - size) // stride + 1.
              ``extras["argmax"]`` (N, C, H', W', 2) is then the [row, col] in x of each
              maximum (the first in row-major order where several tie).
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends its
              gradient to its argmax; a pixel that is the max of several windows
              receives the sum of their gradients.
    """

    def forward(self, x):
        self._window_entries = self._entries(x)
        self._best = self._window_entries.max(axis=0)
        self._first = None  # found when needed (backward, argmax): evaluation needs only the maxima
        return channels_first(self._best)

    def _first_maxima(self):
        """Whether each window entry is its window's first maximum in row-major order (the one its gradient goes
        to): (size*size, N, H', W', C) bools, found once a pass."""
        if self._first is None:
            # Mark every maximum, then unmark those after the first, in boolean passes over whole entries
            # (np.where, masked copies, argmax or a cumulative count along the entries are much slower).
            first = self._window_entries == self._best
            taken = first[0].copy()
            for k in range(1, len(first)):
                first[k] &= ~taken
                taken |= first[k]
            self._first = first
        return self._first

    @property
    def argmax(self):
        """[row, col] in the input of each window's maximum: (N, C, H', W', 2)."""
        offset = channels_first(self._first_maxima().argmax(axis=0))  # m * size + n of the (first) maximum
        out_h, out_w = self._out_size
        rows = self.stride * np.arange(out_h)[:, None] + offset // self.size
        cols = self.stride * np.arange(out_w)[None, :] + offset % self.size
        return np.stack([rows, cols], axis=-1)

    @property
    def extras(self):
        return {"argmax": self.argmax}

    def backward(self, grad):
        return self._unwindow(self._first_maxima() * channels_last(grad))

    def kinks(self, x, step):
        """Windows whose two largest entries are within 4 steps (a tie): a finite difference may swap them."""
        if self.size == 1:
            return 0
        top = np.sort(self._windows(x), axis=0)[-2:]
        return int((top[1] - top[0] < 4 * step).sum())


def maxpool_forward(x, size=2, stride=1):
    """Max of each ``size x size`` window; (C, H, W) -> (C, H', W') and the argmax.

    ``argmax[c, i, j]`` is the [row, col] in x of the window's maximum; on a tie
    the first in row-major order wins (a later value must be strictly larger).
    """
    channels, height, width = x.shape
    out_h = (height - size) // stride + 1
    out_w = (width - size) // stride + 1
    out = np.zeros((channels, out_h, out_w))
    argmax = np.zeros((channels, out_h, out_w, 2), dtype=int)
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                best = -math.inf
                for m in range(size):
                    for n in range(size):
                        value = x[c, stride * i + m, stride * j + n]
                        if value > best:
                            best = value
                            argmax[c, i, j] = (stride * i + m, stride * j + n)
                out[c, i, j] = best
    return out, argmax


def maxpool_backward(grad_out, argmax, input_shape):
    """Route each window's gradient to its maximum; shared maxima add up.

    The seed notebook wrote ``dP[i, j] = dw``, so when overlapping windows share
    a maximum the last one overwrote the others.  The chain rule sums them.
    """
    grad = np.zeros(input_shape)
    channels, out_h, out_w = grad_out.shape
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                row, col = argmax[c, i, j]
                grad[c, row, col] += grad_out[c, i, j]
    return grad


def _source_conv(p, named):
    """The conv layer whose map a pooling layer reads (through a ReLU), for "argmax in the conv map"."""
    before = [n for n in p.arch.named[: p.arch.named.index(named)] if n.kind_of.base == "conv"]
    return before[-1].name if before else "input"


class MaxPool(Pool):
    name = "maxpool"
    order = 30
    example_net = "conv 2x2x2, relu, maxpool 2 stride 1, conv 2x2x2, maxpool 2, dense 2, softmax"
    summary = "K x K windows; stride K by default, as in PyTorch"
    what = "Max"
    torch_class = "MaxPool2d"
    torch_functions = ("max_pool2d",)
    torch_supported = {"dilation": 1, "return_indices": False}
    kink = "pool"
    mistakes = {
        "pool-overwrite": "A conv position that is the maximum of several pooling windows kept only the last "
        "window's gradient (the notebook's dP[i, j] = dw); the chain rule adds the gradients of every window it wins.",
        "pool-to-all": "Each pooling window's gradient went to every entry of the window; max pooling sends it only "
        "to the window's maximum, the one entry that moved the output.",
        "pool-average": "Each pooling window's gradient was split equally over its entries, average pooling's rule; "
        "max pooling sends all of it to the window's maximum.",
        "pool-stride-2": "Pooling was done at stride 2 where the sheet says stride 1 (the notebook's 'Given'); with "
        "stride 1 the 2x2 windows overlap and a 3x3 map pools to 2x2.",
        **STRIDE_IGNORED,
    }

    def build(self, layer, params, input_grad=True):
        return MaxPool2D(layer.size, layer.stride)

    def reference(self, x, layer, params):
        out, argmax = maxpool_forward(x, layer.size, layer.stride)
        return out, {"argmax": argmax}, lambda grad: (maxpool_backward(grad, argmax, x.shape), {})

    def rule(self, named):
        return "each window's gradient sent to its argmax; shared maxima add up"

    def forward_lines(self, p, named, explain):
        out = named.output
        title = f"{out} (max of each window; argmax [row, col] in the {_source_conv(p, named)} map)"
        lines = titled(title, p.shown(out), p.d)
        lines.append("    argmax: " + ", ".join(f"[{r},{c}]" for r, c in p.shown(f"{named.name}_argmax")))
        if explain:
            lines += [self.value_line(p, named, i) for i in np.ndindex(named.out_shape)]
        return lines

    def value_line(self, p, named, index):
        window, write = self.window(p, named, index)
        argmax = p.shown(f"{named.name}_argmax")[int(np.ravel_multi_index(index, named.out_shape))]
        where = f"{_source_conv(p, named)} [{argmax[0]},{argmax[1]}]"
        out = write(p.value[named.output][index])
        return f"    {p.at(named.output, index)} = max({', '.join(window)}) = {out}  at {where}"

    def input_gradient_line(self, p, named, target, index):
        up, argmax = p.grad[named.output], p.shown(f"{named.name}_argmax")
        terms = [
            p.fmt(up)(up[window])
            for window in self.windows_holding(named, index)
            if tuple(argmax[int(np.ravel_multi_index(window, named.out_shape))]) == tuple(index[1:])
        ]
        value = scalar(p.grad[named.input][index], p.d)
        return f"    {target} = (the windows whose maximum it is) {' + '.join(terms) or '0'} = {value}"

    def panels(self, p, named, drawn):
        # outline, on the one-channel conv map it pools, the positions the windows chose
        source = p.making(named.input)
        while source is not None and source.kind_of.activation:
            source = p.making(source.input)
        if source is not None and "kernel" in source.kind_of.param_keys and np.ndim(p.shown(source.output)) == 2:
            section, title, array, _ = drawn[source.output]
            drawn[source.output] = (section, title, array, p.shown(f"{named.name}_argmax"))
        return super().panels(p, named, drawn)

    def forward_mistakes(self, key, named, x, right):
        if named.layer.stride == 2:
            return {}
        return {"pool-stride-2": self.build(named.layer.replace(stride=2), {}).forward(x)}

    def shape_mistakes(self, named):
        if named.layer.stride == 2:
            return {}
        side = (named.in_shape[1] - named.layer.size) // 2 + 1
        return {"pool-stride-2": (named.out_shape[0], side, side)}

    def backward_mistakes(self, key, named, layer, x, grad):
        argmax = layer.argmax
        overwrite = np.zeros(x.shape)
        for c, i, j in np.ndindex(grad.shape[1:]):  # row-major, so a later window overwrites an earlier one
            row, col = argmax[0, c, i, j]
            overwrite[0, c, row, col] = grad[0, c, i, j]
        to_average = layer.average_backward(grad)  # 1/size^2 of each window's gradient to each of its entries
        return {
            **super().backward_mistakes(key, named, layer, x, grad),
            "pool-overwrite": overwrite,
            "pool-to-all": to_average * layer.size**2,
            "pool-average": to_average,
        }


KIND = MaxPool()
