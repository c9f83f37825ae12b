"""Property-based tests over random architectures and values, and fuzzing of every parser.

Values are drawn from a NumPy generator seeded by hypothesis, so they are
continuous (no exact ReLU zeros or pooling ties for a finite difference to
straddle) while the architecture and the seed still shrink to a minimal case.
"""

import io
import json
import zipfile

import numpy as np
import pytest
from conftest import KINK_OUT_OF_REACH, KINK_SEED, random_instance, torch_pass
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from cnn_backprop import files, reference, walkthrough
from cnn_backprop.architecture import Architecture, Layer, parse_layer
from cnn_backprop.gradcheck import TOLERANCE, check_network, step_dependent
from cnn_backprop.kinds import KINDS
from cnn_backprop.layers import output_size
from cnn_backprop.network import Network
from cnn_backprop.validate import InputError

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# The registry's kinds by role, so that a new kind joins the random stacks where it may stand.
ACTIVATIONS = [kind.name for kind in KINDS.values() if kind.activation]
POOLS = [kind.name for kind in KINDS.values() if kind.pools and {"size", "stride"} <= set(kind.option_keys)]
WHOLE_MAP_POOLS = [kind.name for kind in KINDS.values() if kind.pools and not kind.option_keys]  # to 1x1
# Kinds that take anything and give it back as it is shaped, not activations (dropout): drawn after activations,
# as their example writes them.
ANYWHERE = [parse_layer(kind.example or kind.name) for kind in KINDS.values()
            if (kind.reads, kind.gives) == ("any", "same") and not kind.activation and not kind.is_output]  # fmt: skip
# Kinds that read a map and give one of the same size (batch norm): drawn right after a conv layer.
MAP_TO_MAP = [
    kind.name
    for kind in KINDS.values()
    if (kind.reads, kind.gives) == ("map", "map") and not kind.sized_answer and not kind.pools
]


@st.composite
def stacks(draw):
    """A random small CNN that fits its input: 1-3 conv layers (each maybe with a map-to-map layer such as batch
    norm, an activation, a layer that stands anywhere such as dropout, and pooling), maybe a pooling of the whole map,
    1-2 dense layers (the first maybe with an activation and one that stands anywhere), sigmoid or softmax."""
    channels = draw(st.integers(1, 3))
    side = draw(st.integers(3, 9))
    image = side
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kernel = draw(st.integers(1, min(3, side + 2)))
        padding = draw(st.integers(0, min(2, kernel - 1)))
        if kernel > side + 2 * padding:
            break
        stride = draw(st.integers(1, 2))
        layers.append(Layer("conv", size=kernel, filters=draw(st.integers(1, 8)), stride=stride, padding=padding))
        side = output_size(side, kernel, stride, padding)
        if MAP_TO_MAP and side >= 2 and draw(st.booleans()):
            layers.append(Layer(draw(st.sampled_from(MAP_TO_MAP))))
        if draw(st.booleans()):
            layers.append(Layer(draw(st.sampled_from(ACTIVATIONS))))
        if ANYWHERE and draw(st.booleans()):
            layers.append(draw(st.sampled_from(ANYWHERE)))
        if side >= 2 and draw(st.booleans()):
            size = draw(st.integers(1, min(3, side)))
            pool_stride = draw(st.integers(1, size))
            layers.append(Layer(draw(st.sampled_from(POOLS)), size=size, stride=pool_stride))
            side = output_size(side, size, pool_stride)
    if WHOLE_MAP_POOLS and draw(st.booleans()):
        layers.append(Layer(draw(st.sampled_from(WHOLE_MAP_POOLS))))
    layers.append(Layer("flatten"))
    if draw(st.booleans()):
        layers += [Layer("dense", outputs=draw(st.integers(1, 6))), Layer(draw(st.sampled_from(ACTIVATIONS)))]
        if ANYWHERE and draw(st.booleans()):
            layers.append(draw(st.sampled_from(ANYWHERE)))
    softmax = draw(st.booleans())
    layers += [
        Layer("dense", outputs=draw(st.integers(2, 5)) if softmax else 1),
        Layer("softmax" if softmax else "sigmoid"),
    ]
    return Architecture(tuple(layers), channels, image)


