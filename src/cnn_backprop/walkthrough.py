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
from functools import cached_property

import numpy as np

from . import architecture, data, export, validate
from .architecture import SEED_SPEC, Architecture
from .kinds import KINDS
from .network import Network, build_layer, init_params
from .validate import InputError

IMAGE_NDIM = (2, 3)  # an image may be written as one channel's rows, or as channels
IMAGE_KEEP = 2  # an image always keeps its height and width
MODES = {"train": "training mode, as PyTorch's model.train()", "eval": "evaluation mode, as PyTorch's model.eval()"}


def squeeze(array, keep):
    """``array`` without its leading axes of length 1, but for its last ``keep``; a single number as a float."""
    array = np.asarray(array)
    while array.ndim > keep and array.shape[0] == 1:
        array = array[0]
    return float(array) if array.ndim == 0 and array.dtype.kind == "f" else array


def keep_axes(arch):
    """{quantity name: how many trailing axes it always keeps} for the image, every layer output and parameter."""
    keep = {n.output: 2 if len(n.out_shape) == 3 else int(n.kind_of.reshapes) for n in arch.named}
    keep["image"] = IMAGE_KEEP
    keep.update({full: n.kind_of.keep[key] for n in arch.named for key, full in n.params.items()})
    return keep


def unsqueeze(array, ndim):
    """``array`` with leading axes of length 1 put back, up to ``ndim`` axes."""
    array = np.asarray(array, dtype=float)
    return array.reshape((1,) * (ndim - array.ndim) + array.shape)


def keys_for(layers):
    """Every key a given may hold for a network of ``layers``, in order: what layers draw only in training mode,
    the buffers only in evaluation mode."""
    extra = [key for key, _ in architecture.draw_key_kinds(layers) + architecture.buffer_key_kinds(layers)]
    return ("net", "classes", "mode", "image", "label", *architecture.given_keys(layers), *extra)


def is_modal(arch):
    """Whether a pass of ``arch`` depends on its mode (it has a batch norm or a dropout)."""
    return any(named.kind_of.modal for named in arch.named)


def _check_value(key, value, where, owners):
    """One given value, type-checked (shapes are checked against the network later).

    ``owners`` is {given key: (its layer's Kind, its key in the layer)}.
    """
    if key == "image":
        return validate.number_array(value, where, IMAGE_NDIM, square=True)
    if key == "label":
        return value  # checked against the network's classes once they are known
    if key == "net":
        if not isinstance(value, str):
            raise InputError(f"{where} must be a network spec (text), e.g. {SEED_SPEC!r}")
        return value
    if key == "mode":
        if value not in MODES:
            raise InputError(f"{where} must be one of {', '.join(map(repr, MODES))}, got {value!r:.40}")
        return value
    if key == "classes":
        if not isinstance(value, list) or len(value) < 2 or not all(isinstance(c, str) for c in value):
            raise InputError(f"{where} must be a list of at least two class names")
        return tuple(value)
    kind, own = owners[key]
    if own in kind.given_draws:
        array = validate.number_array(value, where, (1, 2, 3))
        if not np.isin(array, (0, 1)).all():
            raise InputError(f"{where} must hold 0 (dropped) and 1 (kept), got {array[~np.isin(array, (0, 1))][0]}")
        return array
    if own in kind.given_buffers:
        array = validate.number_array(value if isinstance(value, list) else [value], where, 1)
        if own == "running_var" and (array < 0).any():
            raise InputError(f"{where} must hold variances >= 0, got {array.min()}")
        return array
    if own in kind.param_keys:
        ndims = kind.written[own]
        if 0 in ndims and not isinstance(value, list):
            return validate.number(value, where)
        return validate.number_array(value, where, tuple(n for n in ndims if n), square=own in kind.square)
    return validate.integer(value, where, kind.hyper_minimum(own))


