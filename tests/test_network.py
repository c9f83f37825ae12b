"""The whole network: against PyTorch autograd (float64), the loop reference, and finite differences."""

import numpy as np
import pytest
from conftest import random_instance, torch_pass

from cnn_backprop import reference
from cnn_backprop.gradcheck import TOLERANCE, check_network
from cnn_backprop.network import PARAM_NAMES, Architecture, Network, init_params

NAMES = ("conv_pre", "conv_relu", "pool", "fc_pre")


def test_forward_and_backward_match_pytorch(arch):
    rng = np.random.default_rng(7)
    for _ in range(5):
        params, images, labels = random_instance(rng, arch, batch=4)
        network = Network(arch, {k: v.copy() for k, v in params.items()})
        forward = network.forward(images, labels)
        backward = network.backward()
        torch_forward, torch_backward = torch_pass(arch, params, images, labels)
        for name in (*NAMES, "output"):
            np.testing.assert_allclose(forward[name], torch_forward[name], rtol=0, atol=1e-9, err_msg=name)
        assert forward["loss"] == pytest.approx(float(torch_forward["loss"]), abs=1e-9)
        for name in (*NAMES, *PARAM_NAMES, "image"):
            np.testing.assert_allclose(backward[name], torch_backward[name], rtol=0, atol=1e-9, err_msg=name)


def test_vectorised_engine_equals_loop_reference(arch):
    rng = np.random.default_rng(11)
    params, images, labels = random_instance(rng, arch, batch=1)
    network = Network(arch, params)
    forward = network.forward(images, labels)
    backward = network.backward()
    ref_forward, ref_backward = reference.forward_backward(
        images[0], labels[0], params, arch.conv_stride, arch.conv_padding, arch.pool_size, arch.pool_stride
    )
    for name in ("conv_pre", "conv_relu", "pool", "pool_argmax"):
        np.testing.assert_allclose(forward[name][0], ref_forward[name], rtol=0, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(forward["fc_pre"][0], ref_forward["fc_pre"], atol=1e-12)
    assert forward["loss"] == pytest.approx(ref_forward["loss"], abs=1e-12)
    for name in ("pool", "conv_relu", "conv_pre", "image"):
        np.testing.assert_allclose(backward[name][0], ref_backward[name], rtol=0, atol=1e-12, err_msg=name)
    for name in ("fc_pre", *PARAM_NAMES):
        np.testing.assert_allclose(
            backward[name], np.reshape(ref_backward[name], backward[name].shape), rtol=0, atol=1e-12, err_msg=name
        )


def test_gradients_match_finite_differences(arch):
    rng = np.random.default_rng(5)
    params, images, labels = random_instance(rng, arch, batch=2)
    results = check_network(Network(arch, params), images, labels)
    for name, (_, _, error) in results.items():
        assert error < TOLERANCE, name


def test_gradcheck_catches_a_wrong_gradient():
    arch = Architecture()
    params, images, labels = random_instance(np.random.default_rng(2), arch)
    network = Network(arch, params)
    # The seed notebook's bug: route dL/dfc_weights (not dL/dz * fc_weights) back into pooling.
    correct_backward = network.fc.backward

    def seed_backward(grad_out):
        correct_backward(grad_out)  # keeps dL/dfc_weights right
        return grad_out * network._fc_input

    network.fc.backward = seed_backward
    results = check_network(network, images, labels)
    assert results["conv_kernel"][2] > 1e-2
    assert results["fc_weights"][2] < TOLERANCE


def test_seed_initialisation():
    arch = Architecture(pool_stride=2)
    params = init_params(arch, np.random.default_rng(0))
    assert params["conv_kernel"].shape == (1, 1, 3, 3)
    assert ((params["conv_kernel"] >= 0) & (params["conv_kernel"] < 1)).all()
    np.testing.assert_array_equal(params["conv_bias"], [1.0])
    assert params["fc_weights"].shape == (1, 1)
    np.testing.assert_array_equal(params["fc_bias"], [0.0])
    # The kernel is drawn first, so it does not depend on the number of FC weights.
    np.testing.assert_array_equal(
        init_params(Architecture(), np.random.default_rng(0))["conv_kernel"], params["conv_kernel"]
    )


def test_architecture_sizes():
    assert (Architecture().conv_size, Architecture().pool_out_size, Architecture().fc_inputs) == (3, 2, 4)
    assert (Architecture(pool_stride=2).pool_out_size, Architecture(pool_stride=2).fc_inputs) == (1, 1)
    wide = Architecture(image_size=28, filters=8, kernel_size=5, conv_padding=2, pool_size=2, pool_stride=2)
    assert (wide.conv_size, wide.pool_out_size, wide.fc_inputs) == (28, 14, 8 * 14 * 14)


def test_params_are_shared_with_layers():
    arch = Architecture()
    params = init_params(arch, np.random.default_rng(0))
    network = Network(arch, params)
    network.params["conv_kernel"] -= 1.0
    assert network.conv.kernel is network.params["conv_kernel"]
    assert (network.conv.kernel < 0).all()


def test_float32_parameters_compute_in_float32_and_agree_with_float64():
    arch = Architecture(filters=2, conv_padding=1)
    params, images, labels = random_instance(np.random.default_rng(3), arch, batch=4)
    exact = Network(arch, params)
    exact_forward, exact_backward = exact.forward(images, labels), exact.backward()
    single = Network(arch, {name: value.astype(np.float32) for name, value in params.items()})
    forward = single.forward(images.astype(np.float32), labels)
    backward = single.backward()
    for name in ("conv_pre", "pool", "fc_pre"):
        assert forward[name].dtype == np.float32
        np.testing.assert_allclose(forward[name], exact_forward[name], rtol=1e-5, atol=1e-5)
    for name in (*PARAM_NAMES, "image", "conv_relu"):
        assert backward[name].dtype == np.float32, name
        np.testing.assert_allclose(backward[name], exact_backward[name], rtol=1e-4, atol=1e-6)
