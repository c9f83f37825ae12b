"""Networks with residual blocks, drawn at random (blocks at random places, with an identity shortcut or a 1x1 conv
one), against PyTorch float64 (the exported module), the loop reference and finite differences."""

import json

import numpy as np
import pytest
from conftest import module_pass, random_instance, torch_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_page import CHROMIUM, assert_same, browser, open_page, python_result  # noqa: F401 - the fixture
from test_properties import ACTIVATIONS, MAP_TO_MAP, matches_finite_differences, matches_pytorch_and_the_loop_reference

from cnn_backprop import walkthrough
from cnn_backprop.architecture import Architecture, Layer
from cnn_backprop.kinds import KINDS
from cnn_backprop.network import Network

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JOINS = [kind.name for kind in KINDS.values() if kind.joins]


@st.composite
def graphs(draw):
    """A small CNN with 1-3 residual blocks, maybe a conv between them: each block 1-2 convs that keep the size
    (K odd, padding (K - 1) / 2), the first maybe at stride 2, each maybe with a map-to-map layer (batch norm)
    and an activation; the filters are the block input's channels (an identity shortcut) or others (a 1x1
    conv); maybe an activation after the block; then maybe a global pooling, 1 dense layer and the output."""
    image_channels = channels = draw(st.integers(1, 3))
    side = image = draw(st.integers(3, 7))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            channels = draw(st.integers(1, 4))
            layers += [Layer("conv", filters=channels, size=3, padding=1), Layer(draw(st.sampled_from(ACTIVATIONS)))]
        block = []
        filters = draw(st.sampled_from([channels, draw(st.integers(1, 4))]))
        for index in range(draw(st.integers(1, 2))):
            kernel = draw(st.sampled_from([1, 3]))
            stride = draw(st.integers(1, 2)) if index == 0 and side >= 3 else 1
            block.append(Layer("conv", filters=filters, size=kernel, stride=stride, padding=(kernel - 1) // 2))
            side = (side - 1) // stride + 1
            if MAP_TO_MAP and side >= 2 and draw(st.booleans()):
                block.append(Layer(draw(st.sampled_from(MAP_TO_MAP))))
            if draw(st.booleans()):
                block.append(Layer(draw(st.sampled_from(ACTIVATIONS))))
        layers += [*block, Layer(draw(st.sampled_from(JOINS)), span=len(block))]
        channels = filters
        if draw(st.booleans()):
            layers.append(Layer(draw(st.sampled_from(ACTIVATIONS))))
    softmax = draw(st.booleans())
    layers += [Layer("flatten"), Layer("dense", outputs=draw(st.integers(2, 4)) if softmax else 1)]
    layers.append(Layer("softmax" if softmax else "sigmoid"))
    return Architecture(tuple(layers), image_channels, image)


def _close(ours, theirs, tolerance):
    for name, value in theirs.items():
        np.testing.assert_allclose(np.ravel(ours[name]), np.ravel(value), rtol=tolerance, atol=tolerance, err_msg=name)


@FAST
@given(arch=graphs(), seed=st.integers(0, 2**32 - 1))
def test_random_residual_networks_match_pytorch_and_the_loop_reference(arch, seed):
    matches_pytorch_and_the_loop_reference(arch, seed)


@FAST
@given(arch=graphs(), seed=st.integers(0, 2**32 - 1))
def test_every_gradient_of_a_random_residual_network_matches_finite_differences(arch, seed):
    matches_finite_differences(arch, seed)


@FAST
@given(arch=graphs())
def test_a_residual_spec_comes_back_from_its_text(arch):
    assert Architecture.parse(str(arch), arch.channels, arch.image_size) == arch


BASIC = ("conv 8x3x3 pad 1, relu, residual(conv 8x3x3 pad 1, batchnorm, relu, conv 8x3x3 pad 1, batchnorm), relu, "
         "residual(conv 16x3x3 stride 2 pad 1, batchnorm, relu, conv 16x3x3 pad 1, batchnorm), relu, "
         "globalavgpool, dense 10, softmax")  # fmt: skip


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_two_basic_blocks_with_batch_norm_match_pytorch_in_either_mode(mode):
    arch = Architecture.parse(BASIC, 1, 8)
    params, images, labels = random_instance(np.random.default_rng(3), arch, batch=4)
    network = Network(arch, {k: v.copy() for k, v in params.items()}).train(mode == "train")
    forward, backward = network.forward(images, labels), network.backward()
    model, loss = torch_module(arch, params)
    model.train(mode == "train")
    torch_forward, torch_backward = module_pass(model, loss, arch, images, labels)
    _close(forward, torch_forward, 1e-9)
    _close(backward, torch_backward, 1e-9)
    np.testing.assert_allclose(network.buffers["bn1_running_mean"], model.bn1.running_mean.numpy(), atol=1e-12)


def test_the_exported_module_is_traced_by_torch_fx_with_its_adds():
    torch = pytest.importorskip("torch")
    model, _ = torch_module(Architecture.parse(BASIC, 1, 8))
    graph = torch.fx.symbolic_trace(model).graph
    adds = [node for node in graph.nodes if node.op == "call_function" and "add" in str(node.target)]
    assert [[str(arg) for arg in node.args] for node in adds] == [["bn2", "conv1_relu"], ["bn4", "res2_shortcut"]]


ON_THE_PAGE = [
    (BASIC, 1, 8),
    ("residual(conv 2x3x3 stride 2 pad 1, relu, conv 2x3x3 pad 1), relu, residual(conv 3x1x1), dense 3, softmax", 1, 7),
]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_pages_engine_runs_residual_networks_as_python_does(browser, tmp_path):  # noqa: F811 - the fixture
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0))
    givens = []
    for net, channels, side in ON_THE_PAGE:
        image = np.random.default_rng(side).normal(0, 1, (channels, side, side)).tolist()
        for mode in ("train", "eval"):
            given = walkthrough.complete_given({"net": net, "image": image, "mode": mode}, seed=side)
            givens.append(json.loads(walkthrough.to_json({"g": given}))["g"])
    results = tab.evaluate("(givens) => givens.map((g) => window.cnnBackprop.run(g))", givens)
    for given, ours in zip(givens, results):
        theirs = python_result(given)
        assert "res1_shortcut" in theirs["shapes"] or "res2_shortcut" in theirs["shapes"]
        for part in ("shapes", "forward", "backward"):
            assert list(ours[part]) == list(theirs[part]), (given["net"], part)
            assert_same(ours[part], theirs[part], f"{given['net']}: {part}")
    assert tab.errors == []


