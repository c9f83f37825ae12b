"""A network as a list of named layers, written as a short spec a person can type.

One layer per comma-separated item, each of a kind in the registry (``kinds/``):
``cnn-backprop nets`` prints the grammar, e.g.
``conv 8x3x3 pad 1, relu, maxpool 2, conv 16x3x3 pad 1, relu, maxpool 2, dense 10, softmax``.
An ``Architecture`` is a spec with the input it reads (channels, image size);
it checks that every layer fits its input, and derives every name and shape
from the layers, so no module types them out again.

Names: a kind that occurs once is named plainly (``conv``, ``pool``, ``fc``),
one that occurs more than once is numbered (``conv1``, ``conv2``).  A conv or
dense layer's output is ``NAME_pre`` (before the activation), an activation's
is the name of what it follows plus its own (``conv_relu``), a pooling layer's
is its name, the flatten before a dense layer is ``NAME_input``, and the last
layer's is ``output``.  Parameters are ``NAME_KEY``: ``NAME_kernel`` and
``NAME_bias`` (conv), ``NAME_weights`` and ``NAME_bias`` (dense).  The seed network is
``conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid``: conv_pre,
conv_relu, pool, fc_input, fc_pre, output; conv_kernel, conv_bias, fc_weights, fc_bias.

A residual block, ``residual(LAYERS)``, is its layers named as above, then an add
named ``res`` (``res1``, ``res2`` where there are several) whose output is
``res_add``: the block's last output plus its input.  Where the block's layers
change the channels or the size, the shortcut is a 1x1 conv named
``res_shortcut`` (its output too; res_shortcut_kernel, res_shortcut_bias), with
the stride that brings the input to the block's size; it is implied, as the
flatten is, and the spec does not write it.  An activation after the block is
named after it (``res_relu``).
"""

import html
import math
from dataclasses import dataclass
from functools import cached_property

from .kinds import KINDS, grammar_lines, spelled, words
from .kinds._kind import MAX_SIDE
from .text import top_level
from .validate import InputError, nearest

SEED_SPEC = "conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid"
DIGITS_SPEC = "conv 32x3x3 pad 1, relu, maxpool 2, conv 64x3x3 pad 1, relu, maxpool 2, dense 10, softmax"


def default_spec(source="shapes", classes=2):
    """The network a command uses when no --net is given: the seed's for its shapes, else the digits network
    with one output per class."""
    return SEED_SPEC if source == "shapes" else DIGITS_SPEC.replace("dense 10,", f"dense {classes},")


class Layer:
    """One item of a spec: its kind and that kind's options, read as attributes (``layer.stride``).

    ``Layer("conv", filters=8, size=3)``; options left out take the kind's
    defaults.  ``str(layer)`` is the item as a spec writes it.
    """

    __slots__ = ("kind", "_values")

    def __init__(self, kind, **values):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "_values", KINDS[kind].defaults(values))

    def __getattr__(self, key):
        try:
            return object.__getattribute__(self, "_values")[key]
        except KeyError:
            raise AttributeError(f"a {self.kind} layer has no {key!r}") from None

    def __setattr__(self, key, value):
        raise AttributeError("a Layer is immutable: use replace()")

    def values(self):
        """{option: value} of every option of the layer."""
        return dict(self._values)

    def replace(self, **changes):
        """The same layer with some options changed."""
        return Layer(self.kind, **{**self._values, **changes})

    def __eq__(self, other):
        return isinstance(other, Layer) and (self.kind, self._values) == (other.kind, other._values)

    def __hash__(self):
        return hash((self.kind, tuple(sorted(self._values.items()))))

    def __repr__(self):
        return f"Layer({self.kind!r}" + "".join(f", {key}={value!r}" for key, value in self._values.items()) + ")"

    def __str__(self):
        return KINDS[self.kind].write(self)