def _layers(given, layers):
    """``layers`` with the sizes a given sets: hyperparameters, and the sizes its arrays have (kernels, weights)."""
    layers = list(layers)
    for index, (layer, (name, _)) in enumerate(zip(layers, architecture.names(layers))):
        kind = KINDS[layer.kind]
        changes = {key: given[f"{name}_{key}"] for key in kind.hyper_keys if f"{name}_{key}" in given}
        written = {key: given[f"{name}_{key}"] for key in kind.param_keys if f"{name}_{key}" in given}
        arrays = {key: unsqueeze(value, max(kind.written[key])) for key, value in written.items()}
        changes.update(kind.sizes_from(arrays))
        layers[index] = layer.replace(**changes)
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
    named, own = arch.owners()[key]
    raise InputError(f"{where}: {named.kind_of.shape_message(arch, named, own, np.shape(value), array, expected)}")


def given_of(document):
    """The given in a --given file: the object itself, or the ``given`` of a whole ``walkthrough --json`` output."""
    if isinstance(document, dict) and isinstance(document.get("given"), dict) and "forward" in document:
        return document["given"]
    return document


def model_given(model, mode="train"):
    """A given holding a trained model's network and parameters (a files.Model), in ``mode`` (evaluation: with its
    running statistics); the image is left to draw."""
    return network_given(model.arch, model.params, model.classes, model.buffers, mode)


def network_given(arch, params, classes=None, buffers=None, mode="train"):
    """A given holding a network's architecture and parameters, its class names unless they are the seed's, and in
    evaluation mode the buffers evaluation reads (from ``buffers``, a network's or a model's)."""
    given = {"net": str(arch)}
    if classes is not None and tuple(classes) != data.CLASSES:
        given["classes"] = list(classes)
    if mode != "train":
        given["mode"] = mode
    keep = keep_axes(arch)
    given.update({key: np.asarray(squeeze(value, keep[key])).tolist() for key, value in params.items()})
    given.update(arch.hyper())
    if mode == "eval" and buffers is not None:
        given.update({key: np.asarray(buffers[key]).tolist() for key, _ in architecture.buffer_key_kinds(arch.layers)})
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
    if isinstance(given, dict):  # a Pass's own given holds arrays and tuples: read as the lists a file has
        given = {key: _plain(value) for key, value in given.items()}
    if not isinstance(given, dict):
        raise InputError(f"{where} must be a JSON object with keys image, label, and the network's parameters")
    spec = given.get("net", net or SEED_SPEC)
    layers = architecture.parse(_check_value("net", spec, f"{where}: net", {}))
    keys = keys_for(architecture.with_shortcuts(layers))
    for key in given:
        if key not in keys:
            raise InputError(
                f"{where}: unknown key {json.dumps(key)}{validate.nearest(key, keys)}; valid keys: {', '.join(keys)}"
            )
    owners = dict(
        architecture.given_key_kinds(architecture.with_shortcuts(layers))
        + architecture.buffer_key_kinds(layers)
        + architecture.draw_key_kinds(layers)
    )
    checked = {key: _check_value(key, value, f"{where}: {key}", owners) for key, value in given.items()}
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
    mode = checked.get("mode", "train")
    if mode != "train":
        full["mode"] = mode
    full.update(image=squeeze(image, IMAGE_KEEP), label=label)
    hyper, keep = arch.hyper(), keep_axes(arch)
    for key in architecture.given_keys(arch.layers):
        full[key] = squeeze(params[key], keep[key]) if key in params else hyper[key]
    if mode == "train":  # what training draws at random, from the seed after the parameters, unless given
        for named in arch.named:
            drawn = named.kind_of.draw(named, param_rng) if named.kind_of.given_draws else {}
            for key, value in drawn.items():
                value = checked.get(f"{named.name}_{key}", value)
                if np.shape(value) != named.in_shape:
                    raise InputError(f"{where}: {named.name}_{key} has shape {list(np.shape(value))}, the network "
                                     f"needs {list(named.in_shape)}")  # fmt: skip
                full[f"{named.name}_{key}"] = np.asarray(value, dtype=float)
    if mode == "eval":  # what evaluation reads besides the parameters; training mode reads the image's own
        initial = arch.initial_buffers()
        for key, _ in architecture.buffer_key_kinds(arch.layers):
            value = checked.get(key, initial[key])
            if np.shape(value) != initial[key].shape:
                raise InputError(f"{where}: {key} has {np.size(value)} numbers, the network needs {initial[key].size}")
            full[key] = np.asarray(value, dtype=float)
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
    """(Network, image (1, C, H, W), labels (1,)) for a complete given, in its mode."""
    arch = architecture_of(given)
    params = {key: unsqueeze(given[key], len(shape)) for key, shape in arch.param_shapes().items()}
    image = unsqueeze(given["image"], 3)[None]
    buffers = arch.initial_buffers()
    buffers.update({key: np.array(given[key], dtype=float) for key in buffers if key in given})
    network = Network(arch, params, buffers=buffers).train(given.get("mode", "train") == "train")
    for named, layer in zip(arch.named, network.layers):
        _drawn(layer, named, given)
    return network, image, np.array([given["label"]])


