"""add: a residual block's end, by hand; how a spec writes blocks and names their layers; the shortcut's 1x1 conv
where the block changes the shape; its mistakes made by plain loops (PyTorch, the loop reference, finite
differences: tests/test_residual.py and tests/test_every_kind.py, on its example network)."""

import numpy as np
import pytest

from cnn_backprop.architecture import Architecture, parse
from cnn_backprop.kinds.add import Add
from cnn_backprop.network import Network
from cnn_backprop.validate import InputError

BLOCK = "conv 8x3x3 pad 1, batchnorm, relu, conv 8x3x3 pad 1, batchnorm"
NET = f"conv 8x3x3 pad 1, relu, residual({BLOCK}), relu, globalavgpool, dense 10, softmax"


def test_add_by_hand():
    layer = Add()
    a, b = np.arange(4.0).reshape(1, 1, 2, 2), np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    np.testing.assert_array_equal(layer.forward((a, b)), [[[[10.0, 21.0], [32.0, 43.0]]]])
    grad = np.array([[[[1.0, -2.0], [0.5, 3.0]]]])
    for part in layer.backward(grad):  # d(a + b)/da = d(a + b)/db = 1: each gets the whole gradient
        np.testing.assert_array_equal(part, grad)


def test_a_block_is_its_layers_then_an_add_reading_its_last_output_and_its_input():
    arch = Architecture.parse(NET, 1, 8)
    assert str(arch) == NET and Architecture.parse(str(arch), 1, 8) == arch
    named = {n.name: n for n in arch.named}
    assert [n.name for n in arch.named][:9] == [
        "conv1", "conv1_relu", "conv2", "bn1", "bn1_relu", "conv3", "bn2", "res", "res_relu"
    ]  # fmt: skip
    assert named["res"].output == "res_add" and named["res"].inputs == ("bn2", "conv1_relu")
    assert named["conv2"].inputs == ("conv1_relu",) and named["res_relu"].input == "res_add"
    assert not arch.is_stack and arch.param_shapes().keys() == Architecture.parse(NET.replace(
        f"residual({BLOCK})", BLOCK), 1, 8).param_shapes().keys()  # fmt: skip


def test_a_block_that_changes_the_channels_and_size_gets_a_1x1_conv_shortcut_named_after_it():
    net = (
        "conv 8x3x3 pad 1, relu, residual(conv 16x3x3 stride 2 pad 1, batchnorm, relu, conv 16x3x3 pad 1, "
        "batchnorm), relu, residual(conv 16x3x3 pad 1, relu, conv 16x3x3 pad 1), globalavgpool, dense 10, softmax"
    )
    arch = Architecture.parse(net, 1, 7)
    assert str(arch) == net and Architecture.parse(str(arch), 1, 7) == arch
    shortcut = arch.layer("res1_shortcut")
    assert str(shortcut.layer) == "conv 16x1x1 stride 2" and shortcut.inputs == ("conv1_relu",)
    assert shortcut.in_shape == (8, 7, 7) and shortcut.out_shape == arch.layer("res1").in_shape
    assert arch.layer("res1").inputs[1] == "res1_shortcut" and arch.layer("res2").inputs[1] == "res1_relu"
    assert list(shortcut.params.values()) == ["res1_shortcut_kernel", "res1_shortcut_bias"]
    # the shortcut takes no number from the network's convs: the block's second conv is still conv3
    assert [n.name for n in arch.named if n.kind == "conv"] == ["conv1", "conv2", "conv3", "res1_shortcut",
                                                                "conv4", "conv5"]  # fmt: skip
    assert Architecture(arch.layers, 1, 7) == arch  # the shortcut is implied: placing it again changes nothing