@dataclass(frozen=True)
class Named:
    """A layer of an architecture with everything derived from its place in it."""

    layer: Layer
    name: str  # conv, conv2, pool, fc, ...
    output: str  # the name of its output quantity: conv_pre, conv_relu, pool, fc_input, output
    inputs: tuple  # the names of what it reads: image, or the previous layer's output; an add reads two
    in_shape: tuple  # (C, H, W) or (D,), without the batch axis (of each of its inputs)
    out_shape: tuple
    param_shapes: dict  # {"conv_kernel": (F, C, K, K), ...}: full parameter names
    params: dict  # {"kernel": "conv_kernel", ...}: each parameter's key in its layer, and its full name

    @property
    def input(self):
        """The name of what it reads (an add's first input: the block's last output)."""
        return self.inputs[0]

    @property
    def kind(self):
        return self.layer.kind

    @property
    def kind_of(self):
        """Its Kind, from the registry: everything its kind is."""
        return KINDS[self.layer.kind]

    @property
    def buffers(self):
        """{buffer key: full name} of what its layer keeps besides its parameters, e.g. bn_running_mean."""
        return {key: f"{self.name}_{key}" for key in self.kind_of.buffers(self)}

    @property
    def key_shapes(self):
        """{parameter key: shape}, e.g. {"kernel": (F, C, K, K), "bias": (F,)}."""
        return {key: self.param_shapes[full] for key, full in self.params.items()}

    @property
    def hyper(self):
        """{hyperparameter key: full name}, e.g. {"stride": "pool_stride"}."""
        return {key: f"{self.name}_{key}" for key in self.kind_of.hyper_keys}


def parse_layer(text, last=False):
    """One item of a spec, e.g. ``conv 8x3x3 pad 1``, as a Layer; ``last``: the spec's last item (where a word two
    kinds share, sigmoid, is the output)."""
    parts = text.split()
    if not parts:
        raise InputError("the network spec has an empty item (two commas in a row, or a comma at the end)")
    word, rest = parts[0].lower(), parts[1:]
    kind = spelled(word, last)
    if kind is None:
        raise InputError(
            f"unknown layer {word!r} in {text.strip()!r}{nearest(word, words())}; layers: {', '.join(words())}"
        )

    def fail(why):
        raise InputError(f"{text.strip()!r}: {why}; write {kind.spec_usage}")

    return Layer(kind.name, **kind.parse(rest, fail))


def parse_block(text):
    """A block item, e.g. ``residual(conv 8x3x3 pad 1, relu)``, as its layers and then the Layer that joins them
    (an add); None for an item that is no block."""
    word, bracket, rest = text.strip().partition("(")
    if not bracket:
        return None
    kind = spelled(word.strip().lower(), False)
    if kind is None or not kind.joins or not rest.endswith(")"):
        blocks = [k.spec_usage for k in KINDS.values() if k.joins]
        raise InputError(f"{text.strip()!r}: parentheses hold a block's layers; write {' or '.join(blocks)}")
    inner = rest[:-1]
    if "(" in inner:
        raise InputError(f"{text.strip()!r}: a block cannot hold another block")
    layers = [parse_layer(item) for item in inner.split(",")]
    kinds = [KINDS[layer.kind] for layer in layers]
    wrong = next((k.spelled for k in kinds if k.is_output or "vector" in (k.reads, k.gives)), None)
    if wrong:
        raise InputError(f"{text.strip()!r}: a {kind.spelled} block holds layers of feature maps, not {wrong}")
    return [*layers, Layer(kind.name, span=len(layers))]


