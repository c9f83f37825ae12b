"""Every known mistake, at every layer of its kind, in several networks: named there, and carried below.

A student's mistaken answer is built here by plain loops (the mistake's own rule,
not the checker's), and every later answer is what the right rules, run as the
kinds' loop references, give from it: those are ``carried``, and every other
answer is ``right``.
"""

import json
import math

import numpy as np
import pytest

from cnn_backprop import check, walkthrough
from cnn_backprop.kinds.batchnorm import EPS

# name: (spec, channels of the image, its side)
NETWORKS = {
    "seed": (None, 1, 5),
    "two-conv softmax": ("conv 2x3x3 pad 1, relu, maxpool 2, conv 2x3x3, relu, dense 3, softmax", 1, 8),
    "tanh leaky batchnorm": (
        "conv 2x3x3 stride 2 pad 1, batchnorm, leakyrelu, avgpool 2 stride 1, conv 2x2x2, tanh, maxpool 2 stride 1, "
        "dense 3, tanh, dense 2, softmax",
        2,
        9,
    ),
    "strided avgpool": ("conv 1x2x2, relu, avgpool 2, dense 1, sigmoid", 1, 5),
}
DECIMALS = 8


SEEDS = range(3, 13)  # instances to try: in some, a mistake changes nothing (no ReLU input below 0)


def given_of(network, seed):
    """An instance with an image of signed whole numbers and no bias 0 (which a left-out bias would not change)."""
    spec, channels, side = NETWORKS[network]
    image = np.random.default_rng(seed).integers(-3, 3, (channels, side, side)).astype(float)
    given = walkthrough.complete_given({**({"net": spec} if spec else {}), "image": image.tolist()}, seed)
    plain = {key: np.asarray(value) + 0.25 if key.endswith("_bias") else value for key, value in given.items()}
    return walkthrough.complete_given({key: np.asarray(value).tolist() for key, value in plain.items()}, seed)


def carried_on(arch, params, image, label, forward=None, backward=None, decimals=None):
    """Every value and gradient of one image by the kinds' loop references, with ``forward`` {name: value}
    replacing a layer's output and ``backward`` {name: value} a gradient, as a student carries on from them; with
    ``decimals``, each value rounded as it is found and carried on rounded, as a student working by hand does."""
    forward, backward = forward or {}, backward or {}

    def kept(value):
        return value if decimals is None else np.round(value, decimals)

    values, steps, h = {"image": image}, [], image
    for named in arch.named:
        if named.kind_of.is_output:
            output, loss, _ = named.kind_of.reference_loss(h, label)
            values["output"] = p = kept(output)
            target = np.eye(output.size)[label] if output.size > 1 else np.array([label])
            mine = p[label] if p.size > 1 else p[0] if label == 1 else 1 - p[0]  # p(label), from their output
            values["loss"] = loss if decimals is None else kept(-np.log(mine))
            grads = {named.input: backward.get(named.input, values["output"] - target)}  # dL/dz = p - onehot(y)
            break
        mine = {key: params[full] for key, full in named.params.items()}
        out, extras, back = named.kind_of.reference(h, named.layer, mine)
        values.update({f"{named.name}_{key}": value for key, value in extras.items()})
        h = values[named.output] = forward.get(named.output, kept(out))
        steps.append((named, back))
    for named, back in reversed(steps):
        grad_in, param_grads = back(grads[named.output])
        grads[named.input] = backward.get(named.input, kept(grad_in))
        grads.update({named.params[key]: backward.get(named.params[key], kept(g)) for key, g in param_grads.items()})
    return values, grads


# The mistakes, each built by its own loops: mistake(pass_, named) -> (part, name, full-shape value), the
# quantity a student who makes it at layer ``named`` gets wrong.


def padded(x, p):
    out = np.zeros((x.shape[0], x.shape[1] + 2 * p, x.shape[2] + 2 * p))
    for c, i, j in np.ndindex(x.shape):
        out[c, i + p, j + p] = x[c, i, j]
    return out


def conv_params(pass_, named):
    layer = named.layer
    return pass_.params[named.params["kernel"]], pass_.params[named.params["bias"]], layer.stride, layer.padding


def flipped_kernel_forward(pass_, named):
    kernel, bias, s, p = conv_params(pass_, named)
    x, out = padded(pass_.values[named.input], p), np.zeros(pass_.values[named.output].shape)
    k = kernel.shape[-1]
    for f, i, j in np.ndindex(out.shape):
        out[f, i, j] = bias[f] + sum(
            x[c, s * i + m, s * j + n] * kernel[f, c, k - 1 - m, k - 1 - n] for c, m, n in np.ndindex(kernel.shape[1:])
        )
    return "forward", named.output, out


