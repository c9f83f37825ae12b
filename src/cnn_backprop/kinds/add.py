"""add: a residual block's end, where its layers' output and its input (the shortcut) are added.

A spec writes the block as ``residual(LAYERS)``: its layers run one after
another, and the add takes their output and the block's input,

    res_add = F(x) + x                   (the identity shortcut)
    res_add = F(x) + res_shortcut        (a 1x1 conv projection where F changes the channels or the size)

Backward, an add hands dL/dres_add unchanged to each of its inputs.  The
block's input x feeds two layers (the block's first layer and the shortcut),
so its gradient is the sum of both paths', the chain rule's rule for a value
used twice:

    dL/dx = (via the block's layers) + (via the shortcut)
"""

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled
from ..validate import InputError
from ._kind import Kind


class Add(Module):
    """The sum of the arrays it reads, all of one shape.

    forward:  (x1, x2, ...) each (N, C, H, W) -> out (N, C, H, W) = x1 + x2 + ...
    backward: dL/dout (N, C, H, W) -> (dL/dx1, dL/dx2, ...), each dL/dout itself (d out / d xi = 1).
    """

    def forward(self, xs):
        self._count = len(xs)
        return sum(xs[1:], xs[0])

    def backward(self, grad):
        return (grad,) * self._count


def add_forward(xs):
    """out[c, i, j] = sum over the inputs of x[c, i, j]."""
    out = np.zeros(xs[0].shape)
    for x in xs:
        for index in np.ndindex(x.shape):
            out[index] += x[index]
    return out


def add_backward(grad_out, count):
    """Each input's gradient is dL/dout: each entry of each input moved the sum by 1 (d out / d x = 1)."""
    grads = []
    for _ in range(count):
        grad = np.zeros(grad_out.shape)
        for index in np.ndindex(grad_out.shape):
            grad[index] = grad_out[index]
        grads.append(grad)
    return tuple(grads)


class AddKind(Kind):
    name = "add"
    word = "residual"
    order = 45
    usage = "residual(LAYERS)"
    example = "residual(conv 2x3x3 pad 1, relu)"
    example_net = "conv 2x3x3 pad 1, relu, residual(conv 2x3x3 pad 1, relu, conv 2x3x3 pad 1), dense 2, softmax"
    summary = "a residual block: its layers, then res_add = their output + its input (via a 1x1 conv if needed)"
    base = "res"
    reads = "map"  # and it gives a map of the same shape
    joins = True
    shortcut_kind = "conv"  # the kind of its shortcut where that is a 1x1 conv
    mistakes = {
        "shortcut-gradient-dropped": "The block's input feeds two layers, the block's first layer and the shortcut, "
        "so its gradient is the sum of both paths'; the shortcut's part, dL/dres_add itself (or what the 1x1 "
        "shortcut conv makes of it), was left out.",
        "add-gradient-halved": "An add passes dL/dres_add whole to each of its inputs (d(a + b)/da = 1); it was "
        "split in half between them.",
    }

    def defaults(self, values):
        return {"span": 1, "projection": False, **values}

    def parse(self, rest, fail):
        fail("a residual block writes its layers in parentheses")

    def write(self, layer):
        return f"{self.spelled}({layer.span} layers{' and a 1x1 conv shortcut' if layer.projection else ''})"

    def write_block(self, items):
        """The block as a spec writes it, from its layers as the spec writes them."""
        return f"{self.spelled}({', '.join(items)})"

    def names(self, own, previous, following):
        return own, f"{own}_add"

    def shortcut(self, name, in_shape, out_shape):
        """(kind, options) of the 1x1 conv that brings the block's input (``in_shape``) to its layers' output
        shape: their channels, at the stride S that makes the side, (H - 1) // S + 1 = H'."""
        side, out = in_shape[1], out_shape[1]
        stride = next((s for s in range(1, side + 1) if (side - 1) // s + 1 == out), None)
        if len(in_shape) != 3 or stride is None:
            raise InputError(f"{name}: its layers make a {side}x{side} map {out}x{out}, which no 1x1 shortcut "
                             "conv can; keep the size (conv KxK pad (K-1)/2) or shrink it")  # fmt: skip
        return self.shortcut_kind, {"filters": out_shape[0], "size": 1, "stride": stride}

    def build(self, layer, params, input_grad=True):
        return Add()

    def reference(self, x, layer, params):
        return add_forward(x), {}, lambda grad: (add_backward(grad, len(x)), {})

    torch_functions = ("add", "iadd")

    def torch_line(self, named, inputs):
        return " + ".join(inputs)

    def given_lines(self, p, named):
        return [f"  {named.name}: a residual block, {named.output} = {' + '.join(named.inputs)}"]

    def forward_lines(self, p, named, explain):
        lines = titled(f"{named.output} = {' + '.join(named.inputs)}", p.shown(named.output), p.d)
        if explain:
            lines += [self.value_line(p, named, index) for index in np.ndindex(named.out_shape)]
        return lines

    def backward_lines(self, p, named, explain):
        title = f"dL/d{named.output} (an add passes its gradient whole)"
        return [line for source in named.inputs for line in titled(f"dL/d{source} = {title}",
                                                                    p.shown_grad(named.output), p.d)]  # fmt: skip

    def value_line(self, p, named, index):
        parts = [factor(p.fmt(p.value[source]), p.value[source][index]) for source in named.inputs]
        at = " + ".join(p.at(source, index) for source in named.inputs)
        value = scalar(p.value[named.output][index], p.d)
        return f"    {p.at(named.output, index)} = {at} = {' + '.join(parts)} = {value}"

    def input_gradient_line(self, p, named, target, index):
        up = p.grad[named.output]
        return f"    {target} = dL/d{p.at(named.output, index)} = {scalar(up[index], p.d)}"

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"add-gradient-halved": (grad / 2,) * len(x)}

    def branch_mistakes(self, total, shortcut):
        """{mistake: dL/d(the block's input)} from its right gradient ``total`` and the shortcut's part of it."""
        return {"shortcut-gradient-dropped": total - shortcut}


KIND = AddKind()
