"""The contract of a layer kind: what each kind's module defines, with the defaults most kinds keep.

A kind is a small object with attributes that describe it and methods that
do its part of every view.  The methods take the pieces they work on:
``layer`` is a spec item (``architecture.Layer``, the kind's options as
attributes), ``named`` a layer placed in an architecture (``architecture.Named``:
its name, input and output names and shapes), ``p`` a pass as the text views
see it (``explain.Text``: values and gradients in full shape, and how to write them).
"""

import inspect
import re
from dataclasses import dataclass

import numpy as np

MAX_SIDE = 1024  # a padded map, channels, filters or dense outputs: far beyond any exercise, and fits in memory


@dataclass(frozen=True)
class Option:
    """A keyed option of a kind in a spec, e.g. conv's ``pad P``.

    ``key`` is the option's name in code and in a given file (``conv_padding``),
    ``word`` what a spec writes (``pad``).  ``default`` is a value, or a
    function of the layer's other options (a pool's stride is its size).
    """

    key: str
    word: str
    default: object
    minimum: float = 0
    number: type = int

    def read(self, text, fail):
        if self.number is int:
            if not re.fullmatch(r"\d+", text) or int(text) < self.minimum:
                fail(f"{text!r} is not a whole number >= {self.minimum}")
            return int(text)
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value >= self.minimum or value == float("inf"):
            fail(f"{text!r} is not a number >= {self.minimum:g}")
        return value

    def default_for(self, values):
        return self.default(values) if callable(self.default) else self.default


