"""Shared test oracles: the same network in PyTorch float64 (built by the exported module), and random instances."""

import os

import numpy as np
import pytest
from hypothesis import settings

from cnn_backprop import export
from cnn_backprop.architecture import Architecture

# CI explores the same examples every run, so a red CI always means a change broke
# something; locally hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def torch_module(arch, params=None):
    """The module `cnn-backprop export` writes for ``arch``, built by running that very file's text."""
    torch = pytest.importorskip("torch")
    namespace = {}
    exec(export.source(arch), namespace)
    model = namespace["build"](None)
    if params is not None:
        values = {**arch.initial_buffers(), **{k: np.asarray(v, dtype=np.float64) for k, v in params.items()}}
        model.load_state_dict({k: torch.tensor(v) for k, v in export.state_dict(arch, values).items()})
    return model, namespace["LOSS"]


def torch_pass(arch, params, images, labels, draws=None):
    """Forward and backward through PyTorch autograd in float64, named as network.py names them.

    Returns (forward, backward) dicts of NumPy arrays: every layer's output and
    dL/d of each, of every parameter and of the image, with L the mean loss
    over the batch, as in the engine.  ``draws`` {name: array with the batch axis}: what the engine's layers drew
    at random (its forward's drop_mask), which the modules then draw too.
    """
    return module_pass(*torch_module(arch, params), arch, images, labels, draws)


def module_pass(model, loss_name, arch, images, labels, draws=None):
    """``torch_pass`` through ``model``, a float64 torch module whose children are the layers of ``arch`` in
    order (the output layer left to the loss ``loss_name``, an add to a sum of what it reads), whatever their
    names."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.tensor(np.asarray(images, dtype=np.float64), requires_grad=True)
    values = {}
    known = {"image": x}
    modules, layers = iter(model.children()), []
    for named in arch.named[:-1]:
        kind = named.kind_of
        if kind.joins:  # a residual add: no module, a sum
            h = sum(known[name] for name in named.inputs)
        else:
            module, h = next(modules), known[named.input]
            layers.append((named, module))
            if kind.given_draws and module.training and draws is not None:
                drawn = {key: torch.tensor(np.asarray(draws[f"{named.name}_{key}"])) for key in kind.given_draws}
                h = kind.torch_with_draws(h, named.layer, drawn)
            else:
                h = module(h)
        h.retain_grad()
        values[named.output] = known[named.output] = h
    labels = torch.tensor(np.asarray(labels))
    if loss_name == "bce":
        loss = F.binary_cross_entropy_with_logits(h[:, 0], labels.double())
        output = torch.sigmoid(h)
    else:
        loss = F.cross_entropy(h, labels)
        output = torch.softmax(h, dim=1)
    loss.backward()
    forward = {name: value.detach().numpy() for name, value in values.items()}
    forward.update(output=output.detach().numpy(), loss=float(loss.detach()))
    backward = {name: value.grad.numpy() for name, value in values.items()}
    backward.update(
        {
            full: module.get_parameter(named.kind_of.torch_keys[key]).grad.numpy()
            for named, module in layers
            for key, full in named.params.items()
        }
    )
    backward["image"] = x.grad.numpy()
    return forward, backward


def random_instance(rng, arch, batch=3):
    """Signed random parameters and images for ``arch``, so ReLUs are both on and off."""
    params = {name: rng.normal(0, 1, shape) for name, shape in arch.param_shapes().items()}
    images = rng.normal(0, 1, (batch, arch.channels, arch.image_size, arch.image_size))
    labels = rng.integers(0, arch.classes, batch)
    return params, images, labels


# The digits network's shape with fewer filters, so that finite differences over every parameter stay quick.
# A kink out of kinks()' reach, seen in a fresh clone's make test: a step of 2h in the 1x1 kernel moves a ReLU
# input across zero, and conv2_kernel's finite difference is 2e-3 off at h, right at h/2 (and PyTorch agrees).
KINK_OUT_OF_REACH = Architecture.parse(
    "conv 5x3x3 pad 1, relu, avgpool 3 stride 1, conv 8x1x1, conv 5x3x3 stride 2 pad 2, relu, "
    "dense 3, relu, dense 5, softmax",
    1,
    9,
)
KINK_SEED = 6599  # random_instance's seed

SMALL_DIGITS_SPEC = "conv 8x3x3 pad 1, relu, maxpool 2, conv 16x3x3 pad 1, relu, maxpool 2, dense 10, softmax"
# A ResNet basic block on the digits, and a block whose 1x1 shortcut conv halves the map (on the seed's image).
RESIDUAL = ("conv 4x3x3 pad 1, relu, residual(conv 4x3x3 pad 1, batchnorm, relu, conv 4x3x3 pad 1, batchnorm), relu, "
            "globalavgpool, dense 10, softmax")  # fmt: skip
PROJECTED = ("conv 2x3x3 pad 1, relu, residual(conv 3x3x3 stride 2 pad 1, relu, conv 3x3x3 pad 1), relu, dense 2, "
             "softmax")  # fmt: skip


def seed_family(image_size=5, channels=1, filters=1, kernel=3, stride=1, padding=0, pool=2, pool_stride=1):
    """The seed network's shape with other sizes."""
    spec = f"conv {filters}x{kernel}x{kernel} stride {stride} pad {padding}, relu, maxpool {pool} stride {pool_stride}"
    return Architecture.parse(spec + ", dense 1, sigmoid", channels, image_size)


