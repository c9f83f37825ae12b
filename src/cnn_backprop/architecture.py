"""A network as a list of named layers, written as a short spec a person can type.

The grammar, one layer per comma-separated item:

    conv FxKxK [stride S] [pad P]   F filters of K x K (stride 1, padding 0 by default)
    relu
    maxpool K [stride S]            K x K windows; stride K by default, as in PyTorch
    avgpool K [stride S]
    flatten                         optional: put in before the first dense layer anyway
    dense O                         O outputs
    sigmoid | softmax               the output and its loss (binary or K-class cross-entropy), last

e.g. ``conv 8x3x3 pad 1, relu, maxpool 2, conv 16x3x3 pad 1, relu, maxpool 2, dense 10, softmax``.
An ``Architecture`` is a spec with the input it reads (channels, image size);
it checks that every layer fits its input, and derives every name and shape
from the layers, so no module types them out again.

Names: a kind that occurs once is named plainly (``conv``, ``pool``, ``fc``),
one that occurs more than once is numbered (``conv1``, ``conv2``).  A conv or
dense layer's output is ``NAME_pre`` (before the activation), a ReLU's is the
name of what it follows plus ``_relu``, a pooling layer's is its name, the
flatten before a dense layer is ``NAME_input``, and the last layer's is
``output``.  Parameters are ``NAME_kernel`` and ``NAME_bias`` (conv),
``NAME_weights`` and ``NAME_bias`` (dense).  The seed network is
``conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid``: conv_pre,
conv_relu, pool, fc_input, fc_pre, output; conv_kernel, conv_bias, fc_weights, fc_bias.
"""

import math
import re
from dataclasses import dataclass
from functools import cached_property

from .layers import output_size
from .validate import InputError, nearest

SEED_SPEC = "conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid"
DIGITS_SPEC = "conv 32x3x3 pad 1, relu, maxpool 2, conv 64x3x3 pad 1, relu, maxpool 2, dense 10, softmax"


def default_spec(source="shapes", classes=2):
    """The network a command uses when no --net is given: the seed's for its shapes, else the digits network
    with one output per class."""
    return SEED_SPEC if source == "shapes" else DIGITS_SPEC.replace("dense 10,", f"dense {classes},")


KINDS = ("conv", "relu", "maxpool", "avgpool", "flatten", "dense", "sigmoid", "softmax")
POOLS = ("maxpool", "avgpool")
OUTPUTS = ("sigmoid", "softmax")
# The base of each kind's name; the two pools share one, as do the two outputs.
BASE = {"conv": "conv", "maxpool": "pool", "avgpool": "pool", "dense": "fc"}
# What each kind's parameters and hyperparameters are called (the suffix of their names).
PARAM_KEYS = {"conv": ("kernel", "bias"), "dense": ("weights", "bias")}
HYPER_KEYS = {"conv": ("stride", "padding"), "maxpool": ("size", "stride"), "avgpool": ("size", "stride")}
MAX_SIDE = 1024  # a padded map, channels, filters or dense outputs: far beyond any exercise, and fits in memory


@dataclass(frozen=True)
class Layer:
    """One layer of a spec: its kind and the sizes that kind has (0 where it has none)."""

    kind: str
    size: int = 0  # conv kernel side K, or pooling window side
    filters: int = 0  # conv
    stride: int = 1  # conv and pooling
    padding: int = 0  # conv
    outputs: int = 0  # dense

    def __str__(self):
        if self.kind == "conv":
            return (
                f"conv {self.filters}x{self.size}x{self.size}"
                + (f" stride {self.stride}" if self.stride != 1 else "")
                + (f" pad {self.padding}" if self.padding else "")
            )
        if self.kind in POOLS:
            return f"{self.kind} {self.size}" + (f" stride {self.stride}" if self.stride != self.size else "")
        if self.kind == "dense":
            return f"dense {self.outputs}"
        return self.kind


@dataclass(frozen=True)
class Named:
    """A layer of an architecture with everything derived from its place in it."""

    layer: Layer
    name: str  # conv, conv2, pool, fc, ...
    output: str  # the name of its output quantity: conv_pre, conv_relu, pool, fc_input, output
    input: str  # the name of its input quantity: image, or the previous layer's output
    in_shape: tuple  # (C, H, W) or (D,), without the batch axis
    out_shape: tuple
    param_shapes: dict  # {"conv_kernel": (F, C, K, K), ...}: full parameter names

    @property
    def kind(self):
        return self.layer.kind