@FAST
@given(arch=stacks(), seed=st.integers(0, 2**32 - 1))
def test_random_stacks_match_pytorch_and_the_loop_reference(arch, seed):
    matches_pytorch_and_the_loop_reference(arch, seed)


def matches_pytorch_and_the_loop_reference(arch, seed):
    """A random instance of ``arch`` (from ``seed``): every value and gradient as PyTorch float64's to 1e-9, and one
    image's as the loop reference's to 1e-12."""
    params, images, labels = random_instance(np.random.default_rng(seed), arch, batch=2)
    network = Network(arch, {k: v.copy() for k, v in params.items()})
    forward, backward = network.forward(images, labels), network.backward()
    torch_forward, torch_backward = torch_pass(arch, params, images, labels, draws=forward)
    for name, value in torch_forward.items():
        np.testing.assert_allclose(forward[name], value, rtol=0, atol=1e-9, err_msg=name)
    for name, value in torch_backward.items():
        np.testing.assert_allclose(backward[name], value, rtol=0, atol=1e-9, err_msg=name)
    one = Network(arch, params)
    one_forward, one_backward = one.forward(images[:1], labels[:1]), one.backward()
    draws = {name: value[0] for name, value in one_forward.items() if np.ndim(value)}  # what its layers drew
    ref_forward, ref_backward = reference.forward_backward(images[0], labels[0], arch, params, draws)
    for name, value in ref_forward.items():
        np.testing.assert_allclose(np.ravel(one_forward[name]), np.ravel(value), rtol=1e-12, atol=1e-12, err_msg=name)
    for name, value in ref_backward.items():
        np.testing.assert_allclose(np.ravel(one_backward[name]), np.ravel(value), rtol=1e-12, atol=1e-12, err_msg=name)


@FAST
@given(arch=stacks(), seed=st.integers(0, 2**32 - 1))
@example(arch=KINK_OUT_OF_REACH, seed=KINK_SEED)
def test_every_gradient_of_a_random_stack_matches_finite_differences(arch, seed):
    matches_finite_differences(arch, seed)


def matches_finite_differences(arch, seed):
    """Every gradient of a random instance of ``arch`` as finite differences' (an instance near a kink is passed
    over)."""
    params, images, labels = random_instance(np.random.default_rng(seed), arch, batch=2)
    network = Network(arch, params)
    network.forward(images, labels)
    # Finite differences are only valid away from kinks: no ReLU input and no runner-up
    # in a pooling window within reach of the +-2h steps.
    assume(not any(gradcheck_kinks(network, images, labels).values()))
    results = check_network(network, images, labels)
    assume(not step_dependent(network, images, labels, results))  # a kink out of kinks()' reach
    for name, (_, _, error) in results.items():
        assert error < TOLERANCE, name


def gradcheck_kinks(network, images, labels):
    from cnn_backprop.gradcheck import kinks

    return kinks(network, images, labels, step=2.5e-4)  # a margin of 1e-3, as before


@FAST
@given(arch=stacks(), batch=st.integers(1, 4))
def test_shapes_follow_the_formula(arch, batch):
    params, images, labels = random_instance(np.random.default_rng(0), arch, batch=batch)
    forward = Network(arch, params).forward(images, labels)
    side = arch.image_size
    for named in arch.named:
        layer = named.layer
        if "stride" in layer.values():  # a window of K x K at a stride: conv and pooling
            padding = layer.values().get("padding", 0)
            side = (side - layer.size + 2 * padding) // layer.stride + 1
            assert forward[named.output].shape[2:] == (side, side)
        elif named.kind_of.pools:  # the whole map at once
            side = 1
        assert forward[named.output].shape == (batch, *named.out_shape)


