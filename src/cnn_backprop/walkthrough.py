"""One forward and one backward pass for one image, every number kept: the seed's exercise, on any network.

An exercise instance, the *given*, is a dict: ``image``, ``label``, and every
parameter and hyperparameter of the network by name, in the order of the
layers (for the seed network: conv_kernel, conv_bias, conv_stride,
conv_padding, pool_size, pool_stride, fc_weights, fc_bias), plus ``net`` (the
network's spec) and ``classes`` (the class names) where they are not the
seed's.  ``complete_given`` fills in whatever a user left out, drawing it from
a seed as the notebook draws it; ``run`` answers the three questions (output
sizes, values before each activation, gradients) and returns them in the
layout that ``cnn-backprop walkthrough --json`` prints.

Arrays of one image are written without the batch axis, and without the
leading axes that count channels, filters or outputs where there is just one:
a feature map keeps its height and width, a kernel its K x K, dense weights
their inputs, a flattened map its length; a dense layer's single output and a
single bias are numbers.  So the seed's one-channel image and one-filter
kernel are matrices, its FC weights a list, z a number.  Where a given array
is read back, the leading axes are put back.
"""

import json
import re
from dataclasses import replace

import numpy as np

from . import architecture, data, export, validate
from .architecture import HYPER_KEYS, SEED_SPEC, Architecture
from .network import Network, init_params
from .validate import InputError

# How many axes each kind of given array may be written with, and how many trailing ones it always keeps.
WRITTEN_NDIM = {"image": (2, 3), "kernel": (2, 4), "weights": (1, 2), "bias": (0, 1)}
KEEP = {"image": 2, "kernel": 2, "weights": 1, "bias": 0}


def squeeze(array, keep):
    """``array`` without its leading axes of length 1, but for its last ``keep``; a single number as a float."""
    array = np.asarray(array)
    while array.ndim > keep and array.shape[0] == 1:
        array = array[0]
    return float(array) if array.ndim == 0 and array.dtype.kind == "f" else array


def keep_axes(arch):
    """{quantity name: how many trailing axes it always keeps} for the image, every layer output and parameter."""
    keep = {n.output: 2 if len(n.out_shape) == 3 else int(n.kind == "flatten") for n in arch.named}
    keep["image"] = KEEP["image"]
    keep.update({key: KEEP[_kind(key)] for key in arch.param_shapes()})
    return keep


def unsqueeze(array, ndim):
    """``array`` with leading axes of length 1 put back, up to ``ndim`` axes."""
    array = np.asarray(array, dtype=float)
    return array.reshape((1,) * (ndim - array.ndim) + array.shape)


def _kind(key):
    """What sort of value a given key holds: image, label, net, classes, kernel, bias, weights, or a hyperparameter."""
    return key if key in ("image", "label", "net", "classes") else key.rsplit("_", 1)[1]


def keys_for(layers):
    """Every key a given may hold for a network of ``layers``, in order."""
    return ("net", "classes", "image", "label", *architecture.given_keys(layers))


def _check_value(key, value, where):
    """One given value, type-checked (shapes are checked against the network later)."""
    kind = _kind(key)
    if kind in WRITTEN_NDIM:
        ndims = WRITTEN_NDIM[kind]
        if kind == "bias" and not isinstance(value, list):
            return validate.number(value, where)
        return validate.number_array(value, where, tuple(n for n in ndims if n), square=kind in ("image", "kernel"))
    if kind == "label":
        return value  # checked against the network's classes once they are known
    if kind == "net":
        if not isinstance(value, str):
            raise InputError(f"{where} must be a network spec (text), e.g. {SEED_SPEC!r}")
        return value
    if kind == "classes":
        if not isinstance(value, list) or len(value) < 2 or not all(isinstance(c, str) for c in value):
            raise InputError(f"{where} must be a list of at least two class names")
        return tuple(value)
    return validate.integer(value, where, 0 if kind == "padding" else 1)


def _layers(given, layers):
    """``layers`` with the sizes a given sets: hyperparameters, and the kernel and weight shapes."""
    layers = list(layers)
    for index, (layer, (name, _)) in enumerate(zip(layers, architecture.names(layers))):
        changes = {key: given[f"{name}_{key}"] for key in HYPER_KEYS.get(layer.kind, ()) if f"{name}_{key}" in given}
        if layer.kind == "conv" and f"{name}_kernel" in given:
            kernel = unsqueeze(given[f"{name}_kernel"], 4)
            changes.update(filters=kernel.shape[0], size=kernel.shape[-1])
        if layer.kind == "dense" and f"{name}_weights" in given:
            changes.update(outputs=unsqueeze(given[f"{name}_weights"], 2).shape[0])
        layers[index] = replace(layer, **changes)
    return tuple(layers)


