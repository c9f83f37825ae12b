"""Finite-difference gradient checks: the analytic gradients against central differences.

The five-point central difference

    dL/dtheta_i ~ (-L(+2h) + 8 L(+h) - 8 L(-h) + L(-2h)) / 12h

has a truncation error of order h^4 and a rounding error of order
eps_machine * |L| / h.  With h = 1e-4 both are around 1e-12 for losses of order
one: a hundred times more accurate than the plain two-point difference at its
best step (h = 1e-6), which matters when a gradient is small next to the loss.
It is only valid where the loss is smooth within 2h: a ReLU input or a
pooling tie that close to a kink makes any finite difference wrong.
"""

import numpy as np

from .kinds import KINDS

STEP = 1e-4
TOLERANCE = 1e-6


def numerical_gradient(f, array, step=STEP):
    """Five-point central-difference gradient of the scalar ``f()`` w.r.t. ``array``, perturbed in place."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        saved = array[index]
        values = {}
        for k in (-2, -1, 1, 2):
            array[index] = saved + k * step
            values[k] = f()
        array[index] = saved
        # Differences first: where L does not move (a dead ReLU) this is exactly 0, not rounding noise.
        grad[index] = (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * step)
    return grad


def relative_error(analytic, numerical, loss=0.0):
    """max |a - n| over the entries, relative to the largest entry of either, or to a floor.

    Relative to the whole array, not entry by entry, so that an entry that is
    zero (a dead ReLU, a pixel no window chose) does not divide by zero.  The
    floor, 1e-4 * max(1, |L|), is where finite differences stop resolving: they
    carry a rounding error of about eps_machine * |L| / h = 2e-12 |L|, so a
    gradient much smaller than |L| cannot be checked to 1e-6 of itself.  An error
    above about 50 times that rounding noise still fails.
    """
    floor = 1e-4 * max(1.0, abs(loss))
    scale = max(np.abs(analytic).max(), np.abs(numerical).max(), floor)
    return float(np.abs(analytic - numerical).max() / scale)


def check_network(network, images, labels, step=STEP):
    """Relative error of every parameter's gradient (and the image's), by name.

    Runs one analytic forward/backward pass, then perturbs each entry of each
    parameter and of the input.  Returns {name: (analytic, numerical, error)}.
    """
    loss_value = network.forward(images, labels)["loss"]
    grads = network.backward()
    targets = dict(network.params, image=images)
    analytic = {name: grads[name].copy() for name in targets}

    def loss():
        return network.loss(images, labels)

    results = {}
    for name, array in targets.items():
        numerical = numerical_gradient(loss, array, step)
        results[name] = (analytic[name], numerical, relative_error(analytic[name], numerical, loss_value))
    return results


def kinks(network, images, labels, step=STEP):
    """Where the loss is not smooth within reach of the +-2h steps: {"relu": n, "pool": m}.

    ``relu``: ReLU inputs within 4h of 0; ``pool``: max-pooling windows whose two
    largest entries are within 4h of each other (a tie, as the flat background
    of a handwritten digit gives).  A step of 2h in one input moves a value by
    about 2h times a weight, so these are the kinks a finite difference may
    straddle; there the loss has no derivative, and the analytic gradient is the
    convention of the layers (ReLU'(0) = 0, the first maximum), not a limit.
    """
    network.forward(images, labels)
    counts = {kind.kink: 0 for kind in KINDS.values() if kind.kink}
    for named, layer in zip(network.arch.named, network.layers):
        if named.kind_of.kink:
            counts[named.kind_of.kink] += layer.kinks(network.values[named.input], step)
    return counts


def step_dependent(network, images, labels, results, step=STEP):
    """The gradients that fail the check and whose finite difference changes with the step (h against h/2).

    ``kinks`` finds the kinks that a step of 2h in one entry reaches when it
    moves a value by about 2h times a weight; an entry that moves many values
    at once (a 1x1 kernel scales whole maps) reaches farther.  A kink within
    reach makes the finite difference depend on the step; a wrong analytic
    gradient does not.  ``results`` is what ``check_network`` returned.
    """
    failing = [name for name, (_, _, error) in results.items() if error > TOLERANCE]
    if not failing:
        return []
    smaller = check_network(network, images, labels, step / 2)
    return [name for name in failing if relative_error(results[name][1], smaller[name][1]) > TOLERANCE]