def parse(spec):
    """A spec string as a tuple of Layers (the flatten before the first dense layer put in, each block's layers
    followed by the layer that joins them)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"the network spec is empty; e.g. {SEED_SPEC!r}")
    if spec.count("(") != spec.count(")"):
        raise InputError(f"the network spec opens {spec.count('(')} parentheses and closes {spec.count(')')}")
    items = top_level(spec, ",")
    layers = []
    for index, item in enumerate(items):
        block = parse_block(item)
        layers += block if block else [parse_layer(item, index == len(items) - 1)]
    # A flatten goes between the last spatial layer (or the image) and the first layer that reads a vector.
    first = next((i for i, layer in enumerate(layers) if KINDS[layer.kind].reads == "vector"), None)
    if first is not None and not any(KINDS[layer.kind].reshapes for layer in layers[:first]):
        layers.insert(first, Layer(next(kind.name for kind in KINDS.values() if kind.reshapes)))
    return tuple(layers)


def grammar():
    """The grammar of specs, from the registry of kinds: what ``cnn-backprop nets`` prints."""
    return "\n".join(
        [
            "A network is a spec: layers separated by commas, each one of",
            "",
            *grammar_lines(),
            "",
            f"e.g. '{DIGITS_SPEC}'.",
            f"The seed network, the default on the generated shapes: '{SEED_SPEC}'.",
            "On other data the default is the digits network above with one output per class.",
            "",
            *"\n\n".join(__doc__.split("\n\n")[2:]).replace("``", "").splitlines(),
        ]
    )


class Summary(list):
    """An architecture's summary: its rows (layer, kind, output, shape, parameters), shown as a table in a notebook."""

    def __init__(self, rows, caption):
        super().__init__(rows)
        self.caption = caption

    def _repr_html_(self):
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in self)
        total = sum(row[-1] for row in self)
        head = "".join(f"<th>{cell}</th>" for cell in ("layer", "kind", "output", "shape", "parameters"))
        return (f"<table><caption>{html.escape(self.caption)}: {total:,} parameters</caption><tr>{head}</tr>{rows}"
                "</table>")  # fmt: skip


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
        _check_order(self.layers)
        _check_input(self.channels, self.image_size)
        object.__setattr__(self, "layers", _projected(self.layers, self.input_shape))
        self.named  # noqa: B018 - derives every shape, which checks that each layer fits

    def __str__(self):
        items = []
        shortcuts = wiring(self.layers)[1]
        for index, layer in enumerate(self.layers):
            kind = KINDS[layer.kind]
            if kind.joins:
                items[-layer.span :] = [kind.write_block(items[-layer.span :])]
            elif not kind.reshapes and index not in shortcuts:
                items.append(str(layer))
        return ", ".join(items)

    def __repr__(self):
        return f"Architecture({str(self)!r}, input {'x'.join(map(str, self.input_shape))})"

    def summary(self):
        """[(layer, as the spec writes it, output name, output shape, parameters)], one row a layer, as
        torchinfo's summary: what the network is, from the registry's names and shapes (a ``Summary``, which a
        notebook shows as a table)."""
        return Summary(
            [(n.name, str(n.layer), n.output, "x".join(map(str, n.out_shape)),
              sum(math.prod(shape) for shape in n.param_shapes.values()))
             for n in self.named], repr(self)
        )  # fmt: skip

    def _repr_html_(self):
        return self.summary()._repr_html_()

    @cached_property
    def named(self):
        """Every layer with its name, its input and output names and shapes, and its parameter shapes."""
        named = []
        sources = wiring(self.layers)[0]
        for layer, (name, output), reads in zip(self.layers, names(self.layers), sources):
            inputs = tuple(named[i].output if i >= 0 else "image" for i in reads)
            shape = named[reads[0]].out_shape if reads[0] >= 0 else self.input_shape
            out_shape, shapes = KINDS[layer.kind].shapes(layer, name, shape, named)
            params = {key: f"{name}_{key}" for key in shapes}
            full = {params[key]: param_shape for key, param_shape in shapes.items()}
            named.append(Named(layer, name, output, inputs, shape, out_shape, full, params))
        return tuple(named)

    @cached_property
    def is_stack(self):
        """Whether each layer reads the one before it, and only that (no block)."""
        return not any(KINDS[layer.kind].joins for layer in self.layers)

    def layer(self, name):
        """The Named layer called ``name``."""
        return next(n for n in self.named if n.name == name)

    @property
    def output(self):
        """The output layer's Kind (sigmoid or softmax): its loss, its probabilities."""
        return KINDS[self.layers[-1].kind]

    @property
    def classes(self):
        """How many classes the output tells apart: 2 for sigmoid, the last dense layer's outputs for softmax."""
        return self.output.classes(self.named[-1].in_shape)

    @property
    def input_shape(self):
        """(C, H, W) of one image."""
        return (self.channels, self.image_size, self.image_size)

    def param_shapes(self):
        """{parameter name: shape}, in the order of the layers."""
        return {key: shape for n in self.named for key, shape in n.param_shapes.items()}

    def initial_buffers(self):
        """{buffer name: its initial array} of every layer that keeps one (a batch norm's running statistics)."""
        return {n.buffers[key]: value for n in self.named for key, value in n.kind_of.buffers(n).items()}

    def owners(self):
        """{parameter name: (its Named layer, its key in that layer)}, e.g. conv_kernel -> (conv, "kernel")."""
        return {full: (n, key) for n in self.named for key, full in n.params.items()}

    def hyper(self):
        """{hyperparameter name: value}, e.g. conv_stride, pool_size, in the order of the layers."""
        return {full: getattr(n.layer, key) for n in self.named for key, full in n.hyper.items()}


