"""sigmoid: the output P(class 1) = 1 / (1 + e^-z) of the one number z before it, with binary cross-entropy.

    loss  = -[y log s(z) + (1 - y) log(1 - s(z))] = max(z, 0) - y z + log(1 + e^-|z|)
    dL/dz = s(z) - y

The two are fused: the loss is computed from z, so that neither overflows
(the seed's ``exp(z) / (1 + exp(z))`` is nan for z > 709), and the
derivative of s cancels against the loss's (the seed's ``d_bce`` returned 0
once s rounded to 1, whatever the label).
"""

import math

import numpy as np

from ..layers import Module
from ..text import scalar
from ..validate import InputError
from ._kind import Kind


def sigmoid(z):
    """Logistic sigmoid 1 / (1 + e^-z), finite and accurate for any z.

    exp is only ever taken of -|z|, so it cannot overflow.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class SigmoidBCE(Module):
    """Sigmoid output with binary cross-entropy, fused so neither can overflow.

    forward:  z (N, 1) -> output (N, 1) = s(z) = P(class 1).
    loss:     labels y (N,) in {0, 1} -> the mean over the batch of
              -[y log s(z) + (1 - y) log(1 - s(z))] = max(z, 0) - y z + log(1 + e^-|z|).
    backward: dL/dloss (a scalar, 1 for the loss itself) -> dL/dz (N, 1) = (s(z) - y) / N.
    """

    def forward(self, z):
        self._z = z
        self.output = sigmoid(z)
        return self.output

    def loss(self, labels):
        z = self._z
        self._y = np.asarray(labels, dtype=z.dtype).reshape(z.shape)
        return (np.maximum(z, 0) - self._y * z + np.log1p(np.exp(-np.abs(z)))).mean()

    def backward(self, grad):
        return grad * (self.output - self._y) / len(self._z)


def reference_sigmoid(z):
    """1 / (1 + e^-z), written so that exp never sees a large positive number."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def bce_with_logit(z, y):
    """-[y log s(z) + (1 - y) log(1 - s(z))], computed from z without forming s(z).

    log s(z) = -log(1 + e^-z) and log(1 - s(z)) = -z - log(1 + e^-z); rewriting
    with |z| keeps every exponent <= 0: max(z, 0) - y z + log(1 + e^-|z|).
    """
    return max(z, 0.0) - y * z + math.log1p(math.exp(-abs(z)))


def bce_with_logit_backward(z, y):
    """dL/dz = s(z) - y.

    The seed computed dL/ds * ds/dz = (-y/s + (1-y)/(1-s)) * s(1-s), which is the
    same number until s rounds to 0 or 1; its ``d_bce`` then returned 0 whatever
    the label.  The product simplifies to s - y, which never breaks down.
    """
    return reference_sigmoid(z) - y


class Sigmoid(Kind):
    name = "sigmoid"
    order = 60
    example_net = "conv 1x3x3 pad 1, relu, maxpool 2, dense 1, sigmoid"
    summary = "the output P(class 1) and its loss (binary cross-entropy), last, after 'dense 1'"
    is_output = True
    binary = True
    default_init = "seed"  # the seed's one small conv layer learns from the notebook's all-positive draw
    loss = "bce"
    torch_class = "Sigmoid"  # in a module from_torch reads, the loss adds it
    torch_functions = ("sigmoid",)
    loss_call = "torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], labels.double())"
    torch_losses = {"BCEWithLogitsLoss": "logits"}

    def shapes(self, layer, name, in_shape, before):
        if in_shape != (1,):
            raise InputError(
                f"sigmoid gives P(class 1) from one number z; the dense layer before it has {in_shape[0]} "
                "outputs: use 'dense 1, sigmoid', or softmax for several classes"
            )
        return in_shape, {}

    def classes(self, in_shape):
        return 2

    def probabilities(self, output):
        """P(class k), (N, 2): the columns 1 - p, p."""
        return np.concatenate([1 - output, output], axis=1)

    def target(self, output, labels):
        """What the output would be if it were sure and right: y."""
        return np.asarray(labels).reshape(output.shape)

    def build(self, layer, params, input_grad=True):
        return SigmoidBCE()

    def reference_loss(self, z, label):
        """(output, loss, dL/dz) for one image's z (1,)."""
        return (
            np.array([reference_sigmoid(z[0])]),
            bce_with_logit(z[0], label),
            np.array([bce_with_logit_backward(z[0], label)]),
        )

    def forward_lines(self, p, named, explain):
        d, y, output = p.d, p.label, p.shown("output")
        return [
            f"  output = sigmoid(z) = 1 / (1 + e^-z) = {output:.{d}f}   (P({p.classes[1]}))",
            f"  loss = -[y log(output) + (1 - y) log(1 - output)] = {scalar(p.shown('loss'), d)}   (y = {y})",
        ]

    def backward_lines(self, p, named, explain):
        d = p.d
        return [
            f"  dL/dz = sigmoid(z) - y = {p.shown('output'):.{d}f} - {p.label} = {scalar(p.shown_grad(named.input), d)}"
        ]

    def value_line(self, p, named, index):
        z = p.value[named.input]
        return f"    output = sigmoid({scalar(z[0], p.d)}) = 1 / (1 + e^-z) = {p.value['output'][0]:.{p.d}f}"

    def input_gradient_line(self, p, named, target, index):
        d, output = p.d, p.value["output"][index]
        value = scalar(p.grad[named.input][index], d)
        return f"    {target} = sigmoid(z) - y = {output:.{d}f} - {float(p.label):g} = {value}"


KIND = Sigmoid()
