"""softmax: the output P(class k) = e^z_k / sum_j e^z_j of the K logits before it, with cross-entropy.

    loss  = -log softmax(z)[y] = logsumexp(z) - z_y
    dL/dz = softmax(z) - onehot(y)

Fused, and computed from z - max(z) so that no exponent is positive.
"""

import math

import numpy as np

from ..layers import Module
from ..text import factor, scalar, titled, vector
from ..validate import InputError
from ._kind import Kind


class SoftmaxCrossEntropy(Module):
    """Softmax output with cross-entropy, fused and stable for any logits.

    forward:  z (N, K) -> output (N, K), output[n, k] = e^z[n, k] / sum_j e^z[n, j],
              computed from z - max(z) so that no exponent is positive.
    loss:     labels y (N,) in 0..K-1 -> the mean over the batch of
              -log output[n, y_n] = logsumexp(z[n]) - z[n, y_n].
    backward: dL/dloss -> dL/dz (N, K) = (output - onehot(y)) / N.
    """

    def forward(self, z):
        self._z = z
        self._shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(self._shifted)
        self._log_sum = np.log(e.sum(axis=1, keepdims=True))
        self.output = e / e.sum(axis=1, keepdims=True)
        return self.output

    def loss(self, labels):
        self._y = np.asarray(labels, dtype=np.intp)
        rows = np.arange(len(self._y))
        return (self._log_sum[:, 0] - self._shifted[rows, self._y]).mean()

    def backward(self, grad):
        target = np.zeros_like(self.output)
        target[np.arange(len(self._y)), self._y] = 1.0
        return grad * (self.output - target) / len(self._z)


def softmax(z):
    """e^z_k / sum_j e^z_j, with the largest z subtracted first so that no exponent is positive."""
    top = max(z)
    exps = [math.exp(value - top) for value in z]
    total = sum(exps)
    return np.array([e / total for e in exps])


def cross_entropy_with_logits(z, label):
    """-log softmax(z)[label] = log sum_j e^z_j - z_label, as logsumexp around the largest z."""
    top = max(z)
    return top + math.log(sum(math.exp(value - top) for value in z)) - z[label]


def cross_entropy_with_logits_backward(z, label):
    """dL/dz_k = softmax(z)_k - [k == label]."""
    grad = softmax(z)
    grad[label] -= 1.0
    return grad


class Softmax(Kind):
    name = "softmax"
    order = 61
    example_net = "conv 2x3x3, relu, maxpool 2 stride 1, dense 2, softmax"
    summary = "the output P(each class) and its loss (K-class cross-entropy), last, after 'dense K'"
    is_output = True
    binary = False
    default_init = "pytorch"  # deeper networks need signed weights scaled by their fan-in to learn at all
    loss = "cross_entropy"
    torch_class = "Softmax"  # in a module from_torch reads, the loss adds it
    torch_functions = ("softmax",)
    loss_call = "torch.nn.functional.cross_entropy(z, labels)"
    torch_losses = {"CrossEntropyLoss": "logits", "NLLLoss": "log_softmax"}
    mistakes = {
        "softmax-no-minus-y": "dL/dz was taken as the output p; for cross-entropy after softmax dL/dz = p - onehot(y): "
        "subtract 1 at the label's class.",
    }

    def shapes(self, layer, name, in_shape, before):
        if in_shape[0] < 2:
            raise InputError(
                "softmax needs at least two classes: use 'dense K, softmax' with K >= 2, or 'dense 1, sigmoid'"
            )
        return in_shape, {}

    def classes(self, in_shape):
        return in_shape[0]

    def probabilities(self, output):
        return output

    def target(self, output, labels):
        """What the output would be if it were sure and right: onehot(y)."""
        return np.eye(output.shape[1])[labels]

    def build(self, layer, params, input_grad=True):
        return SoftmaxCrossEntropy()

    def reference_loss(self, z, label):
        """(output, loss, dL/dz) for one image's z (K,)."""
        return softmax(z), cross_entropy_with_logits(z, label), cross_entropy_with_logits_backward(z, label)

    def forward_lines(self, p, named, explain):
        d, y, output = p.d, p.label, p.shown("output")
        return [
            f"  output = softmax(z) = e^z / sum e^z = {vector(output, d)}   (P of each class)",
            f"  loss = -log(output[y]) = -log({scalar(output[y], d)}) = {scalar(p.shown('loss'), d)}   "
            f"(y = {y} = {p.classes[y]})",
        ]

    def backward_lines(self, p, named, explain):
        return titled("dL/dz = softmax(z) - onehot(y)", p.shown_grad(named.input), p.d)

    def value_line(self, p, named, index):
        z = p.value[named.input]
        terms = " + ".join(f"e^{factor(p.fmt(z), v)}" for v in z)
        top = f"e^{factor(p.fmt(z), z[index])}"
        return f"    {p.at('output', index)} = {top} / ({terms}) = {p.value['output'][index]:.{p.d}f}"

    def input_gradient_line(self, p, named, target, index):
        d, k = p.d, index[0]
        onehot = float(k == p.label)
        value = p.grad[named.input][index]
        return (f"    {target} = softmax(z)[{k}] - [{k} == y] = {p.value['output'][index]:.{d}f} - {onehot:g} = "
                f"{scalar(value, d)}")  # fmt: skip

    def logit_mistakes(self, output, target):
        return {**super().logit_mistakes(output, target), "softmax-no-minus-y": output}


KIND = Softmax()
