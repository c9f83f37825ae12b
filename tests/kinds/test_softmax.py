"""softmax: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""


# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def softmax_no_minus_y(pass_, named):
    return "backward", named.input, pass_.values["output"].copy()


MISTAKES = {"softmax-no-minus-y": softmax_no_minus_y}