@FUZZ
@given(
    image=st.integers(-2, 8),
    kernel=st.integers(-2, 8),
    stride=st.integers(-1, 3),
    padding=st.integers(-2, 3) | st.integers(508, 600),
    pool=st.integers(-1, 5),
    pool_stride=st.integers(-1, 3),
)
def test_an_architecture_is_accepted_exactly_when_it_fits(image, kernel, stride, padding, pool, pool_stride):
    conv = f"conv 1x{kernel}x{kernel} stride {stride} pad {padding}"
    spec = f"{conv}, relu, maxpool {pool} stride {pool_stride}, dense 1, sigmoid"
    fits = (
        min(image, kernel, stride, pool, pool_stride) >= 1
        and padding >= 0
        and image + 2 * padding <= 1024
        and kernel <= image + 2 * padding
        and pool <= output_size(image, kernel, stride, padding)
    )
    if fits:
        arch = Architecture.parse(spec, 1, image)
        params, images, labels = random_instance(np.random.default_rng(1), arch, batch=1)
        assert np.isfinite(Network(arch, params).forward(images, labels)["loss"])
    else:
        with pytest.raises(InputError) as error:
            Architecture.parse(spec, 1, image)
        assert "\n" not in str(error.value) and len(str(error.value)) < 200


@FUZZ
@given(spec=st.text(alphabet="convrelumaxpgdsfti 0123456789x,", max_size=60), size=st.integers(1, 9))
def test_any_spec_text_is_a_network_or_one_clear_line(spec, size):
    try:
        arch = Architecture.parse(spec, 1, size)
    except InputError as error:
        assert "\n" not in str(error) and len(str(error)) < 300
        return
    assert Architecture.parse(str(arch), 1, size) == arch


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)
square = st.integers(1, 7).flatmap(
    lambda n: st.lists(st.lists(st.floats(-5, 5), min_size=n, max_size=n), min_size=n, max_size=n)
)
given_values = {
    "image": square | json_values,
    "label": st.sampled_from([0, 1]) | json_values,
    "conv_kernel": square | json_values,
    "conv_bias": st.floats(-3, 3) | json_values,
    "conv_stride": st.integers(0, 3) | json_values,
    "conv_padding": st.integers(-1, 3) | json_values,
    "pool_size": st.integers(0, 4) | json_values,
    "pool_stride": st.integers(0, 3) | json_values,
    "fc_weights": st.lists(st.floats(-3, 3), min_size=1, max_size=16) | json_values,
    "fc_bias": st.floats(-3, 3) | json_values,
    "net": st.sampled_from(["dense 3, softmax", "conv 2x2x2, relu, avgpool 2, dense 2, softmax"]) | json_values,
}


@FUZZ
@given(given_dict=st.fixed_dictionaries({}, optional=given_values) | json_values, seed=st.integers(0, 10))
def test_given_parser_answers_or_refuses_clearly(given_dict, seed):
    try:
        full = walkthrough.complete_given(given_dict, seed)
    except InputError as error:
        assert "\n" not in str(error)
        return
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        result = walkthrough.run(full)
    assert np.isfinite(result["forward"]["loss"])
    assert json.loads(walkthrough.to_json(result))["given"]["label"] in range(walkthrough.architecture_of(full).classes)


@FUZZ
@given(text=st.text(max_size=60) | json_values.map(json.dumps))
def test_json_reader_answers_or_refuses_clearly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "given.json"
    path.write_text(text)
    try:
        files.read_json(path)
    except InputError as error:
        assert str(error).startswith(f"{path}: ")


dtypes = st.sampled_from(["float64", "float32", "int64", "uint8", "bool", "complex64", "U3", "S2"])
arrays = st.tuples(dtypes, st.lists(st.integers(0, 6), min_size=0, max_size=4)).map(
    lambda spec: np.zeros(spec[1], dtype=spec[0])
)


@FUZZ
@given(
    content=st.dictionaries(st.sampled_from(["images", "labels", "other"]), arrays, max_size=3),
    garbage=st.binary(max_size=64),
    corrupt=st.booleans(),
)
def test_data_file_parsers_answer_or_refuse_clearly(tmp_path_factory, content, garbage, corrupt):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "data.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **content)
    raw = buffer.getvalue()
    path.write_bytes(raw[: len(raw) // 2] + garbage if corrupt else raw)
    for load in (
        lambda: files.load_labelled(path),
        lambda: files.load_images(path, (1, 5)),
        lambda: files.load_model(path),
    ):
        try:
            load()
        except InputError as error:
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
        except zipfile.BadZipFile:  # pragma: no cover - must not happen
            raise AssertionError("a corrupt archive escaped as BadZipFile") from None
