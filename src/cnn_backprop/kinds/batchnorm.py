"""batchnorm: batch normalisation of a conv layer's output, per channel, as torch.nn.BatchNorm2d.

In training, each channel c is normalised by the mean and the (biased) variance
of its values over the batch and the map, then scaled and shifted:

    mean[c] = (1/n) sum_{b,i,j} x[b, c, i, j]                 n = N*H*W
    var[c]  = (1/n) sum_{b,i,j} (x[b, c, i, j] - mean[c])^2
    x_hat   = (x - mean[c]) / sqrt(var[c] + eps)               eps = 1e-5
    out     = gamma[c] * x_hat + beta[c]                       gamma = 1, beta = 0 at the start

The walkthrough of one image normalises over that image's map, as PyTorch
does in training mode with a batch of one.  Since mean and var depend on every
x of the channel, the gradient has three terms:

    dL/dx = gamma[c] / sqrt(var[c] + eps) * (dL/dout - mean(dL/dout) - x_hat * mean(dL/dout * x_hat))
    dL/dgamma[c] = sum dL/dout * x_hat,   dL/dbeta[c] = sum dL/dout

Training also keeps running statistics (momentum 0.1; the variance's unbiased,
n/(n-1) times the batch's), which evaluation and prediction use instead, as
PyTorch's ``model.eval()`` does.  There mean and var are constants, and
dL/dx = gamma[c] / sqrt(var[c] + eps) * dL/dout: a pass in evaluation mode
(``mode: eval``, with NAME_running_mean and NAME_running_var given) shows that.
"""

import math

import numpy as np

from ..layers import Module, parameter
from ..text import factor, scalar, shown, titled
from ..validate import InputError
from ._kind import Kind, torch_fixed

EPS = 1e-5  # PyTorch's default
MOMENTUM = 0.1  # PyTorch's default: running = (1 - momentum) * running + momentum * batch statistic
AXES = (0, 2, 3)  # the batch and the map: each channel has its own statistics


def _channel(values):
    """(C,) -> (1, C, 1, 1), to broadcast over a batch of maps."""
    return values[None, :, None, None]


class BatchNorm2D(Module):
    """Batch normalisation over the batch and the map, per channel.

    params:   gamma (C,), beta (C,).  buffers: running_mean (C,), running_var (C,), num_batches_tracked ().
    forward:  x (N, C, H, W) -> (N, C, H, W) = gamma * x_hat + beta; in training x_hat uses the batch's mean
              and biased variance (``extras``: mean and var, (N, C), the same for every image), and the
              running statistics move towards them; in evaluation it uses the running ones.
    backward: dL/dout (N, C, H, W) -> dL/dx (N, C, H, W), the three-term rule in training (the statistics
              depend on x), dL/dout * gamma / sqrt(var + eps) in evaluation; grads: gamma, beta (C,).
    """

    def __init__(self, gamma, beta):
        super().__init__(gamma=parameter(gamma), beta=parameter(beta))

    def forward(self, x):
        if self.training:
            mean, var = x.mean(axis=AXES), x.var(axis=AXES)
            count = x.size // x.shape[1]
            self.buffers["running_mean"] *= 1 - MOMENTUM
            self.buffers["running_mean"] += MOMENTUM * mean
            self.buffers["running_var"] *= 1 - MOMENTUM
            self.buffers["running_var"] += MOMENTUM * var * count / (count - 1)
            self.buffers["num_batches_tracked"] += 1
        else:
            mean, var = self.buffers["running_mean"].astype(x.dtype), self.buffers["running_var"].astype(x.dtype)
        self._mean, self._var, self._n = mean, var, len(x)
        self._inv_std = 1 / np.sqrt(var + EPS)
        self._x_hat = (x - _channel(mean)) * _channel(self._inv_std)
        return _channel(self.params["gamma"]) * self._x_hat + _channel(self.params["beta"])

    @property
    def extras(self):
        return {
            key: np.broadcast_to(value, (self._n, len(value)))
            for key, value in (("mean", self._mean), ("var", self._var))
        }

    def backward(self, grad):
        x_hat, scale = self._x_hat, _channel(self.params["gamma"] * self._inv_std)
        self.grads = {"gamma": (grad * x_hat).sum(axis=AXES), "beta": grad.sum(axis=AXES)}
        if not self.training:
            return grad * scale
        return scale * (
            grad - grad.mean(axis=AXES, keepdims=True) - x_hat * (grad * x_hat).mean(axis=AXES, keepdims=True)
        )

    def constant_stats_backward(self, grad):
        """dL/dx as if the mean and variance did not depend on x: dL/dout * gamma / sqrt(var + eps)."""
        return grad * _channel(self.params["gamma"] * self._inv_std)


