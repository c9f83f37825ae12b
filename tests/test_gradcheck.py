"""gradcheck: telling a kink within reach of the steps from a wrong gradient."""

import numpy as np
from conftest import KINK_OUT_OF_REACH, KINK_SEED, random_instance

from cnn_backprop.gradcheck import TOLERANCE, check_network, kinks, step_dependent
from cnn_backprop.network import Network


def kink_instance():
    params, images, labels = random_instance(np.random.default_rng(KINK_SEED), KINK_OUT_OF_REACH, batch=2)
    return Network(KINK_OUT_OF_REACH, params), images, labels


def test_a_kink_out_of_kinks_reach_is_found_by_its_step_dependence():
    network, images, labels = kink_instance()
    assert not any(kinks(network, images, labels, step=2.5e-4).values())
    results = check_network(network, images, labels)
    assert [name for name, (_, _, error) in results.items() if error > TOLERANCE] == ["conv2_kernel"]
    assert step_dependent(network, images, labels, results) == ["conv2_kernel"]


def test_a_wrong_gradient_is_not_taken_for_a_kink():
    network, images, labels = kink_instance()
    results = check_network(network, images, labels)
    analytic, numerical, _ = results["fc1_weights"]
    wrong = analytic * 1.01  # 1% off: the finite differences at h and h/2 still agree with each other
    results = {"fc1_weights": (wrong, numerical, 0.01)}
    assert step_dependent(network, images, labels, results) == []
