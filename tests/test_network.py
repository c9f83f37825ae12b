"""The whole network: against PyTorch autograd (float64), the loop reference, and finite differences."""

import numpy as np
import pytest
from conftest import random_instance, seed_family, torch_pass

from cnn_backprop import reference
from cnn_backprop.architecture import DIGITS_SPEC, Architecture
from cnn_backprop.gradcheck import TOLERANCE, check_network
from cnn_backprop.network import Network, init_params


def test_forward_and_backward_match_pytorch(arch):
    rng = np.random.default_rng(7)
    for _ in range(5):
        params, images, labels = random_instance(rng, arch, batch=4)
        network = Network(arch, {k: v.copy() for k, v in params.items()})
        forward = network.forward(images, labels)
        backward = network.backward()
        torch_forward, torch_backward = torch_pass(arch, params, images, labels)
        assert set(torch_forward) <= set(forward) and set(torch_backward) == set(backward)
        for name, value in torch_forward.items():
            np.testing.assert_allclose(forward[name], value, rtol=0, atol=1e-9, err_msg=name)
        for name, value in torch_backward.items():
            np.testing.assert_allclose(backward[name], value, rtol=0, atol=1e-9, err_msg=name)


def test_vectorised_engine_equals_loop_reference(arch):
    rng = np.random.default_rng(11)
    params, images, labels = random_instance(rng, arch, batch=1)
    network = Network(arch, params)
    forward = network.forward(images, labels)
    backward = network.backward()
    ref_forward, ref_backward = reference.forward_backward(images[0], labels[0], arch, params)
    assert set(ref_forward) == set(forward) and set(ref_backward) == set(backward)
    for name, value in ref_forward.items():
        np.testing.assert_allclose(np.ravel(forward[name]), np.ravel(value), rtol=1e-12, atol=1e-12, err_msg=name)
    for name, value in ref_backward.items():
        np.testing.assert_allclose(np.ravel(backward[name]), np.ravel(value), rtol=1e-12, atol=1e-12, err_msg=name)


def test_gradients_match_finite_differences(arch):
    rng = np.random.default_rng(5)
    params, images, labels = random_instance(rng, arch, batch=2)
    results = check_network(Network(arch, params), images, labels)
    assert set(results) == {*arch.param_shapes(), "image"}
    for name, (_, _, error) in results.items():
        assert error < TOLERANCE, name


def test_gradcheck_catches_a_wrong_gradient():
    arch = Architecture.parse()
    params, images, labels = random_instance(np.random.default_rng(2), arch)
    network = Network(arch, params)
    fc = network.layers[[named.name for named in arch.named].index("fc")]
    correct_backward = fc.backward

    # The seed notebook's bug: route dL/dfc_weights (not dL/dz * fc_weights) back into pooling.
    def seed_backward(grad):
        correct_backward(grad)  # keeps dL/dfc_weights right
        return fc.grads["weights"] * np.ones_like(fc._x)

    fc.backward = seed_backward
    results = check_network(network, images, labels)
    assert results["conv_kernel"][2] > 1e-2
    assert results["fc_weights"][2] < TOLERANCE


def test_seed_initialisation():
    arch = seed_family(pool_stride=2)
    params = init_params(arch, np.random.default_rng(0))
    assert params["conv_kernel"].shape == (1, 1, 3, 3)
    assert ((params["conv_kernel"] >= 0) & (params["conv_kernel"] < 1)).all()
    np.testing.assert_array_equal(params["conv_bias"], [1.0])
    assert params["fc_weights"].shape == (1, 1)
    np.testing.assert_array_equal(params["fc_bias"], [0.0])
    # The kernel is drawn first, so it does not depend on the number of FC weights.
    np.testing.assert_array_equal(
        init_params(Architecture.parse(), np.random.default_rng(0))["conv_kernel"], params["conv_kernel"]
    )