def batchnorm_forward(x, gamma, beta):
    """One image (C, H, W) normalised over each channel's map: (out, mean (C,), var (C,))."""
    channels, height, width = x.shape
    n = height * width
    out, mean, var = np.zeros(x.shape), np.zeros(channels), np.zeros(channels)
    for c in range(channels):
        total = 0.0
        for i in range(height):
            for j in range(width):
                total += x[c, i, j]
        mean[c] = total / n
        squares = 0.0
        for i in range(height):
            for j in range(width):
                squares += (x[c, i, j] - mean[c]) ** 2
        var[c] = squares / n
        for i in range(height):
            for j in range(width):
                out[c, i, j] = gamma[c] * (x[c, i, j] - mean[c]) / math.sqrt(var[c] + EPS) + beta[c]
    return out, mean, var


def batchnorm_backward(grad_out, x, gamma, mean, var):
    """(dL/dx, dL/dgamma, dL/dbeta) for one image: the three terms, channel by channel."""
    channels, height, width = x.shape
    n = height * width
    dx, dgamma, dbeta = np.zeros(x.shape), np.zeros(channels), np.zeros(channels)
    for c in range(channels):
        inv_std = 1 / math.sqrt(var[c] + EPS)
        grad_mean, grad_x_hat_mean = 0.0, 0.0
        for i in range(height):
            for j in range(width):
                x_hat = (x[c, i, j] - mean[c]) * inv_std
                dgamma[c] += grad_out[c, i, j] * x_hat
                dbeta[c] += grad_out[c, i, j]
                grad_mean += grad_out[c, i, j] / n
                grad_x_hat_mean += grad_out[c, i, j] * x_hat / n
        for i in range(height):
            for j in range(width):
                x_hat = (x[c, i, j] - mean[c]) * inv_std
                dx[c, i, j] = gamma[c] * inv_std * (grad_out[c, i, j] - grad_mean - x_hat * grad_x_hat_mean)
    return dx, dgamma, dbeta


def _number(p, value):
    """One number as a factor, written as the text writes it."""
    return factor(p.fmt([value]), value)


