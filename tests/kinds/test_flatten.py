"""flatten: by hand (PyTorch, the loop reference, finite differences, every command and the page:
tests/test_every_kind.py, on its example network).  It moves no number, so a student can make no mistake in it."""

import numpy as np

from cnn_backprop.kinds.flatten import Flatten


def test_flatten_by_hand():
    layer = Flatten()
    x = np.arange(12.0).reshape(1, 3, 2, 2)
    np.testing.assert_array_equal(layer.forward(x), [np.arange(12.0)])  # channel, then row, then column
    np.testing.assert_array_equal(layer.backward(np.arange(12.0)[None] * 2), x * 2)


MISTAKES = {}