def wiring(layers):
    """(what each layer reads: a tuple of layer indices, -1 the image; {shortcut's index: its add's index}).

    A layer reads the one before, but for a block's: the layer that joins it
    (an add) reads the block's last layer and its shortcut, which is the 1x1
    conv right before the add where it has one (``projection``), else the
    block's input; the shortcut conv reads the block's input.
    """
    sources = [(index - 1,) for index in range(len(layers))]
    shortcuts = {}
    for index, layer in enumerate(layers):
        if KINDS[layer.kind].joins:
            last = index - 1 - layer.projection
            block_input = last - layer.span
            if layer.projection:
                shortcuts[index - 1] = index
                sources[index - 1] = (block_input,)
            sources[index] = (last, index - 1 if layer.projection else block_input)
    return sources, shortcuts


def names(layers):
    """[(layer name, output name)] of each layer, from the kinds and order alone (see the module's docstring)."""
    kinds = [KINDS[layer.kind] for layer in layers]
    shortcuts = wiring(layers)[1]
    counts = {}
    for index, kind in enumerate(kinds):
        if index not in shortcuts:  # named after its block, so that it leaves the others' numbers as they are
            counts[kind.base] = counts.get(kind.base, 0) + 1
    seen = {}
    numbered = []
    for index, kind in enumerate(kinds):
        if index not in shortcuts:
            seen[kind.base] = seen.get(kind.base, 0) + 1
        plain = kind.base and counts.get(kind.base) == 1
        numbered.append(kind.base if plain else f"{kind.base}{seen[kind.base]}" if kind.base else None)
    result = []
    previous = "image"
    for index, kind in enumerate(kinds):
        following = next((numbered[i] for i in range(index, len(kinds)) if kinds[i].reads == "vector"), None)
        if index in shortcuts:
            name = output = f"{numbered[shortcuts[index]]}_shortcut"
        else:
            name, output = kind.names(numbered[index], previous, following)
        result.append((name, output))
        previous = name
    return result


def with_shortcuts(layers):
    """``layers`` (parsed, without shortcuts) with a 1x1 conv on every block's shortcut: what a given of them may
    hold, whichever blocks the input they are given makes need one."""
    result = []
    for layer in layers:
        kind = KINDS[layer.kind]
        if kind.joins and not layer.projection:
            result.append(Layer(kind.shortcut_kind, filters=1, size=1))
            layer = layer.replace(projection=True)
        result.append(layer)
    return tuple(result)