def flipped_kernel_gradient(pass_, named):
    grad = pass_.grads[named.params["kernel"]]
    k, out = grad.shape[-1], np.zeros(grad.shape)
    for f, c, m, n in np.ndindex(grad.shape):
        out[f, c, m, n] = grad[f, c, k - 1 - m, k - 1 - n]
    return "backward", named.params["kernel"], out


def conv_input_gradient(kernel_at, window_at):
    """A wrong conv backward: window (i, j)'s entry (m, n) sends dL/dconv_pre[f, i, j] * ``kernel_at(kernel, f, c,
    m, n)`` to the padded input at ``window_at(stride, i, m)``, ``window_at(stride, j, n)``; with it dL/dkernel."""

    def mistake(pass_, named, kernel_too=False):
        kernel, _, s, p = conv_params(pass_, named)
        x, g = padded(pass_.values[named.input], p), pass_.grads[named.output]
        dx, dkernel = np.zeros(x.shape), np.zeros(kernel.shape)
        for f, i, j in np.ndindex(g.shape):
            for c, m, n in np.ndindex(kernel.shape[1:]):
                row, col = window_at(s, i, m), window_at(s, j, n)
                dx[c, row, col] += g[f, i, j] * kernel_at(kernel, f, c, m, n)
                dkernel[f, c, m, n] += g[f, i, j] * x[c, row, col]
        if kernel_too:
            return "backward", named.params["kernel"], dkernel
        return "backward", named.input, dx[:, p : x.shape[1] - p, p : x.shape[2] - p]

    return mistake


not_flipped = conv_input_gradient(lambda k, f, c, m, n: k[f, c, k.shape[-1] - 1 - m, k.shape[-1] - 1 - n],
                                  lambda s, i, m: s * i + m)  # fmt: skip
conv_stride_ignored = conv_input_gradient(lambda k, f, c, m, n: k[f, c, m, n], lambda s, i, m: i + m)


def no_bias(pass_, named):
    bias, out = pass_.params[named.params["bias"]], pass_.values[named.output].copy()
    for index in np.ndindex(out.shape):
        out[index] -= bias[index[0]] if out.ndim == 3 else bias[index]
    return "forward", named.output, out


def input_of(pass_, named):
    """The quantity a layer's dL/d(input) is asked as: through a flatten, the map before it."""
    source = next((n for n in pass_.arch.named if n.output == named.input), None)
    return source.input if source is not None and source.kind_of.reshapes else named.input


def no_relu_mask(pass_, named):
    return "backward", named.input, pass_.grads[named.output].copy()


def leaky_slope_dropped(pass_, named):
    x, g = pass_.values[named.input], pass_.grads[named.output]
    return "backward", named.input, np.array([gi if xi > 0 else 0.0 for gi, xi in zip(g.flat, x.flat)]).reshape(x.shape)


def tanh_wrong_derivative(pass_, named):
    x, g = pass_.values[named.input], pass_.grads[named.output]
    return "backward", named.input, np.array([gi * (1 - xi * xi) for gi, xi in zip(g.flat, x.flat)]).reshape(x.shape)


def bn_constant_stats(pass_, named):
    x, g, gamma = pass_.values[named.input], pass_.grads[named.output], pass_.params[named.params["gamma"]]
    out = np.zeros(x.shape)
    for c in range(len(x)):
        mean = sum(x[c].flat) / x[c].size
        var = sum((v - mean) ** 2 for v in x[c].flat) / x[c].size
        for i, j in np.ndindex(x.shape[1:]):
            out[c, i, j] = gamma[c] / math.sqrt(var + EPS) * g[c, i, j]
    return "backward", named.input, out


def first_maximum(x, c, top, left, size):
    best, where = -math.inf, None
    for m, n in np.ndindex(size, size):
        if x[c, top + m, left + n] > best:
            best, where = x[c, top + m, left + n], (c, top + m, left + n)
    return where


def pool_backward(rule, stride_of=lambda layer: layer.stride):
    """A wrong pooling backward: ``rule(out, x, c, top, left, size, g)`` sends window (c, top, left)'s gradient."""

    def mistake(pass_, named):
        x, g = pass_.values[named.input], pass_.grads[named.output]
        out, size, stride = np.zeros(x.shape), named.layer.size, stride_of(named.layer)
        for c, i, j in np.ndindex(g.shape):
            rule(out, x, c, stride * i, stride * j, size, g[c, i, j])
        return "backward", named.input, out

    return mistake


