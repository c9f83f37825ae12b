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
from conftest import random_instance
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnn_backprop import files, reference, walkthrough
from cnn_backprop.gradcheck import TOLERANCE, check_network
from cnn_backprop.layers import output_size
from cnn_backprop.network import PARAM_NAMES, Architecture, Network
from cnn_backprop.validate import InputError, architecture

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def architectures(draw):
    kernel = draw(st.integers(1, 4))
    padding = draw(st.integers(0, kernel - 1))
    stride = draw(st.integers(1, 3))
    image = draw(st.integers(max(1, kernel - 2 * padding), 9))
    conv = output_size(image, kernel, stride, padding)
    pool = draw(st.integers(1, min(3, conv)))
    return Architecture(
        image_size=image,
        channels=draw(st.integers(1, 3)),
        filters=draw(st.integers(1, 3)),
        kernel_size=kernel,
        conv_stride=stride,
        conv_padding=padding,
        pool_size=pool,
        pool_stride=draw(st.integers(1, 3)),
    )


@FAST
@given(arch=architectures(), seed=st.integers(0, 2**32 - 1))
def test_every_gradient_matches_finite_differences(arch, seed):
    params, images, labels = random_instance(np.random.default_rng(seed), arch, batch=2)
    network = Network(arch, params)
    forward = network.forward(images, labels)
    # Finite differences are only valid away from kinks: no ReLU input and no runner-up
    # in a pooling window within reach of the +-2h steps.
    assume(np.abs(forward["conv_pre"]).min() > 1e-3)
    assume(pooling_margin(forward["conv_relu"], arch) > 1e-3)
    for name, (_, _, error) in check_network(network, images, labels).items():
        assert error < TOLERANCE, name


def pooling_margin(conv_relu, arch):
    """Smallest gap between the largest and the second-largest value of any pooling window."""
    if arch.pool_size == 1:
        return np.inf
    size, stride = arch.pool_size, arch.pool_stride
    out = output_size(conv_relu.shape[-1], size, stride)
    windows = np.stack(
        [
            conv_relu[..., m : m + stride * (out - 1) + 1 : stride, n : n + stride * (out - 1) + 1 : stride]
            for m in range(size)
            for n in range(size)
        ],
        axis=-1,
    )
    top = np.sort(windows, axis=-1)
    return (top[..., -1] - top[..., -2]).min()


@FAST
@given(arch=architectures(), seed=st.integers(0, 2**32 - 1))
def test_vectorised_engine_equals_loop_reference(arch, seed):
    params, images, labels = random_instance(np.random.default_rng(seed), arch, batch=1)
    network = Network(arch, params)
    forward, backward = network.forward(images, labels), network.backward()
    ref_forward, ref_backward = reference.forward_backward(
        images[0], labels[0], params, arch.conv_stride, arch.conv_padding, arch.pool_size, arch.pool_stride
    )
    for name in ("conv_pre", "pool", "pool_argmax"):
        np.testing.assert_allclose(forward[name][0], ref_forward[name], rtol=0, atol=1e-12)
    assert forward["loss"] == pytest.approx(ref_forward["loss"], abs=1e-12)
    for name in ("conv_pre", "image"):
        np.testing.assert_allclose(backward[name][0], ref_backward[name], rtol=0, atol=1e-12)
    for name in PARAM_NAMES:
        np.testing.assert_allclose(backward[name].ravel(), np.ravel(ref_backward[name]), rtol=0, atol=1e-12)


@FAST
@given(arch=architectures(), batch=st.integers(1, 4))
def test_shapes_follow_the_formula(arch, batch):
    params, images, labels = random_instance(np.random.default_rng(0), arch, batch=batch)
    forward = Network(arch, params).forward(images, labels)
    conv = (arch.image_size - arch.kernel_size + 2 * arch.conv_padding) // arch.conv_stride + 1
    pool = (conv - arch.pool_size) // arch.pool_stride + 1
    assert forward["conv_pre"].shape == (batch, arch.filters, conv, conv)
    assert forward["pool"].shape == (batch, arch.filters, pool, pool)
    assert forward["fc_input"].shape == (batch, arch.filters * pool * pool)


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
    arch = Architecture(
        image_size=image,
        kernel_size=kernel,
        conv_stride=stride,
        conv_padding=padding,
        pool_size=pool,
        pool_stride=pool_stride,
    )
    fits = (
        min(image, kernel, stride, pool, pool_stride) >= 1
        and padding >= 0
        and image + 2 * padding <= 1024
        and kernel <= image + 2 * padding
        and pool <= output_size(image, kernel, stride, padding)
    )
    if fits:
        architecture(arch)
        params, images, labels = random_instance(np.random.default_rng(1), arch, batch=1)
        assert np.isfinite(Network(arch, params).forward(images, labels)["loss"])
    else:
        with pytest.raises(InputError) as error:
            architecture(arch)
        assert "\n" not in str(error.value) and len(str(error.value)) < 200


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
    assert json.loads(walkthrough.to_json(result))["given"]["label"] in (0, 1)


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
        lambda: files.load_dataset(path, 5),
        lambda: files.load_images(path, 5),
        lambda: files.load_model(path),
    ):
        try:
            load()
        except InputError as error:
            assert str(error).startswith(f"{path}: ") and "\n" not in str(error)
        except zipfile.BadZipFile:  # pragma: no cover - must not happen
            raise AssertionError("a corrupt archive escaped as BadZipFile") from None
