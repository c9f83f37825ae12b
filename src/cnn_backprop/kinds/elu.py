"""elu [alpha A]: x where x > 0, else A (e^x - 1), elementwise, as torch.nn.ELU (A = 1 by default).

    forward:  out = x if x > 0 else A (e^x - 1)
    backward: dL/dx = dL/dout * (1 if x > 0 else A e^x),  and A e^x = out + A

The derivative where x <= 0 is written with the output, which the forward
pass kept: a student who takes it as the output alone, dropping the + A, makes
``elu-alpha-dropped``.  At x = 0 the derivative is taken as A, as PyTorch does;
with A = 1 both sides meet there, otherwise it is a kink.
"""

import math

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled
from ._kind import Kind, Option


class ELU(Module):
    """x if x > 0 else alpha * (e^x - 1), elementwise.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * (1 where x > 0, alpha * e^x = out + alpha elsewhere).
    """

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        self._positive = x > 0
        # e^x only of x <= 0, which cannot overflow
        self._out = np.where(self._positive, x, self.alpha * np.expm1(np.minimum(x, 0)))
        return self._out

    def backward(self, grad):
        return grad * np.where(self._positive, 1.0, self._out + self.alpha)

    def kinks(self, x, step):
        """Inputs within 4 steps of 0, where the slope jumps from alpha to 1 (none when alpha is 1)."""
        return 0 if self.alpha == 1 else int((np.abs(x) < 4 * step).sum())


def elu_forward(x, alpha):
    """x where x > 0, else alpha * (e^x - 1), for every entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = x[index] if x[index] > 0 else alpha * (math.exp(x[index]) - 1)
    return out


def elu_backward(grad_out, x, alpha):
    """dL/dx = dL/dout where x > 0, else dL/dout * alpha * e^x."""
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        grad[index] = grad_out[index] if x[index] > 0 else grad_out[index] * alpha * math.exp(x[index])
    return grad


class ELUKind(Kind):
    name = "elu"
    order = 23
    example_net = "conv 2x3x3, elu, maxpool 2 stride 1, dense 3, elu alpha 0.5, dense 2, softmax"
    usage = "elu [alpha A]"
    example = "elu alpha 0.5"
    summary = "x if x > 0, else A (e^x - 1) (A = 1 by default, as in PyTorch); named after the layer it follows"
    options = (Option("alpha", "alpha", 1.0, minimum=0, number=float),)
    activation = True
    title = "ELU"
    kink = "relu"
    mistakes = {
        "elu-alpha-dropped": "Where the input was not positive, the ELU's derivative was taken as its output A (e^x - "
        "1); it is A e^x, the output plus A: dL/dx = dL/dout * (1 if x > 0 else out + A).",
    }

    def build(self, layer, params, input_grad=True):
        return ELU(layer.alpha)

    def reference(self, x, layer, params):
        out = elu_forward(x, layer.alpha)
        return out, {}, lambda grad: (elu_backward(grad, x, layer.alpha), {})

    torch_class = "ELU"
    torch_functions = ("elu",)

    def torch_module(self, named):
        return f"torch.nn.ELU({named.layer.alpha!r})"

    def from_torch(self, module, refuse):
        alpha = module.alpha
        if not alpha >= 0 or float(f"{alpha:g}") != alpha:  # a spec writes it with 6 significant digits
            refuse(f"alpha={alpha!r}", "alphas >= 0 of at most 6 significant digits, e.g. 1.0")
        return {"alpha": float(alpha)}

    def forward_lines(self, p, named, explain):
        title = f"{named.output} = {named.input} where > 0, else {named.layer.alpha:g} * (e^{named.input} - 1)"
        return titled(title, p.shown(named.output), p.d)

    def backward_lines(self, p, named, explain):
        grad_in, out, alpha = p.source_name(named), named.output, named.layer.alpha
        title = f"dL/d{grad_in} = dL/d{out} * (1 where {grad_in} > 0, else {out} + {alpha:g})"
        return titled(title, p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        x, out, alpha = p.value[named.input][index], p.value[named.output][index], named.layer.alpha
        rule = f"{scalar(x, p.d)}" if x > 0 else f"{alpha:g} * (e^{factor(p.fmt(p.value[named.input]), x)} - 1)"
        return f"    {p.at(named.output, index)} = {rule} = {scalar(out, p.d)}"

    def input_gradient_line(self, p, named, target, index):
        d, up, out, alpha = p.d, p.grad[named.output], p.value[named.output], named.layer.alpha
        at_out, at_in = p.at(named.output, index), p.at(named.input, index)
        on = "1" if p.value[named.input][index] > 0 else f"({factor(p.fmt(out), out[index])} + {alpha:g})"
        value = scalar(p.grad[named.input][index], d)
        return (f"    {target} = dL/d{at_out} * (1 if {at_in} > 0 else {at_out} + {alpha:g}) = "
                f"{factor(p.fmt(up), up[index])}*{on} = {value}")  # fmt: skip

    def backward_mistakes(self, key, named, layer, x, grad):
        out = layer.forward(x)
        return {"elu-alpha-dropped": grad * np.where(x > 0, 1.0, out)}


KIND = ELUKind()