class Kind:
    """One layer kind.  Subclasses set the attributes and override the methods that differ from these defaults."""

    name = ""  # the kind's name, its files' (kinds/NAME.py), and the word in a spec unless ``word`` says another
    word = ""  # the word in a spec where two kinds share one (sigmoid: the output last, an activation elsewhere)
    order = 0  # where the grammar lists it
    usage = ""  # how a spec writes it, e.g. "conv FxKxK [stride S] [pad P]"; default: the name
    example = ""  # one item of a spec, for error messages, e.g. "conv 8x3x3 pad 1"
    example_net = ""  # a network on the 5x5 shapes with it in every place it may stand: the docs and tests show it
    summary = ""  # what it is, one line of the grammar
    base = None  # the base of a numbered layer name (conv, pool, fc); None: named after what it follows
    pools = False  # reduces each channel of a map on its own (its output is a pooled map); base "pool" says so
    options = ()  # its keyed Options, in the order a spec writes them
    sizes = ()  # the options set by the size written right after the kind's name (conv: filters, size)
    hyper_keys = ()  # its hyperparameters, which a given file may set: full names NAME_KEY (pool_stride)
    param_keys = ()  # its parameters, e.g. ("kernel", "bias"); full names are NAME_KEY
    keep = {}  # {parameter key: trailing axes a one-image JSON layout always keeps}
    written = {}  # {parameter key: (the numbers of axes a given file may write it with)}
    torch_keys = {}  # {parameter key: the PyTorch state_dict suffix}
    torch_class = ""  # the torch.nn class its layer is (Conv2d), by which from_torch knows it
    torch_functions = ()  # what a forward calls for it besides its module: function and tensor method names (relu)
    reads = "any"  # "map" (C, H, W), "vector" (D,), or "any"
    gives = "same"  # "map", "vector", or "same" as it reads
    activation = False  # elementwise, named after what it follows: a conv's text says "(before ReLU)"
    title = ""  # an activation's name in text, e.g. "ReLU"
    is_output = False  # the output and its loss, last
    makes_logits = False  # a layer whose output can be z, the logits the output layer reads
    sized_answer = False  # its output size is an answer to question 1 (conv and pooling)
    exercise_choices = {}  # {exercise option: option key}, e.g. pools: {"pool_stride": "stride"}
    kink = None  # where its derivative jumps, for gradcheck's count of kinks: "relu" or "pool"
    can_die = False  # its layer can pass no gradient for any image (a dead ReLU): its layer has ``alive()``
    reshapes = False  # only reshapes (flatten): text and marking read its input's numbers instead
    joins = False  # ends a block written WORD(LAYERS): reads the block's last output and its input (a residual add)
    square = ()  # the parameter keys whose last two axes a given file must write square
    batch_dependent = False  # a batch's images change each other's outputs (batch norm): one pass per batch
    modal = False  # computes otherwise in evaluation mode (model.eval()) than in training: a pass says its mode
    given_buffers = ()  # the buffers an evaluation-mode given holds (a batch norm's running_mean, running_var)
    given_draws = ()  # what it draws at random in training mode, which a training-mode given holds (a dropout's mask)
    mistakes = {}  # {mistake id: what a marker writes}: the mistakes a student can make in this kind

    @property
    def spelled(self):
        """The word a spec writes for it."""
        return self.word or self.name

    @property
    def form(self):
        """How a spec writes it: its usage, or just its word where it takes nothing."""
        return self.usage or self.spelled

    @property
    def option_keys(self):
        """The options its layers have: those its size sets, then the keyed ones (a pool's size and stride)."""
        return (*self.sizes, *(option.key for option in self.options))

    @property
    def spec_usage(self):
        """How a spec writes it, with an example where it takes sizes."""
        return f"{self.form}, e.g. {self.example}" if self.example else self.form

    # The spec -----------------------------------------------------------------------------------------

    def parse_size(self, word, fail):
        """The options the size after the kind's name sets, e.g. ``8x3x3`` -> filters 8, size 3."""
        raise NotImplementedError

    def parse(self, rest, fail):
        """{option: value} from the words after the kind's name; ``fail(why)`` raises the InputError."""
        values = {}
        if self.sizes:
            if not rest:
                fail("its size is missing")
            values.update(self.parse_size(rest[0], fail))
            rest = rest[1:]
        elif rest and not self.options:
            fail(f"{self.spelled} takes no sizes")
        if len(rest) % 2:
            fail(f"{rest[-1]!r} has no value")
        words = {option.word: option for option in self.options}
        for word, text in zip(rest[::2], rest[1::2]):
            option = words.get(word)
            if option is None or option.key in values:
                fail(f"unexpected {word!r}")
            values[option.key] = option.read(text, fail)
        return values

    def defaults(self, values):
        """``values`` with every option the spec left out at its default."""
        full = dict(values)
        for option in self.options:
            if full.get(option.key) is None:
                full[option.key] = option.default_for(full)
        return full

    def write_size(self, layer):
        return ""

    def write(self, layer):
        """The layer as a spec writes it, options at their default left out."""
        size = self.write_size(layer)
        text = f"{self.spelled} {size}" if size else self.spelled
        for option in self.options:
            value = getattr(layer, option.key)
            if value != option.default_for(layer.values()):
                text += f" {option.word} {value:g}"
        return text

    def hyper_minimum(self, key):
        """The least value hyperparameter ``key`` may take in a given file."""
        return next((option.minimum for option in self.options if option.key == key), 1)

    # Names and shapes ----------------------------------------------------------------------------------

    def names(self, own, previous, following):
        """(layer name, output name): ``own`` is its numbered name, ``previous`` the name of the layer before,
        ``following`` the numbered name of the next layer that has one.  The output kind's is output."""
        if self.is_output:
            return "output", "output"
        if self.activation:
            name = f"{previous}_{self.spelled}"
            return name, name
        return own, f"{own}_pre"

    def check_place(self, kinds, index):
        """A reason why this kind cannot stand at ``index`` among ``kinds`` (their Kinds), or None."""
        return None

    def shapes(self, layer, name, in_shape, before):
        """(output shape, {parameter key: shape}) for an input of ``in_shape``; an InputError says what fits."""
        return in_shape, {}

    def sizes_from(self, arrays):
        """The options that a given's arrays set, from {parameter key: array in full shape}."""
        return {}

    def shape_message(self, arch, named, key, written, array, expected):
        """Why a given parameter's array (``written``: its shape as given) does not fit the layer's ``expected``."""
        return f"{named.params[key]} has shape {list(written)}, the network needs {list(expected)}"

    def classes(self, in_shape):
        """How many classes an output layer tells apart."""
        raise NotImplementedError

    # Numbers ---------------------------------------------------------------------------------------------

    def buffers(self, named):
        """{key: initial array} of what its layer keeps besides its parameters (a batch norm's running mean)."""
        return {}

    def init(self, shapes, rng, init):
        """Parameters for {key: shape} drawn from ``rng`` by ``init`` (network.INITS)."""
        return {}

    def draw(self, named, rng):
        """{key: array} of its ``given_draws`` for one image, drawn from ``rng`` (the pass's seed)."""
        return {}

    def torch_with_draws(self, x, layer, draws):
        """What its torch module computes of ``x`` (a tensor) in training mode had it drawn ``draws`` {key: tensor,
        with the batch axis}: how a training-mode pass is compared with PyTorch, whose draws are its own."""
        raise NotImplementedError

    def integers(self, shapes, rng):
        """Small whole-number parameters for a hand exercise."""
        return {}

    def build(self, layer, params, input_grad=True):
        """The vectorised layer: ``params`` {key: array}; ``input_grad`` False skips dL/d(input) (the image's)."""
        raise NotImplementedError

    def reference(self, x, layer, params):
        """The loop reference for one image x: (output, extras, backward), ``backward(grad)`` giving
        (dL/dx, {parameter key: gradient})."""
        raise NotImplementedError

    def torch_module(self, named):
        """The PyTorch constructor of this layer as source text, or None where it is no module (the output)."""
        return None

    def torch_line(self, named, inputs):
        """What a module's forward computes for this layer from ``inputs`` (the names it reads), as source text."""
        return f"self.{named.name}({inputs[0]})"

    def from_torch(self, module, refuse):
        """{option: value} of the layer a ``torch_class`` module is, read back from it.  ``refuse(option, supported)``
        raises the one-line error for an option it cannot compute as PyTorch does, e.g. refuse("dilation=(2, 2)",
        "dilation=(1, 1)"); sizes that follow from the input (a Conv2d's in_channels) are checked by the parameters'
        shapes.
        """
        return {}

    def from_torch_call(self, torch, arguments, shapes, refuse):
        """{option: value} of the layer that a forward's call of one of its ``torch_functions`` is (``F.max_pool2d(x,
        2)``): ``arguments`` {name: value} are the call's besides its input, ``shapes`` (its input's, its output's)
        with the batch axis.  By default, read as its ``torch_class`` module made with those arguments."""
        module_class = getattr(torch.nn, self.torch_class)
        accepted = inspect.signature(module_class).parameters
        return self.from_torch(module_class(**{key: value for key, value in arguments.items() if key in accepted}),
                               refuse)  # fmt: skip

    # Text (explain.py) ----------------------------------------------------------------------------------

    def given_lines(self, p, named):
        """Its given values and options, in the GIVEN section."""
        return []

    def size_lines(self, p, named):
        """Its line of answer 1, the output sizes."""
        return []

    def forward_lines(self, p, named, explain):
        """Its part of answer 2; with ``explain`` the arithmetic of every value."""
        return p.titled(named.output, p.shown(named.output))

    def backward_lines(self, p, named, explain):
        """Its part of answer 3: dL/d(its input) and of its parameters."""
        return []

    def value_line(self, p, named, index):
        """The arithmetic of its output at ``index`` (full index, no batch axis)."""
        return f"    {p.at(named.output, index)} = {p.scalar(p.value[named.output][index])}"

    def input_gradient_line(self, p, named, target, index):
        """dL/d(its input)[index] as the chain rule sums it, after ``target = ``."""
        return f"    {target} = {p.scalar(p.grad[named.input][index])}"

    def param_gradient_line(self, p, named, key, index):
        """dL/d(its parameter ``key``)[index] as a sum."""
        return f"    dL/d{p.at(named.params[key], index)} = {p.scalar(p.grad[named.params[key]][index])}"

    def panels(self, p, named, drawn):
        """Add its figures to ``drawn`` {name: (section, title, array, marks)}; return the backward ones."""
        return {}

    # Marking (check.py) ---------------------------------------------------------------------------------

    def forward_mistakes(self, key, named, x, right):
        """{mistake: its output} from input x, besides the right ``right``."""
        return {}

    def backward_mistakes(self, key, named, layer, x, grad):
        """{mistake: dL/d(its input)} after ``layer.forward(x)``, from dL/d(its output) ``grad``."""
        return {}

    def param_mistakes(self, key, named, param, layer, x, grad):
        """{mistake: dL/d(parameter ``param``)}, after ``layer.forward(x)`` and ``layer.backward(grad)`` (dL/d(its
        output)): the right rule's is ``layer.grads[param]``."""
        return {}

    def shape_mistakes(self, named):
        """{mistake: its output shape (C, H, W)}."""
        return {}

    def post_activation(self, layer, value):
        """What an activation or the output makes of ``value``: the answer of a student who gave it for the value
        before; None for other kinds."""
        if self.activation or self.is_output:
            return self.build(layer, {}).forward(value)
        return None

    # The output kinds ---------------------------------------------------------------------------------

    binary = False  # one P(class 1) rather than one P per class
    default_init = None  # the initialisation (network.INITS) its networks get unless one is chosen
    loss = None  # the name of its loss in an exported PyTorch file
    loss_call = None  # that loss in PyTorch, taking z and the labels
    torch_losses = {}  # {torch.nn loss class it is: what that loss reads, "logits" or "log_softmax" (NLLLoss)}

    def reference_loss(self, z, label):
        """The loop reference of the output and its loss for one image's z: (output, loss, dL/dz)."""
        raise NotImplementedError

    def probabilities(self, output):
        """P(class k) for each image, (N, K), from the output layer's output."""
        raise NotImplementedError

    def target(self, output, labels):
        """What the output would be if it were sure and right, so that dL/dz = output - target."""
        raise NotImplementedError

    def logit_mistakes(self, output, target):
        """{mistake: dL/dz} from the output and the target: every output kind's squared-error form, where the
        output's own derivative is left in (cross-entropy cancels it), and a kind's own."""
        return {"squared-error-gradient": (output - target) * output * (1 - output)}