ARCHITECTURES = [
    Architecture.parse(),
    seed_family(pool_stride=2),
    seed_family(padding=1),
    seed_family(padding=1, pool_stride=2),
    seed_family(image_size=7, stride=2, padding=1),
    seed_family(image_size=8, channels=2, filters=3, padding=2, pool=3, pool_stride=2),
    seed_family(image_size=6, channels=3, filters=2, kernel=2, stride=2),
    seed_family(image_size=4, kernel=4, padding=1, pool=1),
    Architecture.parse(SMALL_DIGITS_SPEC, 1, 8),
    Architecture.parse(
        "conv 3x3x3 pad 1, relu, avgpool 2 stride 1, conv 2x2x2, relu, avgpool 2, dense 4, softmax", 2, 6
    ),
    Architecture.parse("conv 2x2x2 stride 2, relu, dense 5, relu, dense 3, relu, dense 1, sigmoid", 1, 6),
    Architecture.parse("avgpool 2, dense 3, softmax", 1, 4),
]


@pytest.fixture(params=ARCHITECTURES, ids=lambda a: f"{a.channels}x{a.image_size}: {a}")
def arch(request):
    return request.param


def mark_one_mistake(net, part, name, mistaken, seed=1, then=None):
    """Check's marking of the key of ``net``'s sheet (seed ``seed``) with one answer replaced.

    ``mistaken(pass_)`` computes, by the test's own rule, the full-shape array a
    student who makes the mistake writes for ``part.name``; ``then(pass_, wrong)``
    the later answers {(part, name): full-shape array} they compute rightly from
    it.  Returns (the entries of the mistaken answer that differ from the key,
    those of the later answers that differ from it, every other entry).
    """
    from cnn_backprop import check, walkthrough

    given = walkthrough.complete_given({"net": net}, seed)
    key, pass_ = check.Key(given), walkthrough.run(given)
    answers = {(p, n): key.expected(p, n) for p, n in key.quantities()}
    wrong = np.asarray(mistaken(pass_), dtype=float)
    later = {} if then is None else then(pass_, wrong)
    for (p, n), value in [((part, name), wrong), *later.items()]:
        answers[(p, n)] = key.layout(n, value if n in key.owner else value[None])
    decimals = 8
    entries = check.mark(given, answers, decimals).entries
    tolerance = check.tolerance(decimals)

    def differing(quantities):
        return [e for e in entries if e.quantity in quantities and abs(e.answer - e.expected) > tolerance]

    changed, carried = differing({f"{part}.{name}"}), differing({f"{p}.{n}" for p, n in later})
    return changed, carried, [e for e in entries if e not in changed and e not in carried]
