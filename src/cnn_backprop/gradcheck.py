"""Finite-difference gradient checks: the analytic gradients against central differences.

dL/dtheta_i ~ (L(theta + h e_i) - L(theta - h e_i)) / 2h, with error O(h^2) from
truncation and O(eps_machine / h) from rounding; h = 1e-6 balances the two in
float64 to about 1e-10 absolute for losses of order one.
"""

import numpy as np

from .network import PARAM_NAMES

STEP = 1e-6
TOLERANCE = 1e-6


def numerical_gradient(f, array, step=STEP):
    """Central-difference gradient of the scalar ``f()`` w.r.t. ``array``, perturbed in place."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + step
        plus = f()
        array[index] = saved - step
        minus = f()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


def relative_error(analytic, numerical):
    """max |a - n| over the entries, relative to the largest entry of either.

    Relative to the whole array, not entry by entry, so that an entry that is
    zero (a dead ReLU, a pixel no window chose) does not divide by zero; the
    floor 1e-8 only matters when the gradient is zero everywhere.
    """
    scale = max(np.abs(analytic).max(), np.abs(numerical).max(), 1e-8)
    return float(np.abs(analytic - numerical).max() / scale)


def check_network(network, images, labels, step=STEP):
    """Relative error of every parameter's gradient (and the image's), by name.

    Runs one analytic forward/backward pass, then perturbs each entry of each
    parameter and of the input.  Returns {name: (analytic, numerical, error)}.
    """
    network.forward(images, labels)
    grads = network.backward()
    targets = dict(network.params, image=images)
    analytic = {name: grads[name].copy() for name in (*PARAM_NAMES, "image")}

    def loss():
        return network.loss(images, labels)

    results = {}
    for name, array in targets.items():
        numerical = numerical_gradient(loss, array, step)
        results[name] = (analytic[name], numerical, relative_error(analytic[name], numerical))
    return results
