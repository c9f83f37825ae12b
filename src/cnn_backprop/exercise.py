"""Exercise sheets for a class: N instances of the seed's exercise, each with its answer key.

Sheet i is the instance ``walkthrough --seed S+i`` draws, with every given value
rounded to ``decimals`` places (or, with ``integers``, small whole numbers), and
its key is computed from exactly those rounded values, so a hand calculation
matches it to the last digit.  Each instance is also saved as the walkthrough's
``given`` JSON, so ``walkthrough --given`` reproduces any key.
"""

import json

import numpy as np

from . import data, explain, walkthrough
from .report import SECTIONS, split_sections

QUESTIONS = [
    "What are the sizes of the outputs of the convolution layer and of the pooling layer?",
    "What are the values of each layer's output before its activation function in the forward pass "
    "(the conv layer before ReLU, the pooled map, and z before the sigmoid)? What are the output and the loss?",
    "What is the gradient of the loss with respect to the kernel weights of the convolution layer "
    "(and with respect to the conv bias)?",
]


def rounded_given(seed, decimals=2, integers=False, pool_stride=1, padding=0):
    """One complete instance with values a person can compute with."""
    drawn = walkthrough.complete_given({"pool_stride": pool_stride, "conv_padding": padding}, seed)
    if integers:
        # Small whole numbers, of both signs in the weights so that the ReLU and the
        # maxima have work to do; a separate stream keeps the image's shape from the seed.
        rng = np.random.default_rng([seed, 1])
        image = np.where(drawn["image"] > 0, rng.integers(1, 4, drawn["image"].shape), 0)
        chosen = {
            "image": image,
            "conv_kernel": rng.integers(-1, 3, drawn["conv_kernel"].shape),
            "conv_bias": int(rng.integers(-1, 2)),
            "fc_weights": rng.integers(-1, 3, len(drawn["fc_weights"])),
            "fc_bias": 0,
        }
    else:
        chosen = {
            key: np.round(drawn[key], decimals)
            for key in ("image", "conv_kernel", "conv_bias", "fc_weights", "fc_bias")
        }
    plain = {key: np.asarray(value).tolist() for key, value in chosen.items()}
    architecture = {key: drawn[key] for key in walkthrough.ARCH_KEYS}
    return walkthrough.complete_given({**architecture, "label": drawn["label"], **plain}, seed)


def sheet_document(given, number, decimals):
    """The sheet: the given values and the three questions, no answers."""
    result = walkthrough.run(given)
    sections = dict(split_sections(explain.format_walkthrough(result, decimals=decimals)))
    return [
        ("title", f"Exercise {number}: backpropagation through a CNN"),
        (
            "text",
            "The network: a convolution layer (the kernel below, with bias), ReLU, max pooling, a fully "
            "connected layer from the flattened pooled map to one output z, and the logistic sigmoid. "
            "The loss is binary cross-entropy; label 0 is a cross, 1 a rectangle.",
        ),
        ("heading", "Given"),
        ("pre", sections["GIVEN"]),
        ("heading", "Find"),
        ("pre", "\n".join(f"{i}. {question}" for i, question in enumerate(QUESTIONS, start=1))),
    ]


def key_document(given, number, decimals):
    """The answer key: every answer, with the arithmetic of every step."""
    result = walkthrough.run(given)
    # Products of two numbers with d decimals have 2d: show that many, so sums are exact.
    # (Whole numbers are shown as whole numbers whatever the decimals.)
    shown = max(2 * decimals, 4)
    sections = dict(split_sections(explain.format_walkthrough(result, explain=True, decimals=shown)))
    blocks = [("title", f"Exercise {number}: answer key")]
    for heading, (title, _) in SECTIONS.items():
        blocks += [("heading", title), ("pre", sections[heading])]
    return blocks


def given_json(given):
    """The instance as the walkthrough's --given JSON."""
    return json.dumps({key: np.asarray(value).tolist() for key, value in given.items()}, indent=2) + "\n"


def instances(count, seed, decimals=2, integers=False, pool_strides=(1,), paddings=(0,)):
    """The ``count`` instances of a class set: sheet i from seed ``seed + i``, with the
    i-th pool stride and padding of the lists, cycling (so [1, 2] alternates)."""
    return [
        rounded_given(seed + i, decimals, integers, pool_strides[i % len(pool_strides)], paddings[i % len(paddings)])
        for i in range(count)
    ]


def label_counts(givens):
    labels = [given["label"] for given in givens]
    return {data.CLASSES[label]: labels.count(label) for label in (0, 1)}
