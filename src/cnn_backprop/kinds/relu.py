"""relu: max(0, x), elementwise; ReLU'(0) is taken as 0, as PyTorch does.

    forward:  out = max(0, x)
    backward: dL/dx = dL/dout * [x > 0]

A ReLU whose input is <= 0 for every image passes no gradient at all, and
nothing before it can learn again: a dead ReLU (training watches for it).
"""

import numpy as np

from ..layers import Module
from ..text import factor, formatter, scalar, titled
from ._kind import Kind


class ReLU(Module):
    """max(0, x), elementwise.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * [x > 0]   (ReLU'(0) taken as 0).
    """

    def forward(self, x):
        self._positive = x > 0
        return x * self._positive

    def backward(self, grad):
        return grad * self._positive

    def alive(self):
        """Whether each image of the last pass had some positive input: (N,) bools."""
        return self._positive.reshape(len(self._positive), -1).any(axis=1)

    @staticmethod
    def kinks(x, step):
        """Inputs within 4 steps of 0, where a finite difference may straddle the kink."""
        return int((np.abs(x) < 4 * step).sum())


def relu_forward(x):
    """max(0, x) for every entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = max(0.0, x[index])
    return out


def relu_backward(grad_out, x):
    """dL/dx = dL/dout where x > 0, else 0 (ReLU'(0) is taken as 0)."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = grad_out[index] if x[index] > 0 else 0.0
    return out


class Relu(Kind):
    name = "relu"
    order = 20
    example_net = "conv 2x3x3, relu, maxpool 2 stride 1, dense 3, relu, dense 1, sigmoid"
    summary = "max(0, x); named after the layer it follows (conv_relu)"
    activation = True
    title = "ReLU"
    kink = "relu"
    can_die = True
    mistakes = {
        "no-relu-mask": "dL/dconv_pre was taken equal to dL/dconv_relu; the ReLU passes the gradient only where its "
        "input was positive (multiply by [conv_pre > 0]).",
    }

    def build(self, layer, params, input_grad=True):
        return ReLU()

    def reference(self, x, layer, params):
        return relu_forward(x), {}, lambda grad: (relu_backward(grad, x), {})

    torch_class = "ReLU"
    torch_functions = ("relu",)

    def torch_module(self, named):
        return "torch.nn.ReLU()"

    def forward_lines(self, p, named, explain):
        return titled(f"{named.output} = max(0, {named.input})", p.shown(named.output), p.d)

    def backward_lines(self, p, named, explain):
        grad_in = p.source_name(named)
        return titled(f"dL/d{grad_in} = dL/d{named.output} * [{grad_in} > 0]", p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        x = p.value[named.input][index]
        return (
            f"    {p.at(named.output, index)} = max(0, {scalar(x, p.d)}) = {scalar(p.value[named.output][index], p.d)}"
        )

    def input_gradient_line(self, p, named, target, index):
        d, up, name = p.d, p.grad[named.output], named.input
        on = int(p.value[name][index] > 0)
        return (f"    {target} = dL/d{p.at(named.output, index)} * [{p.at(name, index)} > 0] = "
                f"{factor(formatter(up, d), up[index])}*{on} = {scalar(p.grad[name][index], d)}")  # fmt: skip

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"no-relu-mask": grad}


KIND = Relu()
