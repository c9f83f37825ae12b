"""Every known mistake, at every layer of its kind, in several networks: named there, and carried below.

A student's mistaken answer is built here by plain loops (the mistake's own rule,
not the checker's), and every later answer is what the right rules, run as the
kinds' loop references, give from it: those are ``carried``, and every other
answer is ``right``.
"""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_backprop import check, walkthrough
from cnn_backprop.architecture import SEED_SPEC, parse
from cnn_backprop.kinds import KINDS

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
    "residual": (  # a block with a 1x1 conv shortcut, then one with the identity
        "conv 2x3x3 pad 1, relu, residual(conv 3x3x3 stride 2 pad 1, relu, conv 3x3x3 pad 1), relu, "
        "residual(conv 3x3x3 pad 1, batchnorm), dense 2, softmax",
        1,
        6,
    ),
}
# and the example network (Kind.example_net) of each kind that none of these has, so that every kind's mistakes
# are made at its layers
HAVE = {layer.kind for spec, channels, side in NETWORKS.values() for layer in parse(spec or SEED_SPEC)}
NETWORKS.update({f"example {name}": (kind.example_net, 1, 5) for name, kind in KINDS.items() if name not in HAVE})
DECIMALS = 8


SEEDS = range(3, 13)  # instances to try: in some, a mistake changes nothing (no ReLU input below 0)


def given_of(network, seed):
    """An instance with an image of signed whole numbers and no bias 0 (which a left-out bias would not change)."""
    spec, channels, side = NETWORKS[network]
    image = np.random.default_rng(seed).integers(-3, 3, (channels, side, side)).astype(float)
    given = walkthrough.complete_given({**({"net": spec} if spec else {}), "image": image.tolist()}, seed)
    plain = {key: np.asarray(value) + 0.25 if key.endswith("_bias") else value for key, value in given.items()}
    return walkthrough.complete_given({key: np.asarray(value).tolist() for key, value in plain.items()}, seed)


def carried_on(arch, params, draws, image, label, forward=None, backward=None, decimals=None):
    """Every value and gradient of one image by the kinds' loop references, with ``forward`` {name: value}
    replacing a layer's output and ``backward`` {name: value} a gradient, as a student carries on from them; with
    ``decimals``, each value rounded as it is found and carried on rounded, as a student working by hand does."""
    forward, backward = forward or {}, backward or {}

    def kept(value):
        return value if decimals is None else np.round(value, decimals)

    values, steps = {"image": image}, []
    for named in arch.named:
        h = values[named.input] if len(named.inputs) == 1 else tuple(values[source] for source in named.inputs)
        if named.kind_of.is_output:
            output, loss, _ = named.kind_of.reference_loss(h, label)
            values["output"] = p = kept(output)
            target = np.eye(output.size)[label] if output.size > 1 else np.array([label])
            mine = p[label] if p.size > 1 else p[0] if label == 1 else 1 - p[0]  # p(label), from their output
            values["loss"] = loss if decimals is None else kept(-np.log(mine))
            grads = {named.input: backward.get(named.input, values["output"] - target)}  # dL/dz = p - onehot(y)
            break
        mine = {key: params[full] for key, full in named.params.items()}
        mine.update({key: draws[f"{named.name}_{key}"] for key in named.kind_of.given_draws})
        out, extras, back = named.kind_of.reference(h, named.layer, mine)
        values.update({f"{named.name}_{key}": value for key, value in extras.items()})
        values[named.output] = forward.get(named.output, kept(out))
        steps.append((named, back))
    arrived = {}  # the parts of each gradient so far: a block's input gets one from each of its two readers
    for named, back in reversed(steps):
        if named.output not in grads:
            grads[named.output] = backward.get(named.output, kept(arrived.pop(named.output)))
        grad_in, param_grads = back(grads[named.output])
        for source, part in zip(named.inputs, grad_in if len(named.inputs) > 1 else (grad_in,)):
            arrived[source] = arrived[source] + part if source in arrived else part
        grads.update({named.params[key]: backward.get(named.params[key], kept(g)) for key, g in param_grads.items()})
    grads["image"] = backward.get("image", kept(arrived["image"]))
    return values, grads


# The mistakes, each built by its own loops: each kind's test module (tests/kinds/test_NAME.py) holds its own as
# MISTAKES (see tests/mistaken.py), so that a kind's mistakes are its files'.
sys.path.insert(0, str(Path(__file__).parent / "kinds"))
BY_KIND = {name: importlib.import_module(f"test_{name}").MISTAKES for name in KINDS}


def test_every_mistake_a_kind_declares_is_made_at_its_layers():
    for name, kind in KINDS.items():
        assert set(kind.mistakes) <= {label.split()[0] for label in BY_KIND[name]}, name


def activated(named, values, label):
    """What the activation or output layer ``named`` makes of ``values``, by its kind's loop reference."""
    if named.kind_of.is_output:
        return named.kind_of.reference_loss(values, label)[0]
    return named.kind_of.reference(values, named.layer, {})[0]


def post_activation(pass_, named):
    return "forward", named.input, activated(named, pass_.values[named.input], pass_.label)


def sign(name):
    def mistake(pass_, named):
        return "backward", name, -pass_.grads[name]

    return mistake


def squared_error_gradient(pass_, named):
    """dL/dz as the squared error's, entry by entry: (p - target) p (1 - p), on any output kind."""
    p, y = pass_.values["output"], pass_.label
    target = [float(k == y) for k in range(len(p))] if len(p) > 1 else [y]
    return "backward", named.input, np.array([(pk - tk) * pk * (1 - pk) for pk, tk in zip(p, target)])


def general_cases(pass_, named):
    """{mistake label: how} of the mistakes any layer can host, at ``named`` (and any output layer)."""
    gradients = [*named.params.values()] + ([] if named.kind_of.is_output or named.kind_of.reshapes else [named.output])
    # a conv bias before a batch norm has gradient 0 whatever the image: no sign to get wrong
    found = {f"sign {name}": sign(name) for name in gradients if np.abs(pass_.grads[name]).max() > 1e-9}
    if named.kind_of.activation or named.kind_of.is_output:
        found["post-activation"] = post_activation
    if named.kind_of.is_output:
        found["squared-error-gradient"] = squared_error_gradient
    return found


def in_one_path(how):
    """``how`` at a layer whose input feeds another layer too (a residual block's first layer, whose input the
    shortcut reads): the mistake in this layer's part of the input's gradient, the other path's part right."""

    def mistake(pass_, named):
        part, name, value = how(pass_, named)
        readers = [n for n in pass_.arch.named if name in n.inputs]
        if part != "backward" or name != named.input or len(readers) < 2:
            return part, name, value
        params = {key: pass_.params[full] for key, full in named.params.items()}
        extras = {key: pass_.extras[f"{named.name}_{key}"] for key in named.kind_of.given_draws}
        right = named.kind_of.reference(pass_.values[name], named.layer, {**params, **extras})[2]
        return part, name, value + pass_.grads[name] - right(pass_.grads[named.output])[0]

    return mistake


def cases():
    for network in NETWORKS:
        pass_ = walkthrough.run(given_of(network, SEEDS[0]))
        for named in pass_.arch.named:
            for mistake, how in {**BY_KIND[named.kind_of.name], **general_cases(pass_, named)}.items():
                how, fits = how if isinstance(how, tuple) else (how, lambda named: True)
                if fits(named):
                    how = how if named.kind_of.joins else in_one_path(how)
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
    values, grads = carried_on(pass_.arch, pass_.params, pass_.extras, pass_.image, pass_.label, chained["forward"],
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