def test_the_shortcut_follows_the_input_it_is_given():
    spec = "residual(conv 2x3x3 pad 1, relu), dense 2, softmax"
    assert [n.name for n in Architecture.parse(spec, 2, 5).named][:3] == ["conv", "conv_relu", "res"]
    one = Architecture.parse(spec, 1, 5)
    assert [n.name for n in one.named][:4] == ["conv", "conv_relu", "res_shortcut", "res"]
    assert one.layer("res_shortcut").inputs == ("image",)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("residual(conv 2x2x2, relu), dense 2, softmax", "which no 1x1 shortcut conv can"),
        ("residual(conv 2x3x3 pad 2), dense 2, softmax", "which no 1x1 shortcut conv can"),
        ("residual(), dense 2, softmax", "empty item"),
        ("residual(conv 2x3x3 pad 1, dense 3), dense 2, softmax", "holds layers of feature maps, not dense"),
        ("residual(conv 2x3x3 pad 1, residual(relu)), dense 2, softmax", "cannot hold another block"),
        ("residual(conv 2x3x3 pad 1, dense 2, softmax", "opens 1 parentheses and closes 0"),
        ("relu(conv 2x3x3 pad 1), dense 2, softmax", "parentheses hold a block's layers; write residual("),
        ("residual, dense 2, softmax", "writes its layers in parentheses"),
        ("conv 2x3x3, dense 3, residual(relu), dense 2, softmax", "residual cannot come after flatten or dense"),
    ],
)
def test_a_block_written_wrong_is_one_clear_line(spec, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as error:
        Architecture.parse(spec, 1, 5)
    assert "\n" not in str(error.value)


def test_a_stack_parses_as_before():
    spec = "conv 8x3x3 pad 1, relu, maxpool 2, conv 16x3x3 pad 1, relu, maxpool 2, dense 10, softmax"
    assert [str(layer) for layer in parse(spec)] == [*spec.split(", ")[:-2], "flatten", "dense 10", "softmax"]
    assert Architecture.parse(spec, 1, 8).is_stack


def test_the_block_input_gets_the_sum_of_both_paths():
    arch = Architecture.parse("conv 2x3x3 pad 1, residual(conv 2x3x3 pad 1, relu), dense 3, softmax", 1, 5)
    rng = np.random.default_rng(0)
    params = {name: rng.normal(0, 1, shape) for name, shape in arch.param_shapes().items()}
    network = Network(arch, params)
    network.forward(rng.normal(0, 1, (2, 1, 5, 5)), np.array([0, 2]))
    grads = network.backward()
    parts = network.parts["conv1_pre"]
    assert list(network.parts) == ["conv1_pre"] and set(parts) == {"res", "conv2"}
    np.testing.assert_array_equal(parts["res"], grads["res_add"])  # the shortcut's part: dL/dres_add itself
    np.testing.assert_allclose(parts["res"] + parts["conv2"], grads["conv1_pre"], rtol=0, atol=1e-15)


# The mistakes, by their own loops (tests/test_mistakes.py makes each at every block).


def _shortcut_part(pass_, named):
    """What the shortcut passes back to the block's input: dL/dres_add itself, or through the 1x1 conv's kernel
    (each output (f, i, j) read input (c, S*i, S*j) once, with weight kernel[f, c, 0, 0])."""
    grad = pass_.grads[named.output]
    if named.inputs[1] not in {n.output for n in pass_.arch.named if n.kind == "conv"}:
        return grad
    shortcut = pass_.arch.layer(named.inputs[1])
    kernel, stride = pass_.params[shortcut.params["kernel"]], shortcut.layer.stride
    out = np.zeros(shortcut.in_shape)
    for f, i, j in np.ndindex(grad.shape):
        for c in range(shortcut.in_shape[0]):
            out[c, stride * i, stride * j] += grad[f, i, j] * kernel[f, c, 0, 0]
    return out


def shortcut_dropped(pass_, named):
    """The block's input's gradient from the block's layers alone."""
    source = pass_.arch.layer(named.inputs[1]).input if "_shortcut" in named.inputs[1] else named.inputs[1]
    return "backward", source, pass_.grads[source] - _shortcut_part(pass_, named)


def halved(pass_, named):
    """Half of dL/dres_add to the block's last layer."""
    return "backward", named.input, pass_.grads[named.output] / 2


MISTAKES = {"shortcut-gradient-dropped": shortcut_dropped, "add-gradient-halved": halved}