def test_pytorch_initialisation_is_bounded_by_the_fan_in():
    arch = Architecture.parse(DIGITS_SPEC, 1, 8)
    params = init_params(arch, np.random.default_rng(0))
    for name, fan_in in (("conv1_kernel", 9), ("conv1_bias", 9), ("conv2_kernel", 32 * 9), ("fc_weights", 256)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(params[name]).max() <= bound and np.abs(params[name]).max() > 0.8 * bound, name
        assert params[name].min() < 0 < params[name].max()


def test_names_and_sizes_come_from_the_layers():
    seed = Architecture.parse()
    assert [n.output for n in seed.named] == ["conv_pre", "conv_relu", "pool", "fc_input", "fc_pre", "output"]
    assert list(seed.param_shapes()) == ["conv_kernel", "conv_bias", "fc_weights", "fc_bias"]
    assert seed.hyper() == {"conv_stride": 1, "conv_padding": 0, "pool_size": 2, "pool_stride": 1}
    assert [n.out_shape for n in seed.named][:4] == [(1, 3, 3), (1, 3, 3), (1, 2, 2), (4,)]
    assert seed_family(pool_stride=2).layer("fc").in_shape == (1,)
    wide = seed_family(image_size=28, filters=8, kernel=5, padding=2, pool=2, pool_stride=2)
    assert wide.layer("fc").in_shape == (8 * 14 * 14,)
    digits = Architecture.parse(DIGITS_SPEC, 1, 8)
    assert [n.output for n in digits.named] == [
        "conv1_pre", "conv1_relu", "pool1", "conv2_pre", "conv2_relu", "pool2", "fc_input", "fc_pre", "output"
    ]  # fmt: skip
    assert digits.param_shapes()["conv2_kernel"] == (64, 32, 3, 3) and digits.classes == 10


@pytest.mark.parametrize("spec", [
    "conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid",
    "conv 8x3x3 stride 2 pad 1, relu, avgpool 2, dense 32, relu, dense 10, softmax",
    "dense 3, softmax",
])  # fmt: skip
def test_a_network_prints_back_as_its_spec(spec):
    arch = Architecture.parse(spec, 1, 8)
    assert str(arch) == spec and Architecture.parse(str(arch), 1, 8) == arch


def test_params_are_shared_with_layers():
    arch = Architecture.parse()
    params = init_params(arch, np.random.default_rng(0))
    network = Network(arch, params)
    network.params["conv_kernel"] -= 1.0
    assert network.layers[0].params["kernel"] is network.params["conv_kernel"] is params["conv_kernel"]
    assert (network.layers[0].params["kernel"] < 0).all()


def test_named_parameters_and_grads_are_the_layers_own_by_full_name():
    arch = Architecture.parse(DIGITS_SPEC, 1, 8)
    params, images, labels = random_instance(np.random.default_rng(3), arch, batch=2)
    network = Network(arch, params)
    network.forward(images, labels)
    backward = network.backward()
    assert [name for name, _ in network.named_parameters()] == list(arch.param_shapes())
    assert network.layers[3].params["kernel"] is dict(network.named_parameters())["conv2_kernel"]
    for name, grad in network.named_grads():
        assert grad is backward[name] and grad.shape == arch.param_shapes()[name]


def test_predict_proba_has_a_column_per_class(arch):
    params, images, _ = random_instance(np.random.default_rng(4), arch, batch=5)
    probabilities = Network(arch, params).predict_proba(images)
    assert probabilities.shape == (5, arch.classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)


def test_float32_parameters_compute_in_float32_and_agree_with_float64():
    arch = seed_family(filters=2, padding=1)
    params, images, labels = random_instance(np.random.default_rng(3), arch, batch=4)
    exact = Network(arch, params)
    exact_forward, exact_backward = exact.forward(images, labels), exact.backward()
    single = Network(arch, {name: value.astype(np.float32) for name, value in params.items()})
    forward = single.forward(images.astype(np.float32), labels)
    backward = single.backward()
    for name in ("conv_pre", "pool", "fc_pre"):
        assert forward[name].dtype == np.float32
        np.testing.assert_allclose(forward[name], exact_forward[name], rtol=1e-5, atol=1e-5)
    for name in (*arch.param_shapes(), "image", "conv_relu"):
        assert backward[name].dtype == np.float32, name
        np.testing.assert_allclose(backward[name], exact_backward[name], rtol=1e-4, atol=1e-6)
