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


def rounded_given(seed, decimals=2, integers=False, pool_stride=None, padding=None, net=SEED_SPEC, source="shapes"):
    """One complete instance with values a person can compute with; the image is drawn from ``source``."""
    choices = architecture_choices(net, pool_stride, padding)
    drawn = walkthrough.complete_given({"net": net, **choices}, seed, source=source)
    arch = walkthrough.architecture_of(drawn)
    params = list(arch.param_shapes())
    if integers:
        # Small whole numbers, of both signs in the weights so that the ReLU and the
        # maxima have work to do; a separate stream keeps the image's shape from the seed.
        rng = np.random.default_rng([seed, 1])
        chosen = {"image": np.where(drawn["image"] > 0, rng.integers(1, 4, np.shape(drawn["image"])), 0)}
        for named in arch.named:
            shapes = {key: np.shape(drawn[full]) for key, full in named.params.items()}
            drawn_ints = named.kind_of.integers(shapes, rng)
            chosen.update({named.params[key]: value for key, value in drawn_ints.items()})
    else:
        chosen = {key: np.round(drawn[key], decimals) for key in ("image", *params)}
    plain = {key: np.asarray(value).tolist() for key, value in chosen.items()}
    kept = {key: drawn[key] for key in ("net", "classes") if key in drawn}
    hyper = {key: drawn[key] for key in arch.hyper()}
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


def sheet_document(pass_, number, decimals):
    """The sheet of an instance (its Pass): the given values and the three questions, no answers."""
    given_section = explain.sections(pass_, decimals=decimals)[0]
    return [
        ("title", f"Exercise {number}: backpropagation through a CNN"),
        ("text", _network_text(pass_.given)),
        ("heading", "Given"),
        ("pre", explain.section_text(given_section)),
        ("heading", "Find"),
        ("pre", "\n".join(f"{i}. {question}" for i, question in enumerate(QUESTIONS, start=1))),
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
    against the network before anything is written.  Returns (the instances, the folder)."""
    from . import files
    from .check import Key, template, template_csv
    from .report import write_document

    if decimals > 10:
        raise InputError(f"--decimals must be at most 10 for a sheet to be done by hand, got {decimals}")
    for padding in paddings:
        for pool_stride in pool_strides:
            chosen = (("padding", padding), ("pool-stride", pool_stride))
            where = " with ".join(f"--{name} {value}" for name, value in chosen if value is not None) or "--net"
            walkthrough.complete_given({"net": net, **architecture_choices(net, pool_stride, padding)}, 0, where)
    directory = files.output_dir(out)
    givens = instances(count, seed, decimals, integers, pool_strides, paddings, net, source)
    width = len(str(count))
    for number, given in enumerate(givens, start=1):
        stem = directory / f"exercise_{number:0{width}d}"
        key = Key(given)
        sheet, answers = sheet_document(key.pass_, number, decimals), key_document(key.pass_, number, decimals)
        for suffix in (".md", ".html"):
            write_document(sheet, stem.with_suffix(suffix))
            write_document(answers, stem.with_name(stem.name + "_key" + suffix))
        blank = {
            ".json": given_json(given),
            "_answers.json": walkthrough.to_json(template(key)) + "\n",
            "_answers.csv": template_csv(key),
        }
        for suffix, text in blank.items():
            path = stem.with_name(stem.name + suffix)
            files.atomic_write(path, lambda handle, text=text: handle.write(text.encode()))
    return givens, directory
