"""dense O: a fully connected layer, O outputs from the D values it reads (after a flatten).

    fc_pre[o] = sum_d weights[o, d] * x[d] + bias[o]

Backward:

    dL/dweights[o, d] = dL/dfc_pre[o] * x[d]
    dL/dbias[o]       = dL/dfc_pre[o]
    dL/dx[d]          = sum_o dL/dfc_pre[o] * weights[o, d]      (weights^T . dL/dfc_pre)

The last dense layer's output is z, the logits the output layer reads.
"""

import numpy as np

from ..layers import Module, parameter
from ..text import blocks, factor, scalar, shown, titled, vector
from ..validate import InputError
from ._kind import MAX_SIDE, Kind, Option, weights_and_bias


class Dense(Module):
    """Fully connected layer on flattened features.

    params:   weights (O, D), bias (O,).
    forward:  x (N, D) -> fc_pre (N, O),  fc_pre = x @ weights.T + bias.
    backward: dL/dfc_pre (N, O) -> dL/dx (N, D); grads: weights (O, D), bias (O,).
    """

    def __init__(self, weights, bias):
        super().__init__(weights=parameter(weights), bias=parameter(bias))

    def forward(self, x):
        self._x = x
        return x @ self.params["weights"].T + self.params["bias"]

    def backward(self, grad):
        self.grads = {"weights": grad.T @ self._x, "bias": grad.sum(axis=0)}
        return grad @ self.params["weights"]


def dense_forward(x, weights, bias):
    """fc_pre[o] = sum_d weights[o, d] * x[d] + bias[o]; x (D,) -> (O,)."""
    out = np.zeros(weights.shape[0])
    for o in range(weights.shape[0]):
        total = bias[o]
        for d in range(weights.shape[1]):
            total += weights[o, d] * x[d]
        out[o] = total
    return out


def dense_backward(grad_out, x, weights):
    """(dL_dweights (O, D), dL_dbias (O,), dL_dx (D,)) from dL/dfc_pre (O,)."""
    dL_dweights = np.zeros(weights.shape)
    dL_dx = np.zeros(weights.shape[1])
    for o in range(weights.shape[0]):
        for d in range(weights.shape[1]):
            dL_dweights[o, d] = grad_out[o] * x[d]
            dL_dx[d] += grad_out[o] * weights[o, d]
    return dL_dweights, np.array(grad_out, dtype=float), dL_dx


def _z(p, named):
    """What the text calls a dense layer's output: z for the last one, else its name."""
    return "z" if named is p.arch.named[-2] else named.output


def dense_line(p, named, index, name=None):
    """One output of a dense layer as its sum; written as z (the walkthrough's name) unless ``name`` is given."""
    (o,) = index
    d = p.d
    inputs, weights, bias = p.value[named.input], p.value[named.params["weights"]], p.value[named.params["bias"]]
    x_, w_ = p.fmt(inputs), p.fmt(weights)
    terms = " + ".join(f"{factor(x_, x)}*{factor(w_, w)}" for x, w in zip(inputs, weights[o]))
    z = name or _z(p, named)
    target = z if p.written(named.output) == 0 else f"{z}[{o}]"
    return f"    {target} = {terms} + {factor(p.fmt(bias), bias[o])} = {scalar(p.value[named.output][o], d)}"


