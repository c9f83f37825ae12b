"""sigmoid: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

import numpy as np

# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def squared_error_gradient(pass_, named):
    p, y = pass_.values["output"][0], pass_.label
    return "backward", named.input, np.array([(p - y) * p * (1 - p)])


MISTAKES = {"squared-error-gradient": squared_error_gradient}
