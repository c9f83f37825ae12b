"""maxpool: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

import numpy as np
from mistaken import first_maximum, pool_backward, strided, to_all, to_maximum

# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def overwrite(out, x, c, top, left, size, g):
    out[first_maximum(x, c, top, left, size)] = g


def pool_stride_2(pass_, named):
    x, size = pass_.values[named.input], named.layer.size
    side = (x.shape[1] - size) // 2 + 1
    out = np.zeros((x.shape[0], side, side))
    for c, i, j in np.ndindex(out.shape):
        out[c, i, j] = x[first_maximum(x, c, 2 * i, 2 * j, size)]
    return "forward", named.output, out


MISTAKES = {
    "pool-overwrite": (pool_backward(overwrite), lambda named: named.layer.stride < named.layer.size),
    "pool-to-all": pool_backward(to_all(lambda size: 1)),
    "pool-average": pool_backward(to_all(lambda size: 1 / size**2)),
    "pool-stride-2": (pool_stride_2, lambda named: named.layer.stride != 2),
    "stride-ignored": (pool_backward(to_maximum, lambda layer: 1), strided),
}
