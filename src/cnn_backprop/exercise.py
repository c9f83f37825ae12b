"""Exercise sheets for a class: N instances of the seed's exercise (on any network), each with its answer key.

Sheet i is the instance ``walkthrough --seed S+i`` draws, with every given value
rounded to ``decimals`` places (or, with ``integers``, small whole numbers), and
its key is computed from exactly those rounded values, so a hand calculation
matches it to the last digit.  Each instance is also saved as the walkthrough's
``given`` JSON, so ``walkthrough --given`` reproduces any key.
"""

import json

import numpy as np

from . import explain, walkthrough
from .architecture import SEED_SPEC, names, parse
from .kinds import KINDS
from .report import TITLES
from .validate import InputError

QUESTIONS = [
    "What are the sizes of the outputs of the convolution layer and of the pooling layer?",
    "What are the values of each layer's output before its activation function in the forward pass "
    "(the conv layer before ReLU, the pooled map, and z before the sigmoid)? What are the output and the loss?",
    "What is the gradient of the loss with respect to the kernel weights of the convolution layer "
    "(and with respect to the conv bias)?",
]


def architecture_choices(net, pool_stride=None, padding=None):
    """The given keys that set every pooling layer's stride and every conv layer's padding (None: the spec's)."""
    chosen = {"pool_stride": pool_stride, "padding": padding}
    layers = parse(net)
    return {
        f"{name}_{key}": chosen[choice]
        for layer, (name, _) in zip(layers, names(layers))
        for choice, key in KINDS[layer.kind].exercise_choices.items()
        if chosen[choice] is not None
    }


# Integer instances: how many draws to try for one a person can work by hand, and what that means.
INTEGER_TRIES = 200
HAND_LIMIT = 20  # every value before the output layer within +-20
MARKED_DECIMALS = 4  # check's default: answers right within one unit of their 4th decimal
LOGIT_SPREAD = 8  # z's largest minus smallest (|z| for one): no probability 0 or 1 to 4 decimals
# A layer whose outputs each read more than FAN_IN inputs (the seed's 3x3 kernel reads 9) keeps about THINNED of
# its weights per output and sets the others to 0: fewer products to do, and sums that stay small.
FAN_IN, THINNED = 9, 5


def integer_side(given, channels, side):
    """``side`` if the network of ``given`` (its net and hyperparameters) fits an image of it, else the least side
    up from it where every map is at least 2x2 (or, failing that, where it fits at all): a two-conv network does
    not fit the 5x5 shapes."""
    fits = {}
    for candidate in range(side, 65):
        try:
            image = np.zeros((channels, candidate, candidate))
            fits[candidate] = walkthrough.architecture_of({**given, "image": image})
        except InputError:
            continue
    if side in fits or not fits:
        return side  # an image of any size does not fit: the network's own message comes later
    roomy = [s for s, arch in fits.items() if all(min(n.out_shape[1:] or (2,)) >= 2 for n in arch.named)]
    return min(roomy or fits)


def integer_image(seed, given, source):
    """The image of an integer instance of ``given`` (its net and choices): the data's, or where the network does
    not fit it, one of ``integer_side`` with the data's image in its corner and pixels on by chance elsewhere."""
    image = np.asarray(walkthrough.complete_given({}, seed, source=source)["image"], dtype=float)
    image = image if image.ndim == 3 else image[None]
    side = integer_side(given, len(image), image.shape[-1])
    if side == image.shape[-1]:
        return image
    wide = np.random.default_rng([seed, 2]).integers(0, 2, (len(image), side, side)).astype(float)
    wide[:, : image.shape[1], : image.shape[2]] = image
    return wide


def _integer_draw(arch, image, rng):
    """One draw of whole-number parameters, by each kind's ``integers``, thinned where they are many (FAN_IN)."""
    chosen = {"image": image}
    for named in arch.named:
        shapes = {key: named.param_shapes[full] for key, full in named.params.items()}
        for key, value in named.kind_of.integers(shapes, rng).items():
            value = np.asarray(value)
            fan_in = int(np.prod(value.shape[1:]))
            if value.ndim > 1 and fan_in > FAN_IN:
                value = np.where(rng.random(value.shape) < THINNED / fan_in, value, 0)
            chosen[named.params[key]] = value
    return chosen


def _by_hand(pass_):
    """How far an instance is from one a person can work by hand: 0 when every value before the output is within
    HAND_LIMIT, z within LOGIT_SPREAD, every activation changes the gradient it passes back (a ReLU's mask stops
    some) and no parameter's gradient is all 0."""
    arch = pass_.arch
    hidden = max(float(np.abs(pass_.values[n.output]).max()) for n in arch.named if not n.kind_of.is_output)
    z = pass_.values[arch.named[-1].input]
    spread = float(z.max() - z.min()) if z.size > 1 else float(abs(z[0]))
    idle = sum(
        bool(np.array_equal(pass_.grads[n.input], pass_.grads[n.output])) for n in arch.named if n.kind_of.activation
    )
    still = sum(not np.any(pass_.grads[name]) for name in pass_.params)
    return max(hidden - HAND_LIMIT, 0) + max(spread - LOGIT_SPREAD, 0) + idle + still


