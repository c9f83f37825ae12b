"""avgpool: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

from mistaken import pool_backward, strided, to_all

# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


MISTAKES = {
    "avgpool-no-divide": pool_backward(to_all(lambda size: 1)),
    "stride-ignored": (pool_backward(to_all(lambda size: 1 / size**2), lambda layer: 1), strided),
}
