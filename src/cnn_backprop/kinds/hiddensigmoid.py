"""sigmoid, anywhere but last: the logistic function 1 / (1 + e^-x) as a hidden activation, as torch.nn.Sigmoid.

    forward:  out = s(x) = 1 / (1 + e^-x)
    backward: dL/dx = dL/dout * out (1 - out)

A spec writes it ``sigmoid``, as the output kind: the last item is the output
with its loss (``sigmoid.py``), any other this activation (LeNet's, as d2l
writes it).  The derivative is written with the output, which the forward pass
kept: a student who writes x (1 - x) with the input instead makes
``sigmoid-wrong-derivative``.
"""

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled
from ._kind import Kind
from .sigmoid import reference_sigmoid, sigmoid


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise, finite for any x.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * out * (1 - out).
    """

    def forward(self, x):
        self._out = sigmoid(x)
        return self._out

    def backward(self, grad):
        return grad * self._out * (1 - self._out)


def sigmoid_forward(x):
    """1 / (1 + e^-x) of every entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = reference_sigmoid(x[index])
    return out


def sigmoid_backward(grad_out, out):
    """dL/dx = dL/dout * out * (1 - out), with out = s(x)."""
    grad = np.zeros(out.shape)
    for index in np.ndindex(out.shape):
        grad[index] = grad_out[index] * out[index] * (1.0 - out[index])
    return grad


class HiddenSigmoid(Kind):
    name = "hiddensigmoid"
    word = "sigmoid"
    order = 24
    example_net = "conv 2x3x3, sigmoid, avgpool 2 stride 1, dense 3, sigmoid, dense 1, sigmoid"
    summary = "1 / (1 + e^-x) anywhere but last, as a hidden activation; named after the layer it follows"
    activation = True
    title = "sigmoid"
    mistakes = {
        "sigmoid-wrong-derivative": "The sigmoid's derivative was taken as x (1 - x) of its input; it is s(x) (1 - "
        "s(x)), of its output: dL/dx = dL/dout * out * (1 - out).",
    }

    def build(self, layer, params, input_grad=True):
        return Sigmoid()

    def reference(self, x, layer, params):
        out = sigmoid_forward(x)
        return out, {}, lambda grad: (sigmoid_backward(grad, out), {})

    torch_class = "Sigmoid"
    torch_functions = ("sigmoid",)

    def torch_module(self, named):
        return "torch.nn.Sigmoid()"

    def forward_lines(self, p, named, explain):
        return titled(f"{named.output} = sigmoid({named.input}) = 1 / (1 + e^-{named.input})", p.shown(named.output),
                      p.d)  # fmt: skip

    def backward_lines(self, p, named, explain):
        grad_in, out = p.source_name(named), named.output
        return titled(f"dL/d{grad_in} = dL/d{out} * {out} * (1 - {out})", p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        x, out = p.value[named.input][index], p.value[named.output][index]
        return f"    {p.at(named.output, index)} = 1 / (1 + e^-{factor(p.fmt([x]), x)}) = {scalar(out, p.d)}"

    def input_gradient_line(self, p, named, target, index):
        d, up, out = p.d, p.grad[named.output], p.value[named.output]
        at = p.at(named.output, index)
        o = factor(p.fmt(out), out[index])
        value = scalar(p.grad[named.input][index], d)
        return f"    {target} = dL/d{at} * {at} * (1 - {at}) = {factor(p.fmt(up), up[index])}*{o}*(1 - {o}) = {value}"

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"sigmoid-wrong-derivative": grad * x * (1 - x)}


KIND = HiddenSigmoid()