def parse_layer(text):
    """One item of a spec, e.g. ``conv 8x3x3 pad 1``, as a Layer."""
    words = text.split()
    if not words:
        raise InputError("the network spec has an empty item (two commas in a row, or a comma at the end)")
    kind, rest = words[0].lower(), words[1:]
    if kind not in KINDS:
        raise InputError(
            f"unknown layer {kind!r} in {text.strip()!r}{nearest(kind, KINDS)}; layers: {', '.join(KINDS)}"
        )
    usage = {
        "conv": "conv FxKxK [stride S] [pad P], e.g. conv 8x3x3 pad 1",
        "maxpool": "maxpool K [stride S], e.g. maxpool 2",
        "avgpool": "avgpool K [stride S], e.g. avgpool 2",
        "dense": "dense O, e.g. dense 10",
    }.get(kind, kind)

    def fail(why):
        raise InputError(f"{text.strip()!r}: {why}; write {usage}")

    def whole(word, minimum):
        if not re.fullmatch(r"\d+", word) or int(word) < minimum:
            fail(f"{word!r} is not a whole number >= {minimum}")
        return int(word)

    if kind not in ("conv", "dense", *POOLS):
        if rest:
            fail(f"{kind} takes no sizes")
        return Layer(kind)
    if not rest:
        fail("its size is missing")
    if kind == "dense":
        if len(rest) != 1:
            fail("dense takes one number")
        return Layer("dense", outputs=whole(rest[0], 1))
    options = {}
    allowed = ("stride", "pad") if kind == "conv" else ("stride",)
    pairs = rest[1:]
    if len(pairs) % 2:
        fail(f"{pairs[-1]!r} has no value")
    for key, value in zip(pairs[::2], pairs[1::2]):
        if key not in allowed or key in options:
            fail(f"unexpected {key!r}")
        options[key] = whole(value, 0 if key == "pad" else 1)
    if kind == "conv":
        sizes = re.fullmatch(r"(\d+)x(\d+)x(\d+)", rest[0])
        if not sizes:
            fail(f"{rest[0]!r} is not FxKxK")
        filters, k1, k2 = (int(v) for v in sizes.groups())
        if k1 != k2:
            fail(f"kernels are square, got {k1}x{k2}")
        if filters < 1 or k1 < 1:
            fail("filters and kernel size must be >= 1")
        return Layer("conv", size=k1, filters=filters, stride=options.get("stride", 1), padding=options.get("pad", 0))
    size = whole(rest[0], 1)
    return Layer(kind, size=size, stride=options.get("stride", size))


def parse(spec):
    """A spec string as a tuple of Layers (the flatten before the first dense layer put in)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"the network spec is empty; e.g. {SEED_SPEC!r}")
    layers = [parse_layer(item) for item in spec.split(",")]
    # A flatten goes between the last spatial layer (or the image) and the first dense one, written or not.
    first_dense = next((i for i, layer in enumerate(layers) if layer.kind == "dense"), None)
    if first_dense is not None and "flatten" not in {layer.kind for layer in layers[:first_dense]}:
        layers.insert(first_dense, Layer("flatten"))
    return tuple(layers)


@dataclass(frozen=True)
class Architecture:
    """A network spec and the input it reads; checks on construction that every layer fits.

    ``str(arch)`` is the spec again (without the implied flatten), and
    ``Architecture.parse(str(arch), ...)`` gives the same architecture.
    """

    layers: tuple
    channels: int = 1
    image_size: int = 5

    @classmethod
    def parse(cls, spec=SEED_SPEC, channels=1, image_size=5):
        return cls(parse(spec), channels, image_size)

    def __post_init__(self):
        self.named  # noqa: B018 - derives every shape, which checks that each layer fits

    def __str__(self):
        return ", ".join(str(layer) for layer in self.layers if layer.kind != "flatten")

    @cached_property
    def named(self):
        """Every layer with its name, its input and output names and shapes, and its parameter shapes."""
        _check_order(self.layers)
        _check_input(self.channels, self.image_size)
        named = []
        shape = (self.channels, self.image_size, self.image_size)
        previous = "image"
        for layer, (name, output) in zip(self.layers, names(self.layers)):
            out_shape, param_shapes = _shapes(layer, name, shape, named)
            named.append(Named(layer, name, output, previous, shape, out_shape, param_shapes))
            previous, shape = output, out_shape
        return tuple(named)

    def layer(self, name):
        """The Named layer called ``name``."""
        return next(n for n in self.named if n.name == name)

    @property
    def output_kind(self):
        return self.layers[-1].kind

    @property
    def classes(self):
        """How many classes the output tells apart: 2 for sigmoid, the last dense layer's outputs for softmax."""
        return 2 if self.output_kind == "sigmoid" else self.named[-1].in_shape[0]

    def param_shapes(self):
        """{parameter name: shape}, in the order of the layers."""
        return {key: shape for n in self.named for key, shape in n.param_shapes.items()}

    def hyper(self):
        """{hyperparameter name: value}, e.g. conv_stride, pool_size, in the order of the layers."""
        return {f"{n.name}_{key}": getattr(n.layer, key) for n in self.named for key in HYPER_KEYS.get(n.kind, ())}