def _projected(layers, input_shape):
    """``layers`` with a 1x1 conv on the shortcut of each block whose layers change the shape of what they read
    (the channels or the size), and none on the others', however they came."""
    if not any(KINDS[layer.kind].joins for layer in layers):
        return tuple(layers)
    plain = []
    for layer in layers:
        if KINDS[layer.kind].joins and layer.projection:
            plain[-1:] = []
            layer = layer.replace(projection=False)
        plain.append(layer)
    result, shapes = [], []
    for layer, (name, _) in zip(plain, names(plain)):
        kind = KINDS[layer.kind]
        shape = shapes[-1] if shapes else input_shape
        if kind.joins:
            block_input = shapes[-1 - layer.span] if len(shapes) > layer.span else input_shape
            if block_input != shape:
                shortcut, options = kind.shortcut(name, block_input, shape)
                result.append(Layer(shortcut, **options))
                layer = layer.replace(projection=True)
        result.append(layer)
        try:
            shapes.append(kind.shapes(layer, name, shape, [])[0])
        except InputError:
            return tuple(plain)  # a layer that does not fit: placing every layer says why, knowing what is before it
    return tuple(result)


def given_keys(layers):
    """The names of every parameter and hyperparameter of ``layers``, in order (conv_kernel, conv_bias, ...)."""
    return [key for key, _ in given_key_kinds(layers)]


def given_key_kinds(layers):
    """[(name, (its layer's Kind, its key))] of every parameter and hyperparameter of ``layers``, in order (a
    shortcut conv's hyperparameters follow from its block: no given sets them)."""
    shortcuts = wiring(layers)[1]
    return [
        (f"{name}_{key}", (KINDS[layer.kind], key))
        for index, (layer, (name, _)) in enumerate(zip(layers, names(layers)))
        for key in (*KINDS[layer.kind].param_keys, *(() if index in shortcuts else KINDS[layer.kind].hyper_keys))
    ]


def draw_key_kinds(layers):
    """[(name, (its layer's Kind, its key))] of everything a training-mode given holds drawn (drop_mask)."""
    return [
        (f"{name}_{key}", (KINDS[layer.kind], key))
        for layer, (name, _) in zip(layers, names(layers))
        for key in KINDS[layer.kind].given_draws
    ]


def buffer_key_kinds(layers):
    """[(name, (its layer's Kind, its key))] of every buffer an evaluation-mode given holds (bn_running_mean)."""
    return [
        (f"{name}_{key}", (KINDS[layer.kind], key))
        for layer, (name, _) in zip(layers, names(layers))
        for key in KINDS[layer.kind].given_buffers
    ]


def _check_order(layers):
    kinds = [KINDS[layer.kind] for layer in layers]
    written = [KINDS[layer.kind].spelled for layer in layers]
    outputs = " or ".join(kind.spelled for kind in KINDS.values() if kind.is_output)
    if not kinds or not kinds[-1].is_output:
        raise InputError(f"a network ends in {outputs} (the output and its loss), got {', '.join(written)}")
    if any(kind.is_output for kind in kinds[:-1]):
        raise InputError(f"{outputs} can only be the last layer")
    if len(kinds) < 2 or not kinds[-2].makes_logits:
        raise InputError(f"{written[-1]} must follow a dense layer (the one that gives z), e.g. 'dense 10, softmax'")
    first_flat = next((i for i, kind in enumerate(kinds) if kind.gives == "vector"), len(kinds))
    late = [word for word, kind in zip(written[first_flat + 1 :], kinds[first_flat + 1 :]) if kind.reads == "map"]
    if late:
        raise InputError(f"{late[0]} cannot come after flatten or dense: feature maps come first")
    for index, kind in enumerate(kinds):
        reason = kind.check_place(kinds, index)
        if reason:
            raise InputError(reason)
        if kind.joins and not 1 <= layers[index].span <= index - layers[index].projection:
            raise InputError(f"a {kind.spelled} block of {layers[index].span} layers has {index} before it")


def _check_input(channels, image_size):
    if channels < 1 or image_size < 1:
        raise InputError(f"the input must have at least one channel and one pixel, got {channels}x{image_size}")
    if channels > MAX_SIDE or image_size > MAX_SIDE:
        raise InputError(f"the input is {channels}x{image_size}x{image_size}; at most {MAX_SIDE} is supported")
