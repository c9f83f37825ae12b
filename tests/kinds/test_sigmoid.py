"""sigmoid: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer): none of
# its own; squared-error-gradient, which any output kind can host, is with the general ones there.
MISTAKES = {}