def names(layers):
    """[(layer name, output name)] of each layer, from the kinds and order alone (see the module's docstring)."""
    counts = {}
    for layer in layers:
        counts[BASE.get(layer.kind)] = counts.get(BASE.get(layer.kind), 0) + 1
    seen = {}
    numbered = []
    for layer in layers:
        base = BASE.get(layer.kind)
        seen[base] = seen.get(base, 0) + 1
        numbered.append(base if counts[base] == 1 else f"{base}{seen[base]}")
    result = []
    previous = "image"
    for index, layer in enumerate(layers):
        name = numbered[index]
        if layer.kind == "relu":
            name = output = f"{previous}_relu"
        elif layer.kind == "flatten":
            following = next((numbered[i] for i in range(index, len(layers)) if layers[i].kind == "dense"), "fc")
            name = output = f"{following}_input"
        elif layer.kind in OUTPUTS:
            name = output = "output"
        elif layer.kind in POOLS:
            output = name
        else:
            output = f"{name}_pre"
        result.append((name, output))
        previous = name
    return result


def given_keys(layers):
    """The names of every parameter and hyperparameter of ``layers``, in order (conv_kernel, conv_bias, ...)."""
    return [
        f"{name}_{key}"
        for layer, (name, _) in zip(layers, names(layers))
        for key in (*PARAM_KEYS.get(layer.kind, ()), *HYPER_KEYS.get(layer.kind, ()))
    ]


def _check_order(layers):
    kinds = [layer.kind for layer in layers]
    if not kinds or kinds[-1] not in OUTPUTS:
        raise InputError(f"a network ends in sigmoid or softmax (the output and its loss), got {', '.join(kinds)}")
    if any(kind in OUTPUTS for kind in kinds[:-1]):
        raise InputError("sigmoid or softmax can only be the last layer")
    if len(kinds) < 2 or kinds[-2] != "dense":
        raise InputError(f"{kinds[-1]} must follow a dense layer (the one that gives z), e.g. 'dense 10, softmax'")
    first_flat = next((i for i, kind in enumerate(kinds) if kind in ("flatten", "dense")), len(kinds))
    late = [kind for kind in kinds[first_flat + 1 :] if kind in ("conv", *POOLS, "flatten")]
    if late:
        raise InputError(f"{late[0]} cannot come after flatten or dense: feature maps come first")


def _check_input(channels, image_size):
    if channels < 1 or image_size < 1:
        raise InputError(f"the input must have at least one channel and one pixel, got {channels}x{image_size}")
    if channels > MAX_SIDE or image_size > MAX_SIDE:
        raise InputError(f"the input is {channels}x{image_size}x{image_size}; at most {MAX_SIDE} is supported")


def _shapes(layer, name, shape, before):
    """(output shape, parameter shapes) of ``layer`` on an input of ``shape``, or an InputError saying what fits."""
    kind = layer.kind
    if kind == "conv":
        channels, side = shape[0], shape[1]
        k, s, p = layer.size, layer.stride, layer.padding
        padded = side + 2 * p
        what = "image" if not before else "map"
        if padded > MAX_SIDE or layer.filters > MAX_SIDE:
            raise InputError(
                f"{name}: a {side}x{side} {what} with padding {p} is {padded}x{padded}, with {layer.filters} filters; "
                f"at most {MAX_SIDE} is supported for each"
            )
        if k > padded:
            pools = [n.name for n in before if n.kind in POOLS]
            need = math.ceil((k - side) / 2)
            raise InputError(
                f"{name}: a {k}x{k} kernel does not fit a {side}x{side} {what}"
                + (f" with padding {p}" if p else "")
                + f"; use padding {need}"
                + (f" or drop {pools[-1]}" if pools else f" or a kernel of at most {padded}x{padded}")
            )
        out = output_size(side, k, s, p)
        return (layer.filters, out, out), {
            f"{name}_kernel": (layer.filters, channels, k, k),
            f"{name}_bias": (layer.filters,),
        }
    if kind in POOLS:
        side = shape[1]
        if layer.size > side:
            raise InputError(
                f"{name}: a {layer.size}x{layer.size} pool window does not fit the {side}x{side} map; "
                f"use {kind} {side} or smaller"
            )
        out = output_size(side, layer.size, layer.stride)
        return (shape[0], out, out), {}
    if kind == "flatten":
        return (math.prod(shape),), {}
    if kind == "dense":
        if len(shape) != 1:
            raise InputError(f"{name}: a dense layer reads a vector; put a flatten before it")
        if layer.outputs > MAX_SIDE * 4:
            raise InputError(f"{name}: {layer.outputs} outputs; at most {MAX_SIDE * 4} is supported")
        return (layer.outputs,), {f"{name}_weights": (layer.outputs, shape[0]), f"{name}_bias": (layer.outputs,)}
    if kind == "sigmoid" and shape != (1,):
        raise InputError(
            f"sigmoid gives P(class 1) from one number z; the dense layer before it has {shape[0]} "
            "outputs: use 'dense 1, sigmoid', or softmax for several classes"
        )
    if kind == "softmax" and shape[0] < 2:
        raise InputError(
            "softmax needs at least two classes: use 'dense K, softmax' with K >= 2, or 'dense 1, sigmoid'"
        )
    return shape, {}
