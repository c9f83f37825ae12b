"""dense: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

import numpy as np
from mistaken import input_of, no_bias

# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def fc_weight_grad(pass_, named):
    x, g = pass_.values[named.input], pass_.grads[named.output]
    out = np.array([g[0] * v for v in x])
    return "backward", input_of(pass_, named), out.reshape(pass_.values[input_of(pass_, named)].shape)


def transposed(pass_, named):
    grad = pass_.grads[named.params["weights"]]
    out = np.zeros(grad.shape[::-1])
    for i, j in np.ndindex(grad.shape):
        out[j, i] = grad[i, j]
    return "backward", named.params["weights"], out


MISTAKES = {
    "no-bias": no_bias,
    "fc-weight-grad": (fc_weight_grad, lambda named: named.out_shape == (1,)),
    "transposed": (transposed, lambda named: named.out_shape != (1,)),  # one output: its weights are a vector
}
