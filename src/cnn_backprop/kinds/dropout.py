"""dropout P: in training, each entry kept with probability 1 - P and scaled by 1 / (1 - P), else 0, as
torch.nn.Dropout; in evaluation, the identity.

    training:    out = x * mask / (1 - P)          mask: 1 (kept) or 0 (dropped), drawn per entry
    backward:    dL/dx = dL/dout * mask / (1 - P)
    evaluation:  out = x,  dL/dx = dL/dout

The scale keeps each entry's expected value what evaluation sees.  A pass in
training mode holds its mask in the given (``NAME_mask``, the shape of the
layer's input), drawn from the pass's seed unless given, so that every number
of it can be checked; a network that trains draws a new mask each step.
Forgetting the 1 / (1 - P) is ``dropout-unscaled``.
"""

import numpy as np

from ..layers import Module
from ..text import blocks, factor, scalar, titled
from ._kind import Kind, Option


class Dropout(Module):
    """Dropout of each entry with probability p.

    forward:  x (N, ...) -> same shape: x * mask / (1 - p) in training (``extras``: mask, 1 kept, 0 dropped), x in
              evaluation (mask all 1).  The mask is ``draws["mask"]`` where it fits x, else drawn from ``rng``.
    backward: dL/dout -> dL/dx = dL/dout * mask / (1 - p) in training, dL/dout in evaluation.
    """

    def __init__(self, p):
        super().__init__()
        self.p, self.rng = p, np.random.default_rng(0)

    def forward(self, x):
        if not self.training:
            self._mask, self._scale = np.ones_like(x), 1.0
            return x
        mask = self.draws.get("mask")
        if mask is None or mask.shape != x.shape:
            mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype)
            if self.keep_draws:
                self.draws["mask"] = mask
        self._mask, self._scale = mask, mask / (1 - self.p)
        return x * self._scale

    @property
    def extras(self):
        return {"mask": self._mask}

    def backward(self, grad):
        return grad * self._scale


def dropout_forward(x, mask, p):
    """x * mask / (1 - p), entry by entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = x[index] * mask[index] / (1 - p)
    return out


def dropout_backward(grad_out, mask, p):
    """dL/dx = dL/dout * mask / (1 - p): a dropped entry passes no gradient, a kept one its share scaled."""
    grad = np.zeros(grad_out.shape)
    for index in np.ndindex(grad_out.shape):
        grad[index] = grad_out[index] * mask[index] / (1 - p)
    return grad


class DropoutKind(Kind):
    name = "dropout"
    order = 35
    example_net = "conv 2x3x3, tanh, dropout 0.25, maxpool 2 stride 1, dense 3, tanh, dropout 0.5, dense 2, softmax"
    usage = "dropout P"
    example = "dropout 0.5"
    summary = "in training, each entry kept with probability 1 - P and scaled by 1/(1 - P), else 0; the identity in " \
        "evaluation"  # fmt: skip
    sizes = ("p",)
    base = "drop"
    modal = True
    given_draws = ("mask",)
    mistakes = {
        "dropout-unscaled": "The kept entries were not scaled by 1 / (1 - P): in training dropout gives x * mask / "
        "(1 - P), and its gradient is dL/dout * mask / (1 - P), so that each entry's expected value is what "
        "evaluation sees.",
    }

    def parse_size(self, word, fail):
        p = Option("p", "", 0, number=float).read(word, fail)
        if p >= 1:
            fail(f"{word!r} is not a probability below 1")
        return {"p": p}

    def write_size(self, layer):
        return f"{layer.p:g}"

    def names(self, own, previous, following):
        return own, own

    def draw(self, named, rng):
        return {"mask": (rng.random(named.in_shape) >= named.layer.p).astype(float)}

    def build(self, layer, params, input_grad=True):
        return Dropout(layer.p)

    def reference(self, x, layer, params):
        mask = params.get("mask", np.ones(x.shape))  # a pass's mask (none given: nothing dropped)
        out = dropout_forward(x, mask, layer.p)
        return out, {"mask": mask}, lambda grad: (dropout_backward(grad, mask, layer.p), {})

    torch_class = "Dropout"

    def torch_module(self, named):
        return f"torch.nn.Dropout({named.layer.p!r})"

    def from_torch(self, module, refuse):
        p = module.p
        if float(f"{p:g}") != p:  # a spec writes it with 6 significant digits
            refuse(f"p={p!r}", "probabilities of at most 6 significant digits, e.g. 0.5")
        return {"p": float(p)}

    def torch_with_draws(self, x, layer, draws):
        return x * draws["mask"] / (1 - layer.p)

    def given_lines(self, p, named):
        name, rate = named.name, named.layer.p
        if p.mode == "eval":
            return [f"  {name}: dropout P = {rate:g}, the identity in evaluation mode"]
        mask = p.given[f"{name}_mask"]
        lines = [f"  {name}: dropout P = {rate:g}, each entry kept with probability {1 - rate:g} and scaled by "
                 f"1/(1 - P); {name}_mask (1 kept, 0 dropped, drawn from the seed):"]  # fmt: skip
        return lines + (blocks(mask, 0) if np.ndim(mask) >= 2 else [f"    {np.asarray(mask, dtype=int).tolist()}"])

    def forward_lines(self, p, named, explain):
        name, out, x = named.name, named.output, named.input
        if p.mode == "eval":
            return titled(f"{out} = {x} (evaluation mode: dropout passes everything)", p.shown(out), p.d)
        return titled(f"{out} = {x} * {name}_mask / (1 - {named.layer.p:g})", p.shown(out), p.d)

    def backward_lines(self, p, named, explain):
        grad_in, out = p.source_name(named), named.output
        rule = f"dL/d{out}" if p.mode == "eval" else f"dL/d{out} * {named.name}_mask / (1 - {named.layer.p:g})"
        return titled(f"dL/d{grad_in} = {rule}", p.shown_grad(grad_in), p.d)

    def value_line(self, p, named, index):
        x, out, rate = p.value[named.input][index], p.value[named.output][index], named.layer.p
        written = factor(p.fmt(p.value[named.input]), x)
        if p.mode == "eval":
            return f"    {p.at(named.output, index)} = {written} = {scalar(out, p.d)}"
        mask = p.extra(f"{named.name}_mask")[index]
        return f"    {p.at(named.output, index)} = {written} * {mask:g} / (1 - {rate:g}) = {scalar(out, p.d)}"

    def input_gradient_line(self, p, named, target, index):
        up, rate = p.grad[named.output], named.layer.p
        at, value = p.at(named.output, index), scalar(p.grad[named.input][index], p.d)
        if p.mode == "eval":
            return f"    {target} = dL/d{at} = {value}"
        mask = p.extra(f"{named.name}_mask")[index]
        return (f"    {target} = dL/d{at} * mask / (1 - {rate:g}) = {factor(p.fmt(up), up[index])}*{mask:g}/"
                f"{1 - rate:g} = {value}")  # fmt: skip

    def forward_mistakes(self, key, named, x, right):
        if key.given.get("mode", "train") != "train":
            return {}
        return {"dropout-unscaled": right * (1 - named.layer.p)}

    def backward_mistakes(self, key, named, layer, x, grad):
        if not layer.training:
            return {}
        return {"dropout-unscaled": grad * layer.extras["mask"]}


KIND = DropoutKind()
