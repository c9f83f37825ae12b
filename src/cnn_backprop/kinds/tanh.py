"""tanh: the hyperbolic tangent, elementwise, as torch.nn.Tanh.

    forward:  out = tanh(x)
    backward: dL/dx = dL/dout * (1 - out^2)

The derivative is written with the output, which the forward pass kept: a
student who writes 1 - x^2 with the input instead makes ``tanh-wrong-derivative``.
"""

import math

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled
from ._kind import Kind


class Tanh(Module):
    """tanh(x), elementwise.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * (1 - tanh(x)^2).
    """

    def forward(self, x):
        self._out = np.tanh(x)
        return self._out

    def backward(self, grad):
        return grad * (1 - self._out**2)


def tanh_forward(x):
    """tanh of every entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = math.tanh(x[index])
    return out


def tanh_backward(grad_out, out):
    """dL/dx = dL/dout * (1 - out^2), with out = tanh(x)."""
    grad = np.zeros(out.shape)
    for index in np.ndindex(out.shape):
        grad[index] = grad_out[index] * (1.0 - out[index] ** 2)
    return grad


class TanhKind(Kind):
    name = "tanh"
    order = 21
    example_net = "conv 2x3x3, tanh, maxpool 2 stride 1, dense 3, tanh, dense 2, softmax"
    summary = "tanh(x); named after the layer it follows (conv_tanh)"
    activation = True
    title = "tanh"
    mistakes = {
        "tanh-wrong-derivative": "tanh's derivative was taken as 1 - x^2 of its input; it is 1 - tanh(x)^2, one "
        "minus the square of its output: dL/dx = dL/dout * (1 - out^2).",
    }

    def build(self, layer, params, input_grad=True):
        return Tanh()

    def reference(self, x, layer, params):
        out = tanh_forward(x)
        return out, {}, lambda grad: (tanh_backward(grad, out), {})

    torch_class = "Tanh"
    torch_functions = ("tanh",)

    def torch_module(self, named):
        return "torch.nn.Tanh()"

    def forward_lines(self, p, named, explain):
        return titled(f"{named.output} = tanh({named.input})", p.shown(named.output), p.d)

    def backward_lines(self, p, named, explain):
        grad_in = p.source_name(named)
        rule = f"dL/d{named.output} * (1 - {named.output}^2)"
        return titled(f"dL/d{grad_in} = {rule}", p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        x, out = p.value[named.input][index], p.value[named.output][index]
        return f"    {p.at(named.output, index)} = tanh({scalar(x, p.d)}) = {scalar(out, p.d)}"

    def input_gradient_line(self, p, named, target, index):
        d, up, out = p.d, p.grad[named.output], p.value[named.output]
        rule = f"dL/d{p.at(named.output, index)} * (1 - {p.at(named.output, index)}^2)"
        product = f"{factor(p.fmt(up), up[index])}*(1 - {factor(p.fmt(out), out[index])}^2)"
        return f"    {target} = {rule} = {product} = {scalar(p.grad[named.input][index], d)}"

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"tanh-wrong-derivative": grad * (1 - x**2)}


KIND = TanhKind()