def overwrite(out, x, c, top, left, size, g):
    out[first_maximum(x, c, top, left, size)] = g


def to_maximum(out, x, c, top, left, size, g):
    out[first_maximum(x, c, top, left, size)] += g


def to_all(share):
    def rule(out, x, c, top, left, size, g):
        for m, n in np.ndindex(size, size):
            out[c, top + m, left + n] += g * share(size)

    return rule


def pool_stride_2(pass_, named):
    x, size = pass_.values[named.input], named.layer.size
    side = (x.shape[1] - size) // 2 + 1
    out = np.zeros((x.shape[0], side, side))
    for c, i, j in np.ndindex(out.shape):
        out[c, i, j] = x[first_maximum(x, c, 2 * i, 2 * j, size)]
    return "forward", named.output, out


def softmax_no_minus_y(pass_, named):
    return "backward", named.input, pass_.values["output"].copy()


def fc_weight_grad(pass_, named):
    x, g = pass_.values[named.input], pass_.grads[named.output]
    out = np.array([g[0] * v for v in x])
    return "backward", input_of(pass_, named), out.reshape(pass_.values[input_of(pass_, named)].shape)


def transposed(pass_, named):
    grad = pass_.grads[named.params["weights"]]
    out = np.zeros(grad.shape[::-1])
    for i, j in np.ndindex(grad.shape):
        out[j, i] = grad[i, j]
    return "backward", named.params["weights"], out


def squared_error_gradient(pass_, named):
    p, y = pass_.values["output"], pass_.label
    target = [float(k == y) for k in range(len(p))] if len(p) > 1 else [y]
    return "backward", named.input, np.array([(pk - tk) * pk * (1 - pk) for pk, tk in zip(p, target)])


def strided(named):
    return named.layer.stride > 1


# {kind: {mistake: how a student makes it there, or (how, whether the layer can host it)}}
BY_KIND = {
    "conv": {
        "flipped-kernel": flipped_kernel_forward,
        "flipped-kernel gradient": flipped_kernel_gradient,  # its second answer, the kernel's gradient
        "no-bias": no_bias,
        "conv-input-grad-not-flipped": not_flipped,
        "stride-ignored": (conv_stride_ignored, strided),
        "stride-ignored kernel": (lambda pass_, named: conv_stride_ignored(pass_, named, kernel_too=True), strided),
    },
    "relu": {"no-relu-mask": no_relu_mask},
    "leakyrelu": {"leaky-slope-dropped": leaky_slope_dropped},
    "tanh": {"tanh-wrong-derivative": tanh_wrong_derivative},
    "batchnorm": {"bn-constant-stats": bn_constant_stats},
    "maxpool": {
        "pool-overwrite": (pool_backward(overwrite), lambda named: named.layer.stride < named.layer.size),
        "pool-to-all": pool_backward(to_all(lambda size: 1)),
        "pool-average": pool_backward(to_all(lambda size: 1 / size**2)),
        "pool-stride-2": (pool_stride_2, lambda named: named.layer.stride != 2),
        "stride-ignored": (pool_backward(to_maximum, lambda layer: 1), strided),
    },
    "avgpool": {
        "avgpool-no-divide": pool_backward(to_all(lambda size: 1)),
        "stride-ignored": (pool_backward(to_all(lambda size: 1 / size**2), lambda layer: 1), strided),
    },
    "dense": {
        "no-bias": no_bias,
        "fc-weight-grad": (fc_weight_grad, lambda named: named.out_shape == (1,)),
        "transposed": (transposed, lambda named: named.out_shape != (1,)),  # one output: its weights are a vector
    },
    "sigmoid": {"squared-error-gradient": squared_error_gradient},
    "softmax": {"softmax-no-minus-y": softmax_no_minus_y, "squared-error-gradient": squared_error_gradient},
}