class DenseKind(Kind):
    name = "dense"
    order = 50
    example_net = "conv 1x3x3, relu, dense 4, relu, dense 3, relu, dense 2, softmax"
    usage = "dense O"
    summary = "O outputs"
    example = "dense 10"
    base = "fc"
    sizes = ("outputs",)
    param_keys = ("weights", "bias")
    keep = {"weights": 1, "bias": 0}
    written = {"weights": (1, 2), "bias": (0, 1)}
    torch_keys = {"weights": "weight", "bias": "bias"}
    torch_class = "Linear"
    reads = gives = "vector"
    makes_logits = True
    mistakes = {
        "fc-weight-grad": "dL/dw_fc was sent back into the pooling layer (the notebook's bug); the pooled values "
        "enter z multiplied by the weights, so dL/dpool = dL/dz * w_fc.",
    }

    def parse(self, rest, fail):
        if not rest:
            fail("its size is missing")
        if len(rest) != 1:
            fail("dense takes one number")
        return {"outputs": Option("outputs", "", 0, minimum=1).read(rest[0], fail)}

    def write_size(self, layer):
        return str(layer.outputs)

    def shapes(self, layer, name, in_shape, before):
        if len(in_shape) != 1:
            raise InputError(f"{name}: a dense layer reads a vector; put a flatten before it")
        if layer.outputs > MAX_SIDE * 4:
            raise InputError(f"{name}: {layer.outputs} outputs; at most {MAX_SIDE * 4} is supported")
        return (layer.outputs,), {"weights": (layer.outputs, in_shape[0]), "bias": (layer.outputs,)}

    def shape_message(self, arch, named, key, written, array, expected):
        if key != "weights" or array.shape[0] != expected[0]:
            return super().shape_message(arch, named, key, written, array, expected)
        # the right number of rows: say where the number of inputs comes from, through the flatten and pooling
        source = arch.named[arch.named.index(named) - 1]
        reads = f"{named.name} reads the {expected[1]} values of {source.input}"
        if source.kind_of.reshapes and len(source.in_shape) == 3:
            c, side = source.in_shape[0], source.in_shape[1]
            before = next((n for n in arch.named if n.output == source.input), None)
            how = ""
            if before is not None and before.kind_of.pools and {"size", "stride"} <= set(before.kind_of.option_keys):
                size, stride, was = before.layer.size, before.layer.stride, before.in_shape[1]
                how = f"pool size {size} at stride {stride} on a {was}x{was} feature map gives "
            reads = f"{how}{side}x{side}" + (f" on {c} channels" if c > 1 else "")
        count = expected[0] * expected[1]
        return (
            f"{reads}, so {named.params[key]} needs {count} value{'s' * (count != 1)}"
            + (f" ({expected[0]} rows of {expected[1]})" if expected[0] > 1 else "")
            + f", got {array.size}"
        )

    def sizes_from(self, arrays):
        weights = arrays.get("weights")
        return {} if weights is None else {"outputs": weights.shape[0]}

    def init(self, shapes, rng, init):
        return weights_and_bias(shapes, rng, init, seed_bias=0.0)

    def integers(self, shapes, rng):
        return {"weights": rng.integers(-1, 3, shapes["weights"]), "bias": np.zeros(shapes["bias"], dtype=int)}

    def build(self, layer, params, input_grad=True):
        return Dense(params["weights"], params["bias"])

    def reference(self, x, layer, params):
        weights = params["weights"]

        def backward(grad):
            dL_dweights, dL_dbias, dL_dx = dense_backward(grad, x, weights)
            return dL_dx, {"weights": dL_dweights, "bias": dL_dbias}

        return dense_forward(x, weights, params["bias"]), {}, backward

    def torch_module(self, named):
        return f"torch.nn.Linear({named.in_shape[0]}, {named.layer.outputs})"

    def from_torch(self, module, refuse):
        if module.bias is None:
            refuse("bias=False", "a bias in every dense layer (bias=True)")
        return {"outputs": module.out_features}

    def given_lines(self, p, named):
        d, name = p.d, named.name
        weights, bias = np.asarray(p.given[named.params["weights"]]), p.given[named.params["bias"]]
        if weights.ndim == 1:
            return [f"  {name} weights {vector(weights, d)}, {name} bias {shown(bias, d)}"]
        return [f"  {name} weights ({'x'.join(map(str, weights.shape))}), {name} bias {shown(bias, d)}:",
                *blocks(weights, d)]  # fmt: skip

    def forward_lines(self, p, named, explain):
        z, name = _z(p, named), named.name
        product = f"{name}_weights . {p.source_name(named)} + {name}_bias"
        lines = titled(f"{'z = ' if z == 'z' else ''}{named.output} = {product}", p.shown(named.output), p.d)
        if explain:
            lines += [dense_line(p, named, i) for i in np.ndindex(named.out_shape)]
        return lines

    def backward_lines(self, p, named, explain):
        d, name, grad_in = p.d, named.name, p.source_name(named)
        z = _z(p, named)
        single = np.ndim(p.shown_grad(named.output)) == 0
        product = f"dL/d{z} * {grad_in}" if single else f"outer(dL/d{z}, {grad_in})"
        lines = titled(f"dL/d{name}_weights = {product}", p.shown_grad(named.params["weights"]), d)
        lines += titled(f"dL/d{name}_bias = dL/d{z}", p.shown_grad(named.params["bias"]), d)
        if grad_in != "image":
            rule = f"dL/d{z} * {name}_weights" if single else f"{name}_weights^T . dL/d{z}"
            lines += titled(f"dL/d{grad_in} = {rule}", p.shown_grad(grad_in), d)
        return lines

    def value_line(self, p, named, index):
        return dense_line(p, named, index, named.output)

    def param_gradient_line(self, p, named, key, index):
        d = p.d
        target, value = f"dL/d{p.at(named.params[key], index)}", p.grad[named.params[key]][index]
        if key == "bias":
            return f"    {target} = dL/d{p.at(named.output, index)} = {scalar(value, d)}"
        o, i = index
        grad, x = p.grad[named.output], p.value[named.input]
        rule = f"dL/d{p.at(named.output, (o,))} * {p.at(named.input, (i,))}"
        return f"    {target} = {rule} = {factor(p.fmt(grad), grad[o])}*{factor(p.fmt(x), x[i])} = {scalar(value, d)}"

    def input_gradient_line(self, p, named, target, index):
        up, weights = p.grad[named.output], p.value[named.params["weights"]]
        terms = " + ".join(f"{factor(p.fmt(up), up[o])}*{factor(p.fmt(weights), weights[o, index[0]])}"
                           for o in range(len(up)))  # fmt: skip
        rule = f"sum_o dL/d{named.output}[o] * {named.name}_weights[o, {index[0]}]"
        return f"    {target} = {rule} = {terms} = {scalar(p.grad[named.input][index], p.d)}"

    def forward_mistakes(self, key, named, x, right):
        return {"no-bias": right - key.params[named.params["bias"]]}

    def backward_mistakes(self, key, named, layer, x, grad):
        # dL/dweights sent back, as the notebook did; only one output makes it the shape of the input
        return {"fc-weight-grad": grad * x} if grad.shape[1] == 1 else {}


KIND = DenseKind()