@pytest.mark.parametrize(
    "net, why",
    [
        ("residual(conv 2x2x2), dense 2, softmax", "which no 1x1 shortcut conv can"),
        ("residual(conv 2x3x3 pad 1, dense 2, softmax", "opens 1 parentheses and closes 0"),
        ("conv 2x3x3, residual(conv 2x3x3 pad 2), dense 2, softmax", "res: its layers make a 3x3 map 5x5"),
    ],
)
def test_a_block_that_cannot_be_is_one_line_and_status_2(net, why, capsys):
    from cnn_backprop.cli import main

    assert main(["walkthrough", "--net", net]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("cnn-backprop: error: ") and why in err and err.count("\n") == 1


def test_the_json_of_a_value_read_twice_holds_its_parts_which_add_up_to_its_gradient():
    net = "conv 2x3x3 pad 1, relu, residual(conv 3x3x3 stride 2 pad 1, relu, conv 3x3x3 pad 1), relu, dense 2, softmax"
    layout = json.loads(walkthrough.to_json(walkthrough.run(walkthrough.complete_given({"net": net}, seed=2))))
    parts = layout["parts"]
    assert list(parts) == ["conv1_relu"] and list(parts["conv1_relu"]) == ["res_shortcut", "conv2"]
    total = np.add(*(np.asarray(part) for part in parts["conv1_relu"].values()))
    np.testing.assert_allclose(total, layout["backward"]["conv1_relu"], rtol=0, atol=1e-15)
    stack = json.loads(walkthrough.to_json(walkthrough.run(walkthrough.complete_given({}, seed=2))))
    assert list(stack) == ["given", "shapes", "forward", "backward", "torch"]