def weights_and_bias(shapes, rng, init, seed_bias):
    """A weight array and a bias (``shapes``: weights first), drawn as ``init`` says.

    seed: weights ~ U(0, 1) and the bias ``seed_bias``, one draw per array of weights,
    so that the kernel drawn from a seed does not change with what follows it;
    pytorch: weights and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    (weights, weight_shape), (bias, bias_shape) = shapes.items()
    if init == "seed":
        return {weights: rng.uniform(0, 1, weight_shape), bias: np.full(bias_shape, seed_bias)}
    bound = 1 / np.sqrt(np.prod(weight_shape[1:]))  # 1/sqrt(fan_in): inputs per output
    return {weights: rng.uniform(-bound, bound, weight_shape), bias: rng.uniform(-bound, bound, bias_shape)}


def torch_fixed(module, refuse, **supported):
    """Refuse the first attribute of a torch module that is not the value given for it, the one cnn-backprop
    computes with (dilation=(1, 1), ceil_mode=False)."""
    for attribute, value in supported.items():
        if not _same(getattr(module, attribute), value):
            refuse(f"{attribute}={getattr(module, attribute)!r}", f"{attribute}={value!r}")


def _same(value, supported):
    """Whether a torch option is the one supported, a size written as a pair ([0, 0], as F.avg_pool2d's arguments
    come) or as one number alike."""
    if isinstance(value, (list, tuple)) and not isinstance(supported, tuple) and len(set(value)) == 1:
        value = value[0]
    elif isinstance(supported, tuple) and isinstance(value, int):
        value = (value,) * len(supported)
    return tuple(value) == supported if isinstance(value, list) else value == supported


def torch_square(module, attribute, refuse):
    """A torch module's size that is an int or a pair, e.g. kernel_size (3, 3), as the one number of a square
    (our windows, strides and paddings are the same across and down)."""
    value = getattr(module, attribute)
    first, second = (value, value) if isinstance(value, int) else value
    if first != second:
        refuse(f"{attribute}={value!r}", f"the same {attribute} across and down, e.g. {attribute}={first}")
    return first


STRIDE_IGNORED = {
    "stride-ignored": "The backward of a strided layer was done as if its stride were 1: the gradient of output "
    "(i, j) went back to (and for a kernel, was paired with) the window at rows i to i + K - 1; with stride S that "
    "output read rows S*i to S*i + K - 1 (and columns S*j to S*j + K - 1), and its gradient goes back there.",
}


def stride_one_backward(kind, layer, params, x, grad):
    """The ``stride-ignored`` mistake: a strided layer's backward run as if its stride were 1.

    Output (i, j)'s gradient goes back through the window at rows i..i+K-1 and columns j..j+K-1 (where a
    stride-1 layer's output (i, j) reads) instead of rows S*i..S*i+K-1; the outputs a stride-1 layer has beyond
    those of dL/dout get none.  Returns (dL/dx, the stride-1 layer, whose ``grads`` are its parameters').
    """
    one = kind.build(layer.replace(stride=1), params)
    out = one.forward(x)
    spread = np.zeros(out.shape)
    spread[:, :, : grad.shape[2], : grad.shape[3]] = grad
    return one.backward(spread), one


def size_line(named, size, stride, padding=0):
    """Answer 1 for a layer of sliding windows: the formula, with its numbers, and the output's size."""
    w, out = named.in_shape[1], named.out_shape[1]
    channels = f", {named.out_shape[0]} channels" if named.out_shape[0] > 1 else ""
    return (f"    {named.name}: (W - K + 2P) / S + 1 = ({w} - {size} + 2*{padding}) / {stride} + 1 = {out}  ->  "
            f"{out}x{out}{channels}")  # fmt: skip