def architecture_of(given, where="the given values"):
    """The Architecture a (complete or partial, checked) given describes."""
    image = unsqueeze(given["image"], 3)
    try:
        return Architecture(
            _layers(given, architecture.parse(given.get("net", SEED_SPEC))), len(image), image.shape[-1]
        )
    except InputError as error:
        raise InputError(f"{where}: {error}") from None


def _check_shape(arch, key, value, where):
    """A given parameter in full shape, or an InputError saying what the network needs."""
    expected = arch.param_shapes()[key]
    array = unsqueeze(value, len(expected))
    if array.shape == expected:
        return array
    named = next(n for n in arch.named if key in n.param_shapes)
    if named.kind == "dense" and key.endswith("_weights") and array.shape[0] == expected[0]:
        source = arch.named[[n.name for n in arch.named].index(named.name) - 1]
        reads = f"{named.name} reads the {expected[1]} values of {source.input}"
        if source.kind == "flatten" and len(source.in_shape) == 3:
            c, side = source.in_shape[0], source.in_shape[1]
            before = next((n for n in arch.named if n.output == source.input), None)
            how = ""
            if before is not None and before.kind in ("maxpool", "avgpool"):
                size, stride, was = before.layer.size, before.layer.stride, before.in_shape[1]
                how = f"pool size {size} at stride {stride} on a {was}x{was} feature map gives "
            reads = f"{how}{side}x{side}" + (f" on {c} channels" if c > 1 else "")
        count = expected[0] * expected[1]
        raise InputError(
            f"{where}: {reads}, so {key} needs {count} value{'s' * (count != 1)}"
            + (f" ({expected[0]} rows of {expected[1]})" if expected[0] > 1 else "")
            + f", got {array.size}"
        )
    raise InputError(
        f"{where}: {key} has shape {list(np.shape(value))}, the network needs {list(expected)}"
        + (f" (its input {named.input} has {named.in_shape[0]} channels)" if key.endswith("_kernel") else "")
    )


def given_of(document):
    """The given in a --given file: the object itself, or the ``given`` of a whole ``walkthrough --json`` output."""
    if isinstance(document, dict) and isinstance(document.get("given"), dict) and "forward" in document:
        return document["given"]
    return document


def model_given(model):
    """A given holding a trained model's network and parameters (a files.Model); the image is left to draw."""
    given = {"net": str(model.arch)}
    if tuple(model.classes) != data.CLASSES:
        given["classes"] = list(model.classes)
    given.update({key: np.asarray(squeeze(value, KEEP[_kind(key)])).tolist() for key, value in model.params.items()})
    return given


def complete_given(given=None, seed=0, where="the given values", net=None, source="shapes"):
    """A full exercise instance: the keys of ``given``, the rest drawn from ``seed``.

    ``net`` is the network's spec (default: the given's ``net``, else the seed
    network) and ``source`` the data set an image is drawn from when none is
    given.  Defaults are the seed notebook's: a generated 5x5 image, a 3x3
    kernel ~ U(0, 1), conv bias 1, stride 1, padding 0, 2x2 pooling at stride 1,
    FC weights ~ U(0, 1), FC bias 0.  Raises ``InputError`` if the parts do not fit.
    """
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise InputError(f"{where} must be a JSON object with keys image, label, and the network's parameters")
    spec = given.get("net", net or SEED_SPEC)
    keys = keys_for(architecture.parse(_check_value("net", spec, f"{where}: net")))
    for key in given:
        if key not in keys:
            raise InputError(
                f"{where}: unknown key {json.dumps(key)}{validate.nearest(key, keys)}; valid keys: {', '.join(keys)}"
            )
    checked = {key: _check_value(key, value, f"{where}: {key}") for key, value in given.items()}
    checked["net"] = spec
    data_rng, param_rng = data.random_streams(seed)
    image, label, classes = _draw_image(checked, source, seed, data_rng)
    classes = checked.get("classes", classes)
    arch = architecture_of({**checked, "image": image}, where)
    if len(classes) != arch.classes:
        classes = tuple(str(k) for k in range(arch.classes))
    label = validate.label(checked.get("label", label), f"{where}: label", classes)
    params = init_params(arch, param_rng)
    params.update({key: _check_shape(arch, key, checked[key], f"{where}") for key in params if key in checked})
    full = {"net": spec} if spec != SEED_SPEC else {}
    if tuple(classes) != data.CLASSES:
        full["classes"] = list(classes)
    full.update(image=squeeze(image, KEEP["image"]), label=label)
    hyper = arch.hyper()
    for key in architecture.given_keys(arch.layers):
        full[key] = squeeze(params[key], KEEP[_kind(key)]) if key in params else hyper[key]
    return full


