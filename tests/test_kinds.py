"""The registry of layer kinds: every kind has every piece, and a kind that lacks one is named with what it lacks."""

import pytest

from cnn_backprop.architecture import Architecture, grammar
from cnn_backprop.kinds import KINDS, Kind, missing
from cnn_backprop.kinds.relu import Relu


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_has_every_piece(name):
    assert missing(KINDS[name]) == []


def test_an_incomplete_kind_is_reported_by_name_and_piece():
    class Half(Kind):
        name = "half"
        summary = "half a kind: a grammar and nothing else"
        example_net = "conv 1x3x3, half, dense 1, sigmoid"
        activation = True

    assert missing(Half()) == [
        "engine (build)",
        "reference (loops)",
        "explain (value_line, input_gradient_line)",
        "torch module",
        "page (explorer/kinds/NAME.js)",
    ]

    class NoPage(Relu):
        name = "nopage"

    assert missing(NoPage()) == ["page (explorer/kinds/NAME.js)"]

    class Named(Relu):  # named pool1, pool2 as a pooling layer is, but not saying that it pools
        name, base, activation = "relu", "pool", False

    assert missing(Named()) == ["what its base implies (base 'pool': pools, reading and giving maps)"]


def test_the_grammar_lists_every_kind_in_order_with_its_usage():
    lines = grammar().splitlines()
    listed = [line.split()[0].split("(")[0] for line in lines if line.startswith("    ")]  # residual(LAYERS)
    assert listed == [kind.spelled for kind in KINDS.values()]
    assert "    conv FxKxK [stride S] [pad P]" in grammar()


def test_names_come_from_the_kinds():
    arch = Architecture.parse(
        "conv 2x3x3, relu, maxpool 2, conv 2x1x1, relu, avgpool 1, dense 3, relu, dense 2, softmax", 1, 6
    )
    names = [(n.name, n.output) for n in arch.named]
    assert names == [
        ("conv1", "conv1_pre"),
        ("conv1_relu", "conv1_relu"),
        ("pool1", "pool1"),
        ("conv2", "conv2_pre"),
        ("conv2_relu", "conv2_relu"),
        ("pool2", "pool2"),
        ("fc1_input", "fc1_input"),
        ("fc1", "fc1_pre"),
        ("fc1_relu", "fc1_relu"),
        ("fc2", "fc2_pre"),
        ("output", "output"),
    ]