def integer_given(seed, drawn, kept, hyper):
    """A whole-number instance: of INTEGER_TRIES draws, the first a person can work by hand (``_by_hand``),
    else the nearest.  Pixels 0-3 (the drawn shape's where it has one), weights by each kind's ``integers``."""
    arch = walkthrough.architecture_of(drawn)
    # a separate stream keeps the image's shape from the seed
    rng = np.random.default_rng([seed, 1])
    best = None
    for _ in range(INTEGER_TRIES):
        image = np.where(drawn["image"] > 0, rng.integers(1, 4, np.shape(drawn["image"])), 0)
        plain = {key: np.asarray(value).tolist() for key, value in _integer_draw(arch, image, rng).items()}
        given = walkthrough.complete_given({**kept, **hyper, "label": drawn["label"], **plain}, seed)
        distance = _by_hand(walkthrough.run(given))
        if best is None or distance < best[0]:
            best = (distance, given)
        if distance == 0:
            break
    return best[1]


def rounded_given(seed, decimals=2, integers=False, pool_stride=None, padding=None, net=SEED_SPEC, source="shapes"):
    """One complete instance with values a person can compute with; the image is drawn from ``source``.

    With ``integers``, an image of the least side the network fits from the data's up, and whole-number
    parameters chosen so that every value up to z is small and whole (or a short decimal after an average pool
    or a leaky ReLU; tanh, sigmoid and batch norm give what they give)."""
    choices = architecture_choices(net, pool_stride, padding)
    if integers:
        choices["image"] = integer_image(seed, {"net": net, **choices}, source).tolist()
    drawn = walkthrough.complete_given({"net": net, **choices}, seed, source=source)
    arch = walkthrough.architecture_of(drawn)
    params = list(arch.param_shapes())
    kept = {key: drawn[key] for key in ("net", "classes") if key in drawn}
    hyper = {key: drawn[key] for key in arch.hyper()}
    if integers:
        return integer_given(seed, drawn, kept, hyper)
    chosen = {key: np.round(drawn[key], decimals) for key in ("image", *params)}
    plain = {key: np.asarray(value).tolist() for key, value in chosen.items()}
    return walkthrough.complete_given({**kept, **hyper, "label": drawn["label"], **plain}, seed)


def _network_text(given):
    if "net" not in given:
        return ("The network: a convolution layer (the kernel below, with bias), ReLU, max pooling, a fully "
                "connected layer from the flattened pooled map to one output z, and the logistic sigmoid. "
                "The loss is binary cross-entropy; label 0 is a cross, 1 a rectangle.")  # fmt: skip
    classes = walkthrough.classes_of(given)
    return (
        f"The network, layer by layer: {given['net']} (z is the last dense layer's output). The loss is "
        f"cross-entropy; the classes are {', '.join(f'{k} = {name}' for k, name in enumerate(classes))}."
    )


def questions(key):
    """The three questions of a sheet: the seed's own words for the seed network, else every quantity named,
    layer by layer, as the answer templates have them (``key`` a check.Key)."""
    if "net" not in key.pass_.given:
        return QUESTIONS
    asked = {part: [name for p, name in key.quantities() if p == part] for part in ("shapes", "forward", "backward")}
    return [
        f"What are the sizes of the outputs of {', '.join(asked['shapes'])}?",
        f"What are the values of {', '.join(n for n in asked['forward'] if n not in ('output', 'loss'))} (each layer's "
        "output, before its activation where it has one)? What are the output and the loss?",
        f"What are {', '.join('dL/d' + n for n in asked['backward'])} (the gradients of the loss, from the output "
        "back to the first layer)?",
    ]


def beyond_limits(key, integers=False, decimals=MARKED_DECIMALS):
    """What of an instance (its check.Key) breaks the limits the sheets promise, as sentences: p(label) that
    rounds to 0 at the marking's decimals (its loss cannot be worked from rounded answers), and on an integer
    sheet, logits further apart than LOGIT_SPREAD (where no draw of INTEGER_TRIES kept them closer)."""
    pass_ = key.pass_
    z = pass_.values[pass_.arch.named[-1].input]
    p = key.arch.output.probabilities(pass_.values["output"][None])[0, pass_.label]
    found = []
    if p < 0.5 * 10.0**-decimals:
        found.append(f"p(label) = {p:.2g} rounds to 0 at {decimals} decimals, so the loss cannot be worked from "
                     "rounded answers")  # fmt: skip
    spread = float(z.max() - z.min()) if z.size > 1 else float(abs(z[0]))
    if integers and spread > LOGIT_SPREAD:
        found.append(f"the logits z span {spread:g}, more than the {LOGIT_SPREAD} an integer sheet keeps to")
    return found