class BatchNorm(Kind):
    name = "batchnorm"
    order = 15
    example_net = "conv 2x3x3, batchnorm, relu, maxpool 2 stride 1, conv 2x2x2 pad 1, batchnorm, dense 2, softmax"
    summary = "batch normalisation of the conv layer before it (BatchNorm2d: eps 1e-5, momentum 0.1)"
    base = "bn"
    param_keys = ("gamma", "beta")
    keep = {"gamma": 0, "beta": 0}
    written = {"gamma": (0, 1), "beta": (0, 1)}
    torch_keys = {
        "gamma": "weight",
        "beta": "bias",
        "running_mean": "running_mean",
        "running_var": "running_var",
        "num_batches_tracked": "num_batches_tracked",
    }
    torch_class = "BatchNorm2d"
    reads = gives = "map"
    batch_dependent = True
    modal = True
    given_buffers = ("running_mean", "running_var")
    mistakes = {
        "bn-constant-stats": "The batch mean and variance were treated as constants: dL/dx = gamma / sqrt(var + eps) "
        "* dL/dout. They depend on every x of the channel, which adds two terms: dL/dx = gamma / sqrt(var + eps) * "
        "(dL/dout - mean(dL/dout) - x_hat * mean(dL/dout * x_hat)).",
    }

    def names(self, own, previous, following):
        return own, own

    def check_place(self, kinds, index):
        if index == 0 or "kernel" not in kinds[index - 1].param_keys:
            return (
                "batchnorm normalises a conv layer's output: put it right after a conv layer, "
                "e.g. 'conv 8x3x3, batchnorm, relu'"
            )
        return None

    def shapes(self, layer, name, in_shape, before):
        if in_shape[1] * in_shape[2] < 2:
            raise InputError(
                f"{name}: the map before it is 1x1, one value per channel, and a batch norm of one image "
                "normalises each channel over its map (PyTorch refuses one value); use a larger map"
            )
        return in_shape, {"gamma": (in_shape[0],), "beta": (in_shape[0],)}

    def buffers(self, named):
        channels = named.in_shape[0]
        return {
            "running_mean": np.zeros(channels),
            "running_var": np.ones(channels),
            "num_batches_tracked": np.zeros((), dtype=np.int64),
        }

    def init(self, shapes, rng, init):
        return {"gamma": np.ones(shapes["gamma"]), "beta": np.zeros(shapes["beta"])}

    def integers(self, shapes, rng):
        return {"gamma": np.ones(shapes["gamma"], dtype=int), "beta": np.zeros(shapes["beta"], dtype=int)}

    def build(self, layer, params, input_grad=True):
        return BatchNorm2D(params["gamma"], params["beta"])

    def reference(self, x, layer, params):
        gamma = params["gamma"]
        out, mean, var = batchnorm_forward(x, gamma, params["beta"])

        def backward(grad):
            dx, dgamma, dbeta = batchnorm_backward(grad, x, gamma, mean, var)
            return dx, {"gamma": dgamma, "beta": dbeta}

        return out, {"mean": mean, "var": var}, backward

    def torch_module(self, named):
        return f"torch.nn.BatchNorm2d({named.in_shape[0]})"

    def from_torch(self, module, refuse):
        torch_fixed(module, refuse, eps=EPS, momentum=MOMENTUM, affine=True, track_running_stats=True)
        return {}

    def given_lines(self, p, named):
        d, name = p.d, named.name
        gamma, beta = p.given[named.params["gamma"]], p.given[named.params["beta"]]
        line = f"  {name} gamma {shown(gamma, d)}, {name} beta {shown(beta, d)}, eps {EPS:g}: each channel "
        if p.mode == "eval":
            mean, var = p.given[f"{name}_running_mean"], p.given[f"{name}_running_var"]
            return [line + f"normalised by its running mean {shown(mean, d)} and variance {shown(var, d)}"]
        return [line + "normalised over its map (a batch of one image)"]

    def forward_lines(self, p, named, explain):
        name, x, out = named.name, named.input, named.output
        if p.mode == "eval":
            lines = titled(f"{name}_mean = {name}_running_mean (evaluation mode)", p.shown(f"{name}_mean"), p.d)
            lines += titled(f"{name}_var = {name}_running_var", p.shown(f"{name}_var"), p.d)
        else:
            lines = titled(f"{name}_mean = the mean of each channel of {x}", p.shown(f"{name}_mean"), p.d)
            lines += titled(
                f"{name}_var = the mean of ({x} - {name}_mean)^2 over each channel", p.shown(f"{name}_var"), p.d
            )
        title = f"{out} = {name}_gamma * ({x} - {name}_mean) / sqrt({name}_var + eps) + {name}_beta"
        lines += titled(title, p.shown(out), p.d)
        if explain:
            lines += [self.value_line(p, named, index) for index in np.ndindex(named.out_shape)]
        return lines

    def backward_lines(self, p, named, explain):
        d, name, out, grad_in = p.d, named.name, named.output, p.source_name(named)
        x_hat = f"x_hat = ({grad_in} - {name}_mean) / sqrt({name}_var + eps)"
        lines = titled(f"dL/d{name}_gamma = sum over each channel of dL/d{out} * x_hat, {x_hat}",
                       p.shown_grad(named.params["gamma"]), d)  # fmt: skip
        lines += titled(f"dL/d{name}_beta = sum over each channel of dL/d{out}", p.shown_grad(named.params["beta"]), d)
        rule = (f"{name}_gamma / sqrt({name}_var + eps) * (dL/d{out} - mean(dL/d{out}) - x_hat * mean(dL/d{out} * "
                "x_hat)), the means over each channel")  # fmt: skip
        if p.mode == "eval":
            rule = f"{name}_gamma / sqrt({name}_var + eps) * dL/d{out} (evaluation mode: mean and var are constants)"
        return lines + titled(f"dL/d{grad_in} = {rule}", p.shown_grad(grad_in), d)

    def _statistics(self, p, named, c):
        """(gamma, beta, mean, var, x_hat of channel c's map)."""
        gamma, beta = p.value[named.params["gamma"]][c], p.value[named.params["beta"]][c]
        mean, var = p.extra(f"{named.name}_mean")[c], p.extra(f"{named.name}_var")[c]
        return gamma, beta, mean, var, (p.value[named.input][c] - mean) / math.sqrt(var + EPS)

    def value_line(self, p, named, index):
        d, c = p.d, index[0]
        gamma, beta, mean, var, x_hat = self._statistics(p, named, c)
        x, out = p.value[named.input][index], p.value[named.output][index]
        rule = f"gamma * ({p.at(named.input, index)} - mean) / sqrt(var + eps) + beta"
        numbers = f"{scalar(gamma, d)} * ({scalar(x, d)} - {_number(p, mean)}) / sqrt({scalar(var, d)} + {EPS:g})"
        scaled = f"{scalar(gamma, d)} * {_number(p, x_hat[index[1:]])}"
        shift = _number(p, beta)
        return f"    {p.at(named.output, index)} = {rule} = {numbers} + {shift} = {scaled} + {shift} = {scalar(out, d)}"

    def input_gradient_line(self, p, named, target, index):
        d, c = p.d, index[0]
        gamma, _, _, var, x_hat = self._statistics(p, named, c)
        up = p.grad[named.output][c]
        here, out = index[1:], named.output
        value = scalar(p.grad[named.input][index], d)
        if p.mode == "eval":
            rule = f"gamma / sqrt(var + eps) * dL/d{p.at(out, index)}"
            numbers = f"{scalar(gamma, d)} / sqrt({scalar(var, d)} + {EPS:g}) * {_number(p, up[here])}"
            return f"    {target} = {rule} = {numbers} = {value}"
        grad_mean, grad_x_hat_mean = up.mean(), (up * x_hat).mean()
        rule = f"gamma / sqrt(var + eps) * (dL/d{p.at(out, index)} - mean(dL/d{out}) - x_hat * mean(dL/d{out} * x_hat))"
        terms = (
            f"{scalar(up[here], d)} - {_number(p, grad_mean)} - {_number(p, x_hat[here])}*{_number(p, grad_x_hat_mean)}"
        )
        return f"    {target} = {rule} = {scalar(gamma, d)} / sqrt({scalar(var, d)} + {EPS:g}) * ({terms}) = {value}"

    def param_gradient_line(self, p, named, key, index):
        d, (c,) = p.d, index
        up = p.grad[named.output][c]
        target = f"dL/d{p.at(named.params[key], index)}"
        value = scalar(p.grad[named.params[key]][index], d)
        if key == "beta":
            terms = " + ".join(factor(p.fmt(up), g) for g in up.ravel())
            return f"    {target} = sum of dL/d{named.output}[{c}] = {terms} = {value}"
        x_hat = self._statistics(p, named, c)[4]
        terms = " + ".join(
            f"{factor(p.fmt(up), g)}*{factor(p.fmt(x_hat), h)}" for g, h in zip(up.ravel(), x_hat.ravel())
        )
        return f"    {target} = sum of dL/d{named.output}[{c}] * x_hat = {terms} = {value}"

    def backward_mistakes(self, key, named, layer, x, grad):
        return {"bn-constant-stats": layer.constant_stats_backward(grad)}


KIND = BatchNorm()