def _draw_image(given, source, seed, rng):
    """(image (C, H, W), label, class names) from the given or drawn from ``source``, as the notebook draws it."""
    if source == "shapes":
        fixed = [given["label"]] if given.get("label") in (0, 1) and not isinstance(given["label"], bool) else None
        images, labels = data.generate(1, rng, fixed)
        drawn, label, classes = images[0], int(labels[0]), data.CLASSES
    else:
        dataset = data.load(source, seed)
        pool = np.arange(len(dataset.test_labels))
        if isinstance(given.get("label"), int) and given["label"] in dataset.test_labels:
            pool = np.flatnonzero(dataset.test_labels == given["label"])
        index = rng.choice(pool)
        drawn, label, classes = dataset.test_images[index], int(dataset.test_labels[index]), dataset.classes
    image = unsqueeze(given["image"], 3) if "image" in given else drawn
    return image, label, classes


def network_for(given):
    """(Network, image (1, C, H, W), labels (1,)) for a complete given."""
    arch = architecture_of(given)
    params = {key: unsqueeze(given[key], len(shape)) for key, shape in arch.param_shapes().items()}
    image = unsqueeze(given["image"], 3)[None]
    return Network(arch, params), image, np.array([given["label"]])


def classes_of(given):
    """The class names of a complete given."""
    return tuple(given.get("classes", data.CLASSES))


def run(given):
    """Answer the exercise for a complete given: one forward and one backward pass.

    Returns {"given", "shapes", "forward", "backward", "torch"}, the arrays of
    the one image squeezed (see the module's docstring), scalars as floats.
    ``shapes`` has the input's and every conv, pooling and flatten layer's
    output; ``forward`` every layer's output but the flatten (the same numbers
    as the pooled maps), each max pool's argmax as one [row, col] per pooled
    value, and the loss; every ``backward`` entry is dL/d(that quantity), in
    backward order.  ``torch`` holds the parameters and their gradients under
    the exported PyTorch module's state_dict names, in full shape.
    """
    network, image, labels = network_for(given)
    arch = network.arch
    fwd = network.forward(image, labels)
    bwd = network.backward()
    flat = {n.output for n in arch.named if n.kind == "flatten"}
    keep = keep_axes(arch)
    shapes = {"input": list(np.shape(squeeze(image[0], keep["image"])))}
    for named in arch.named:
        if named.kind in ("conv", "maxpool", "avgpool", "flatten"):
            side = list(np.shape(squeeze(np.zeros(named.out_shape), keep[named.output])))
            shapes[named.output if named.kind == "flatten" else named.name] = side
    forward = {}
    for name, value in fwd.items():
        if name in flat:
            continue
        if name.endswith("_argmax"):
            forward[name] = value[0].reshape(-1, 2)
        else:
            forward[name] = value if name == "loss" else squeeze(value[0], keep[name])
    params = arch.param_shapes()
    backward = {
        name: squeeze(value if name in params else value[0], keep[name])
        for name, value in bwd.items()
        if name not in flat
    }
    return {
        "given": given,
        "shapes": shapes,
        "forward": forward,
        "backward": backward,
        "torch": {
            "state_dict": export.state_dict(arch, network.params),
            "grad": export.state_dict(arch, {key: bwd[key] for key in params}),
        },
    }


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (np.ndarray, tuple)):
        return np.asarray(value).tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def to_json(result):
    """The result as JSON text, one matrix row a line; floats keep all their digits (repr)."""
    text = json.dumps(_plain(result), indent=2)
    return re.sub(
        r"\[[^\[\]{}]*\]",
        lambda m: re.sub(r"\s+", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]"),
        text,
    )
