"""What max and average pooling share: K x K windows at a stride (they may overlap), on every channel alone.

pool (C, H', W'), H' = (H - K) // S + 1; the stride is K unless the spec says, as in PyTorch.
"""

import numpy as np

from ..layers import (
    SMALL_MAP,
    Module,
    channels_first,
    channels_last,
    copy_runs,
    output_size,
    window_placement,
    window_views,
)
from ..text import titled
from ..validate import InputError
from ._kind import Kind, Option, size_line, stride_one_backward, torch_fixed, torch_square


class Pool2D(Module):
    """``size x size`` windows at ``stride``, shared by MaxPool2D and AvgPool2D.

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), H' = (H - size) // stride + 1.
    """

    def __init__(self, size=2, stride=None):
        super().__init__()
        self.size = size
        self.stride = size if stride is None else stride

    def _windows(self, x):
        """Entry (m, n) of every window: (N, H', W', C) for each (m, n) in row-major order (``window_views``)."""
        self._x_shape = x.shape
        self._out_size = tuple(output_size(side, self.size, self.stride) for side in x.shape[2:])
        return window_views(channels_last(x), self.size, self.stride, self._out_size)

    def _unwindow(self, entry_grads):
        """dL/dx (N, C, H, W) from the gradient of every window entry, (size*size, N, H', W', C); overlaps add up.

        A pixel in no window gets 0.
        """
        n, c, h, w = self._x_shape
        if self.stride == self.size:  # windows side by side: one copy puts every entry's gradient back
            out_h, out_w = self._out_size
            exact = (out_h * self.size, out_w * self.size) == (h, w)
            grad = (np.empty if exact else np.zeros)((n, h, w, c), dtype=entry_grads.dtype)
            copy_runs(self._tiles(grad), entry_grads.reshape(self.size, self.size, n, out_h, out_w, c))
            return channels_first(grad)
        if self.stride < self.size and c * h * w <= SMALL_MAP:
            # Overlapping windows on a map of a few numbers: the adds below would run along rows of W'*C
            # numbers, so short that NumPy's cost per row is most of it.  One product with the 0/1 placement
            # of every window entry (the windows of one-hot images) does them all.
            placement = window_placement((h, w), self.size, self.stride, entry_grads.dtype)
            grad = np.tensordot(entry_grads, placement, axes=([0, 2, 3], [0, 2, 3]))  # (N, C, H*W)
            return channels_first(np.ascontiguousarray(grad.transpose(0, 2, 1)).reshape(n, h, w, c))
        grad = np.zeros((n, h, w, c), dtype=entry_grads.dtype)
        for view, entry_grad in zip(window_views(grad, self.size, self.stride, self._out_size), entry_grads):
            if self.stride >= self.size:  # windows that do not overlap: each pixel gets at most one entry
                copy_runs(view, entry_grad)
            else:
                view += entry_grad
        return channels_first(grad)

    def _entries(self, x):
        """One contiguous copy of the window entries, (size*size, N, H', W', C), so passes over them are fast."""
        if self.stride != self.size:
            views = self._windows(x)
            entries = np.empty((len(views), *views[0].shape), dtype=x.dtype)
            for entry, view in zip(entries, views):
                copy_runs(entry, view)
            return entries
        self._x_shape = x.shape
        self._out_size = out_size = tuple(side // self.size for side in x.shape[2:])
        entries = np.empty((self.size, self.size, len(x), *out_size, x.shape[1]), dtype=x.dtype)
        copy_runs(entries, self._tiles(channels_last(x)))
        return entries.reshape(self.size**2, *entries.shape[2:])

    def _tiles(self, x):
        """Windows side by side (stride = size) in x (N, H, W, C): entry (m, n) of window (i, j) of image k at
        [m, n, k, i, j], a view (size, size, N, H', W', C) of the H'*size x W'*size pixels they cover."""
        (out_h, out_w), size = self._out_size, self.size
        covered = x[:, : out_h * size, : out_w * size]
        return covered.reshape(len(x), out_h, size, out_w, size, x.shape[-1]).transpose(2, 4, 0, 1, 3, 5)

    def average_backward(self, grad):
        """dL/dx when each window sends 1/size^2 of its gradient to every entry (average pooling's rule)."""
        share = channels_last(grad) / self.size**2
        return self._unwindow(np.broadcast_to(share, (self.size**2, *share.shape)))


class Pool(Kind):
    """The grammar, shapes and text that max and average pooling share."""

    sizes = ("size",)
    options = (Option("stride", "stride", lambda values: values["size"], minimum=1),)
    base = "pool"
    pools = True
    hyper_keys = ("size", "stride")
    reads = gives = "map"
    sized_answer = True
    exercise_choices = {"pool_stride": "stride"}
    torch_class = ""
    torch_supported = {}  # {attribute: the value we compute with} of its torch class, besides padding and ceil_mode

    @property
    def usage(self):
        return f"{self.name} K [stride S]"

    @property
    def example(self):
        return f"{self.name} 2"

    def names(self, own, previous, following):
        return own, own

    def backward_mistakes(self, key, named, layer, x, grad):
        if named.layer.stride == 1:
            return {}
        return {"stride-ignored": stride_one_backward(self, named.layer, {}, x, grad)[0]}

    def parse_size(self, word, fail):
        return {"size": Option("size", "", 0, minimum=1).read(word, fail)}

    def write_size(self, layer):
        return str(layer.size)

    def shapes(self, layer, name, in_shape, before):
        side = in_shape[1]
        if layer.size > side:
            raise InputError(
                f"{name}: a {layer.size}x{layer.size} pool window does not fit the {side}x{side} map; "
                f"use {self.name} {side} or smaller"
            )
        out = output_size(side, layer.size, layer.stride)
        return (in_shape[0], out, out), {}

    def torch_module(self, named):
        return f"torch.nn.{self.torch_class}({named.layer.size}, stride={named.layer.stride})"

    def from_torch(self, module, refuse):
        torch_fixed(module, refuse, padding=0, ceil_mode=False, **self.torch_supported)
        return {"size": torch_square(module, "kernel_size", refuse), "stride": torch_square(module, "stride", refuse)}

    def given_lines(self, p, named):
        layer = named.layer
        return [f"  {self.what.lower()} pooling {layer.size}x{layer.size}, stride {layer.stride}"]

    def size_lines(self, p, named):
        return [size_line(named, named.layer.size, named.layer.stride)]

    def window(self, p, named, index):
        """The values of the window of output ``index``, written alike."""
        c, i, j = index
        layer = named.layer
        write = p.fmt(p.value[named.input])
        return [
            write(p.value[named.input][c, layer.stride * i + m, layer.stride * j + n])
            for m in range(layer.size)
            for n in range(layer.size)
        ], write

    def backward_lines(self, p, named, explain):
        grad_in = p.source_name(named)
        return titled(f"dL/d{grad_in} ({self.rule(named)})", p.shown_grad(grad_in), p.d)

    def windows_holding(self, named, index):
        """The outputs (c, i, j) whose window holds input pixel ``index`` (c, row, col)."""
        layer = named.layer
        c, row, col = index
        for i, j in np.ndindex(named.out_shape[1:]):
            if 0 <= row - layer.stride * i < layer.size and 0 <= col - layer.stride * j < layer.size:
                yield c, i, j

    def panels(self, p, named, drawn):
        out = named.output
        drawn[out] = ("forward", f"{self.what} pooled map ({out})", p.shown(out), ())
        drawn[f"dL_d{named.input}"] = (
            "backward",
            f"Gradient routed through pooling\n(dL/d{named.input})",
            p.shown_grad(named.input),
            (),
        )
        return {}
