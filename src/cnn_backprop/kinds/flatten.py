"""flatten: the feature maps of an image as one vector, channel by channel, row by row (PyTorch's order).

Put in before the first dense layer whether a spec writes it or not; it moves
no number, so the text shows its input's maps instead, and the backward pass
reshapes the gradient back.
"""

import math

import numpy as np

from ..layers import Module
from ..text import scalar
from ._kind import Kind, torch_fixed


class Flatten(Module):
    """Feature maps to one vector per image.

    forward:  x (N, C, H, W) -> (N, C*H*W), row-major (channel, then row, then column).
    backward: dL/dout (N, C*H*W) -> dL/dx (N, C, H, W), the same numbers reshaped.
    """

    def forward(self, x):
        self._x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        return grad.reshape(self._x_shape)


class FlattenKind(Kind):
    name = "flatten"
    order = 40
    example_net = "conv 2x3x3, relu, flatten, dense 1, sigmoid"
    summary = "optional: put in before the first dense layer anyway"
    reads, gives = "map", "vector"
    reshapes = True
    torch_class = "Flatten"
    torch_functions = ("flatten", "view", "reshape")

    def names(self, own, previous, following):
        name = f"{following or 'fc'}_input"
        return name, name

    def shapes(self, layer, name, in_shape, before):
        return (math.prod(in_shape),), {}

    def build(self, layer, params, input_grad=True):
        return Flatten()

    def reference(self, x, layer, params):
        return x.flatten(), {}, lambda grad: (grad.reshape(x.shape), {})

    def torch_module(self, named):
        return "torch.nn.Flatten()"

    def from_torch(self, module, refuse):
        torch_fixed(module, refuse, start_dim=1, end_dim=-1)  # each image to one vector
        return {}

    def from_torch_call(self, torch, arguments, shapes, refuse):
        """torch.flatten(x, 1), x.view(x.size(0), -1), x.reshape(-1, 400): known by what it makes of the shape."""
        (n, *image), out = shapes
        if tuple(out) != (n, math.prod(image)):
            shape = "x".join(map(str, out))
            refuse(f"an output of shape {shape}", "each image flattened to one vector, e.g. x.view(x.size(0), -1)")
        return {}

    def size_lines(self, p, named):
        if len(named.in_shape) != 3:
            return []
        c, side = named.in_shape[0], named.in_shape[1]
        source = p.making(named.input)
        what = "pooled map" if source is not None and source.kind_of.pools else f"{named.input} map"
        maps = f"{side}x{side} {what}" if c == 1 else f"{c} {side}x{side} {what}s"
        return [f"    {named.output.replace('_', ' ')}: the {maps} flattened -> {named.out_shape[0]} values"]

    def forward_lines(self, p, named, explain):
        return []  # the same numbers as the maps it reads, shown there

    def value_line(self, p, named, index):
        source = p.at(named.input, np.unravel_index(index[0], named.in_shape))
        return f"    {p.at(named.output, index)} = {source} = {scalar(p.value[named.output][index], p.d)}"

    def input_gradient_line(self, p, named, target, index):
        flat = (int(np.ravel_multi_index(index, named.in_shape)),)
        return p.gradient_line(named.output, flat).replace(f"dL/d{p.at(named.output, flat)} =", f"{target} =", 1)


KIND = FlattenKind()
