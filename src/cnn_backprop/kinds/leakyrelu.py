"""leakyrelu [slope A]: x where x > 0, else A*x, elementwise, as torch.nn.LeakyReLU (A = 0.01 by default).

    forward:  out = x if x > 0 else A x
    backward: dL/dx = dL/dout * (1 if x > 0 else A)

At x = 0 the derivative is taken as A, as PyTorch does.  Unlike a ReLU it
never stops the gradient altogether, so it cannot die.
"""

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled
from ._kind import Kind, Option


class LeakyReLU(Module):
    """x if x > 0 else slope * x, elementwise.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * (1 where x > 0, slope elsewhere).
    """

    def __init__(self, slope=0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        self._factor = np.where(x > 0, 1.0, self.slope).astype(x.dtype)
        return x * self._factor

    def backward(self, grad):
        return grad * self._factor

    @staticmethod
    def kinks(x, step):
        """Inputs within 4 steps of 0, where the slope changes under a finite difference."""
        return int((np.abs(x) < 4 * step).sum())


def leakyrelu_forward(x, slope):
    """x where x > 0, else slope * x, for every entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = x[index] if x[index] > 0 else slope * x[index]
    return out


def leakyrelu_backward(grad_out, x, slope):
    """dL/dx = dL/dout where x > 0, else slope * dL/dout."""
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        grad[index] = grad_out[index] if x[index] > 0 else slope * grad_out[index]
    return grad


class LeakyReLUKind(Kind):
    name = "leakyrelu"
    order = 22
    example_net = "conv 2x3x3, leakyrelu slope 0.2, maxpool 2 stride 1, dense 3, leakyrelu, dense 2, softmax"
    usage = "leakyrelu [slope A]"
    example = "leakyrelu slope 0.2"
    summary = "x if x > 0, else A x (A = 0.01 by default, as in PyTorch); named after the layer it follows"
    options = (Option("slope", "slope", 0.01, minimum=0, number=float),)
    activation = True
    title = "leaky ReLU"
    kink = "relu"
    mistakes = {
        "leaky-slope-dropped": "The gradient was stopped where the input was not positive, a ReLU's rule; a leaky "
        "ReLU passes slope times the gradient there: dL/dx = dL/dout * (1 if x > 0 else slope).",
    }

    def build(self, layer, params, input_grad=True):
        return LeakyReLU(layer.slope)

    def reference(self, x, layer, params):
        out = leakyrelu_forward(x, layer.slope)
        return out, {}, lambda grad: (leakyrelu_backward(grad, x, layer.slope), {})

    torch_class = "LeakyReLU"
    torch_functions = ("leaky_relu",)

    def torch_module(self, named):
        return f"torch.nn.LeakyReLU({named.layer.slope!r})"

    def from_torch(self, module, refuse):
        slope = module.negative_slope
        if not slope >= 0 or float(f"{slope:g}") != slope:  # a spec writes it with 6 significant digits
            refuse(f"negative_slope={slope!r}", "slopes >= 0 of at most 6 significant digits, e.g. 0.01")
        return {"slope": slope}

    def forward_lines(self, p, named, explain):
        title = f"{named.output} = {named.input} where > 0, else {named.layer.slope:g} * {named.input}"
        return titled(title, p.shown(named.output), p.d)

    def backward_lines(self, p, named, explain):
        grad_in, slope = p.source_name(named), named.layer.slope
        title = f"dL/d{grad_in} = dL/d{named.output} * (1 where {grad_in} > 0, else {slope:g})"
        return titled(title, p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        x, out, slope = p.value[named.input][index], p.value[named.output][index], named.layer.slope
        rule = f"{scalar(x, p.d)}" if x > 0 else f"{slope:g} * {factor(p.fmt(p.value[named.input]), x)}"
        return f"    {p.at(named.output, index)} = {rule} = {scalar(out, p.d)}"

    def input_gradient_line(self, p, named, target, index):
        d, up, name = p.d, p.grad[named.output], named.input
        slope = f"{named.layer.slope:g}"
        on = 1 if p.value[name][index] > 0 else slope
        value = scalar(p.grad[name][index], d)
        return (f"    {target} = dL/d{p.at(named.output, index)} * (1 if {p.at(name, index)} > 0 else {slope}) = "
                f"{factor(p.fmt(up), up[index])}*{on} = {value}")  # fmt: skip

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"leaky-slope-dropped": grad * (x > 0)}


KIND = LeakyReLUKind()