def _drawn(layer, named, given):
    """``layer`` holding what a training-mode given says it drew (a dropout's mask), for a batch of one."""
    layer.draws.update({key: np.asarray(given[f"{named.name}_{key}"], dtype=float)[None]
                        for key in named.kind_of.given_draws if f"{named.name}_{key}" in given})  # fmt: skip
    return layer


def layer_for(given, named, params):
    """The vectorised layer of ``named`` as a complete given runs it: its parameters ``params`` (by full name), in
    the given's mode, with the running statistics and the draws it holds."""
    fresh = named.kind_of.buffers(named)
    buffers = {full: np.array(given.get(full, fresh[key]), dtype=fresh[key].dtype) for key, full in
               named.buffers.items()}  # fmt: skip
    layer = build_layer(named, params, buffers=buffers)
    layer.training = given.get("mode", "train") == "train"
    return _drawn(layer, named, given)


def classes_of(given):
    """The class names of a complete given."""
    return tuple(given.get("classes", data.CLASSES))


class Pass:
    """One forward and one backward pass of one image: every number, in full shape, by the names the network derives.

    - ``arch``: the Architecture, parsed once; ``given``: the complete instance it ran on; ``mode``: "train" or
      "eval" (``MODES``), as the given says;
    - ``image`` (C, H, W), ``label``, ``classes`` (the class names);
    - ``params``: {parameter name: array} (``conv_kernel`` (F, C, K, K), ...);
    - ``values``: {name: array} of the image, every layer's output (``conv_pre`` (F, H', W'), ``fc_input``,
      ``output``) and every parameter; ``extras``: what layers found besides (``pool_argmax`` (C, H', W', 2));
      ``loss``: a float;
    - ``grads``: {name: dL/d(it)} of every layer output (``output``: none), every parameter and the image;
      ``parts``: {name: {layer: its part}} of each value that feeds several layers (a residual block's input),
      whose gradient is the sum of what each of them passes back.

    Arrays have no batch axis.  ``pass_["forward"]`` (and "given", "shapes", "backward", "torch") is the
    ``walkthrough --json`` layout, where the axes that count one channel, filter or output are left out.
    """

    def __init__(self, given):
        network, images, labels = network_for(given)
        self.given, self.arch, self.classes = given, network.arch, classes_of(given)
        self.mode = given.get("mode", "train")  # "train" or "eval", as PyTorch's model.train() and model.eval()
        self.image, self.label = images[0], int(labels[0])
        self.params = {name: value for name, value in network.params.items()}
        forward = network.forward(images, labels)
        self.loss = forward["loss"]
        self.values = {"image": self.image, **{n.output: forward[n.output][0] for n in self.arch.named}}
        self.values.update(self.params)
        # each layer's extras by full name (pool_argmax): (the layer that found it, its key there)
        self.extra_owners = {
            f"{n.name}_{key}": (n, key) for n, layer in zip(self.arch.named, network.layers) for key in layer.extras
        }
        self.extras = {name: forward[name][0] for name in self.extra_owners}
        backward = network.backward()
        self.grads = {name: value if name in self.params else value[0] for name, value in backward.items()}
        self.parts = {name: {layer: part[0] for layer, part in parts.items()} for name, parts in network.parts.items()}

    def __repr__(self):
        mode = f", {self.mode} mode" if self.mode != "train" else ""
        return (f"Pass({self.arch}, image {'x'.join(map(str, self.image.shape))}, label {self.label}, loss "
                f"{self.loss:.6g}{mode})")  # fmt: skip

    def __getitem__(self, part):
        return self.layout[part]

    def _repr_html_(self):
        """In a notebook, the pass shows itself as the report does (the given values and answers 1-3), or where it
        has more numbers than the walkthrough prints unasked, as a summary of a few tens of KB."""
        from .explain import WHOLE_LIMIT, count_numbers
        from .report import html_body, summary_html, walkthrough_document

        if count_numbers(self) > WHOLE_LIMIT:
            return summary_html(self)
        return f"<div>{html_body(walkthrough_document(self, explain_arithmetic=False))}</div>"

    @cached_property
    def keep(self):
        """{name: trailing axes kept in the JSON layout}."""
        return keep_axes(self.arch)

    def shown(self, name, grad=False):
        """``name``'s value (or gradient) as the JSON layout writes it."""
        return squeeze((self.grads if grad else self.values)[name], self.keep[name])

    @cached_property
    def layout(self):
        """{"given", "shapes", "forward", "backward", "torch"}: the ``walkthrough --json`` layout.

        ``shapes`` has the input's and every conv, pooling and flatten layer's
        output; ``forward`` every layer's output but the flatten (the same
        numbers as the pooled maps), each max pool's argmax as one [row, col] per
        pooled value, and the loss; every ``backward`` entry is dL/d(that
        quantity), in backward order.  ``torch`` holds the parameters and their
        gradients under the exported PyTorch module's state_dict names, in full shape.  A network with
        blocks has ``parts`` too: for each value that feeds several layers, what each passes back
        ({"conv1_relu": {"conv2": ..., "res": ...}}), which its ``backward`` entry adds up.
        """
        arch, keep = self.arch, self.keep
        flat = {n.output for n in arch.named if n.kind_of.reshapes}
        shapes = {"input": list(np.shape(self.shown("image")))}
        for named in arch.named:
            if named.kind_of.sized_answer or named.kind_of.reshapes:
                side = list(np.shape(squeeze(np.zeros(named.out_shape), keep[named.output])))
                shapes[named.output if named.kind_of.reshapes else named.name] = side
        forward = {}
        for named in arch.named:
            if named.output not in flat:
                forward[named.output] = self.shown(named.output)
            for name, (owner, _) in self.extra_owners.items():
                if owner is named:
                    forward[name] = extra_layout(self.extras[name])
        forward["loss"] = self.loss
        backward = {name: self.shown(name, grad=True) for name in self.grads if name not in flat}
        parts = {"parts": {name: {layer: squeeze(part, keep[name]) for layer, part in by.items()}
                           for name, by in self.parts.items()}} if self.parts else {}  # fmt: skip
        return {
            "given": self.given,
            "shapes": shapes,
            "forward": forward,
            "backward": backward,
            "torch": {
                "state_dict": export.state_dict(arch, self.params),
                "grad": export.state_dict(arch, {key: self.grads[key] for key in self.params}),
            },
            **parts,
        }


def extra_layout(value):
    """An extra of one image as the JSON writes it: one row per output value (argmax (C, H', W', 2) as
    (C*H'*W', 2)); a vector (a batch norm's mean) as it is."""
    return value.reshape(-1, value.shape[-1]) if value.ndim > 2 else value


def run(given):
    """Answer the exercise for a complete given: one forward and one backward pass, as a ``Pass``."""
    return Pass(given)


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (np.ndarray, tuple)):
        return np.asarray(value).tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def to_json(result):
    """A Pass's layout (or any dict of arrays) as JSON text, one matrix row a line; floats keep all their digits."""
    text = json.dumps(_plain(result.layout if isinstance(result, Pass) else result), indent=2)
    return re.sub(
        r"\[[^\[\]{}]*\]",
        lambda m: re.sub(r"\s+", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]"),
        text,
    )