def activated(named, values):
    """What the activation or output layer ``named`` makes of ``values``, entry by entry."""
    if named.kind_of.name == "softmax":
        exps = [math.exp(v) for v in values]
        return np.array([e / sum(exps) for e in exps])
    rule = {
        "relu": lambda v: max(v, 0.0),
        "leakyrelu": lambda v: v if v > 0 else named.layer.slope * v,
        "tanh": math.tanh,
        "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    }[named.kind_of.name]
    return np.array([rule(v) for v in values.flat]).reshape(values.shape)


def post_activation(pass_, named):
    return "forward", named.input, activated(named, pass_.values[named.input])


def sign(name):
    def mistake(pass_, named):
        return "backward", name, -pass_.grads[name]

    return mistake


def general_cases(pass_, named):
    """{mistake label: how} of the mistakes any layer can host, at ``named``."""
    gradients = [*named.params.values()] + ([] if named.kind_of.is_output or named.kind_of.reshapes else [named.output])
    # a conv bias before a batch norm has gradient 0 whatever the image: no sign to get wrong
    found = {f"sign {name}": sign(name) for name in gradients if np.abs(pass_.grads[name]).max() > 1e-9}
    if named.kind_of.activation or named.kind_of.is_output:
        found["post-activation"] = post_activation
    return found


def cases():
    for network in NETWORKS:
        pass_ = walkthrough.run(given_of(network, SEEDS[0]))
        for named in pass_.arch.named:
            for mistake, how in {**BY_KIND.get(named.kind_of.name, {}), **general_cases(pass_, named)}.items():
                how, fits = how if isinstance(how, tuple) else (how, lambda named: True)
                if fits(named):
                    yield pytest.param(
                        network, named.name, mistake.split()[0], how, id=f"{network}-{named.name}-{mistake}"
                    )


def answers_carried(given, part, name, value):
    """A whole answer sheet {(part, name): array in the JSON layout}: ``value`` for ``part.name``, every later
    answer the right rules' from it, every other the key's."""
    return answers_planted(given, [(part, name, value)])


def answers_planted(given, planted, decimals=None):
    """A whole answer sheet with each (part, name, value) of ``planted`` (a mistake's answer) in its place, and every
    other answer what the right rules give from those, rounded as a student goes with ``decimals``."""
    key, pass_ = check.Key(given), walkthrough.run(given)
    chained = {"forward": {}, "backward": {}}
    for part, name, value in planted:
        right = pass_.values if part == "forward" else pass_.grads
        if right[name].shape == value.shape:  # a shape changed: no later layer can follow
            chained[part][name] = value
    values, grads = carried_on(pass_.arch, pass_.params, pass_.image, pass_.label, chained["forward"],
                               chained["backward"], decimals)  # fmt: skip
    mine = {(part, name): value for part, name, value in planted}
    answers = {}
    for p, n in key.answerable():
        if p == "shapes":
            answers[(p, n)] = key.expected(p, n)
            continue
        full = mine.get((p, n), values[n] if p == "forward" else grads[n])
        answers[(p, n)] = key.layout(n, full if n in key.owner else np.asarray(full)[None])
    return answers


def differs(entry):
    return entry.expected is None or abs(entry.answer - entry.expected) > check.tolerance(DECIMALS)


@pytest.mark.parametrize("network,layer,mistake,how", list(cases()))
def test_each_mistake_is_found_at_every_layer_of_its_kind(network, layer, mistake, how):
    for seed in SEEDS:
        given = given_of(network, seed)
        pass_ = walkthrough.run(given)
        named = next(n for n in pass_.arch.named if n.name == layer)
        part, name, value = how(pass_, named)
        marking = check.mark(given, answers_carried(given, part, name, value), DECIMALS)
        entries = marking.entries
        quantity = f"{part}.{name}"
        changed = [e for e in entries if e.quantity == quantity and differs(e)]
        if not changed:
            continue  # the mistake changes nothing in this instance
        assert {(e.verdict, e.mistake) for e in changed} == {("wrong", mistake)}, [e for e in changed][:3]
        later = [e for e in entries if e.quantity != quantity and differs(e)]
        assert {e.verdict for e in later} <= {"carried"}, [e for e in later if e.verdict != "carried"][:3]
        assert {e.verdict for e in entries if not differs(e)} == {"right"}
        # one genuine mistake costs little: its quantity at most, everything carried from it earns
        assert marking.score >= 0.9 * marking.total and all(e.void is None for e in entries)
        return
    raise AssertionError(f"{mistake} changes nothing at {layer} in any instance")


@pytest.mark.parametrize("network", NETWORKS)
def test_the_walkthroughs_own_json_is_all_right(network, tmp_path, capsys):
    from cnn_backprop.cli import main

    sheet, key = tmp_path / "sheet.json", tmp_path / "key.json"
    sheet.write_text(walkthrough.to_json({"given": given_of(network, SEEDS[0])}))
    sheet.write_text(json.dumps(json.loads(sheet.read_text())["given"]))
    assert main(["walkthrough", "--given", str(sheet), "--json"]) == 0
    key.write_text(capsys.readouterr().out)
    assert main(["check", "--given", str(sheet), str(key), "--json"]) == 0
    marked = json.loads(capsys.readouterr().out)
    assert marked["score"] == marked["total"] > 0
    assert {e["verdict"] for e in marked["entries"]} == {"right"}