def sheet_document(key, number, decimals, note=()):
    """The sheet of an instance (its check.Key): the given values and the three questions, no answers; and
    ``note``, what of it is beyond the sheets' limits (``beyond_limits``)."""
    pass_ = key.pass_
    given_section = explain.sections(pass_, decimals=decimals)[0]
    return [
        ("title", f"Exercise {number}: backpropagation through a CNN"),
        ("text", _network_text(pass_.given)),
        *([("text", f"Note: {'; '.join(note)}.")] if note else []),
        ("heading", "Given"),
        ("pre", explain.section_text(given_section)),
        ("heading", "Find"),
        ("pre", "\n".join(f"{i}. {question}" for i, question in enumerate(questions(key), start=1))),
    ]


def key_document(pass_, number, decimals):
    """The answer key of an instance (its Pass): every answer, with the arithmetic of every step."""
    # Products of two numbers with d decimals have 2d: show that many, so sums are exact.
    # (Whole numbers are shown as whole numbers whatever the decimals.)
    shown = max(2 * decimals, 4)
    blocks = [("title", f"Exercise {number}: answer key")]
    for section in explain.sections(pass_, explain=True, decimals=shown):
        blocks += [("heading", TITLES[section.key]), ("pre", explain.section_text(section))]
    return blocks


def given_json(given):
    """The instance as the walkthrough's --given JSON."""
    return json.dumps({key: np.asarray(value).tolist() for key, value in given.items()}, indent=2) + "\n"


def instances(count, seed, decimals=2, integers=False, pool_strides=(None,), paddings=(None,), net=SEED_SPEC,
              source="shapes"):  # fmt: skip
    """The ``count`` instances of a class set: sheet i from seed ``seed + i``, with the
    i-th pool stride and padding of the lists, cycling (so [1, 2] alternates)."""
    strides, pads = pool_strides, paddings
    return [
        rounded_given(seed + i, decimals, integers, strides[i % len(strides)], pads[i % len(pads)], net, source)
        for i in range(count)
    ]


def label_counts(givens):
    """How many sheets show each class, by class name."""
    counts = {}
    for given in givens:
        name = walkthrough.classes_of(given)[given["label"]]
        counts[name] = counts.get(name, 0) + 1
    return counts


def write_sheets(out, count, seed=0, decimals=2, integers=False, pool_strides=(None,), paddings=(None,),
                 net=SEED_SPEC, source="shapes"):  # fmt: skip
    """Write ``count`` sheets into the folder ``out`` (made if needed): for sheet N, exercise_N.md/.html (the
    sheet), exercise_N_key.md/.html (its key), exercise_N.json (the instance) and exercise_N_answers.json/.csv
    (blank answers for check); N zero-padded to the width of ``count``.  Every pool stride and padding is checked
    against the network before anything is written.  Returns (the instances, the folder, {N: what of sheet N is
    beyond the marking's limits}, for the sheets that are)."""
    from . import files
    from .check import Key, template, template_csv
    from .report import write_document

    if decimals > 10:
        raise InputError(f"--decimals must be at most 10 for a sheet to be done by hand, got {decimals}")
    for padding in paddings:
        for pool_stride in pool_strides:
            chosen = (("padding", padding), ("pool-stride", pool_stride))
            where = " with ".join(f"--{name} {value}" for name, value in chosen if value is not None) or "--net"
            given = {"net": net, **architecture_choices(net, pool_stride, padding)}
            if integers:
                given["image"] = integer_image(0, given, source).tolist()
            walkthrough.complete_given(given, 0, where)
    directory = files.output_dir(out)
    givens = instances(count, seed, decimals, integers, pool_strides, paddings, net, source)
    width = len(str(count))
    beyond = {}
    for number, given in enumerate(givens, start=1):
        stem = directory / f"exercise_{number:0{width}d}"
        key = Key(given)
        note = beyond_limits(key, integers)
        if note:
            beyond[number] = note
        sheet, answers = sheet_document(key, number, decimals, note), key_document(key.pass_, number, decimals)
        for suffix in (".md", ".html"):
            write_document(sheet, stem.with_suffix(suffix))
            write_document(answers, stem.with_name(stem.name + "_key" + suffix))
        blank = {
            ".json": given_json(given),
            "_answers.json": walkthrough.to_json(template(key, number)) + "\n",
            "_answers.csv": template_csv(key, number),
        }
        for suffix, text in blank.items():
            path = stem.with_name(stem.name + suffix)
            files.atomic_write(path, lambda handle, text=text: handle.write(text.encode()))
    return givens, directory, beyond
