"""The text a student checks by hand: every shown product must add up to the shown result."""

import re

import numpy as np

from cnn_backprop import explain, walkthrough


def result_for(seed=0, **given):
    return walkthrough.run(walkthrough.complete_given(given, seed))


def test_answers_one_to_three_are_all_there():
    text = explain.format_walkthrough(result_for())
    for heading in ("GIVEN", "1. OUTPUT SIZES", "2. FORWARD PASS", "3. BACKWARD PASS"):
        assert heading in text
    assert "conv: (W - K + 2P) / S + 1 = (5 - 3 + 2*0) / 1 + 1 = 3  ->  3x3" in text
    assert "pool: (W - K + 2P) / S + 1 = (3 - 2 + 2*0) / 1 + 1 = 2  ->  2x2" in text
    assert "z = fc_pre = fc_weights . pool + fc_bias = 7.3361" in text


def test_explained_conv_products_sum_to_the_shown_value():
    result = result_for(seed=2, conv_padding=1)
    text = explain.format_walkthrough(result, explain=True, decimals=6)
    lines = [line for line in text.splitlines() if re.match(r"\s+conv_pre\[\d,\d\] = ", line)]
    assert len(lines) == result["forward"]["conv_pre"].size
    for line in lines:
        i, j = map(int, re.search(r"\[(\d),(\d)\]", line).groups())
        expression, shown = line.split("=", 1)[1].rsplit("=", 1)
        bias, *products = expression.replace("(", "").replace(")", "").split(" + ")
        total = float(bias) + sum(float(a) * float(b) for a, b in (p.split("*") for p in products))
        # Inputs are rounded to 6 decimals, so the sum agrees to about 1e-5.
        assert abs(total - result["forward"]["conv_pre"][i, j]) < 1e-5
        assert float(shown) == round(result["forward"]["conv_pre"][i, j], 6)


def test_explained_kernel_gradient_lines_are_the_gradient():
    result = result_for(seed=1)  # a cross predicted as a rectangle: large gradients
    text = explain.format_walkthrough(result, explain=True)
    lines = [line for line in text.splitlines() if re.match(r"\s+dL/dkernel\[\d,\d\] = ", line)]
    assert len(lines) == 9
    for line in lines:
        m, n = map(int, re.search(r"\[(\d),(\d)\]", line).groups())
        assert np.isclose(float(line.rsplit("=", 1)[1]), result["backward"]["conv_kernel"][m, n], atol=5e-5)


def test_small_numbers_switch_to_scientific_notation():
    assert explain.matrix(np.array([[0.0012, 0.0]]), 4) == "    [ 1.200e-03          0 ]"
    assert explain.matrix(np.array([[1.5, -0.25, 0.0]]), 2) == "    [  1.50  -0.25   0.00 ]"
    assert explain.matrix(np.array([[3.0, -2.0, 0.0]]), 4) == "    [  3  -2   0 ]"


def test_negative_factors_are_parenthesised():
    given = {
        "image": [[1, 0, 2, 0], [0, 1, 0, 1], [2, 0, 1, 0], [0, 1, 0, 2]],
        "label": 0,
        "conv_kernel": [[1, -1], [0, 1]],
        "conv_bias": 0,
        "fc_weights": [1, -1, 2, 0],
    }
    text = explain.format_walkthrough(result_for(**given), explain=True)
    assert "    conv_pre[0,1] = 0 + 0*1 + 2*(-1) + 1*0 + 0*1 = -2" in text
    assert "    z = 2*1 + 3*(-1) + 3*2 + 3*0 + 0 = 5" in text


def test_a_4d_kernel_gradient_names_the_index_of_every_term():
    import pytest

    import cnn_backprop as cb

    p = cb.run(net="conv 2x3x3 pad 1, relu, maxpool 2, conv 2x2x2, relu, dense 2, softmax", seed=1)
    (text,) = cb.explain_value(p, "dL/dconv1_kernel[1,0,0,1]")
    _, names, numbers, _ = text.split(" = ")
    named, products = names.split(" + "), numbers.split(" + ")
    assert len(named) == len(products) == 25  # conv1's 5x5 outputs, each met this weight once (some in padding)
    at = lambda index: tuple(int(i) for i in index.split(","))  # noqa: E731
    padded = 0
    for term, product in zip(named, products):
        grad, value = term.split("*")
        shown = [float(v.strip("()")) for v in product.split("*")]
        g_name, g_at = grad[len("dL/d") :].rstrip("]").split("[")
        assert shown[0] == pytest.approx(np.asarray(p["backward"][g_name])[at(g_at)], abs=1e-4)
        if value == "pad":
            padded += 1
            assert shown[1] == 0
            continue
        v_name, v_at = value.rstrip("]").split("[")
        source = p["given"] if v_name == "image" else p["forward"]
        assert shown[1] == pytest.approx(np.asarray(source[v_name])[at(v_at)], abs=1e-4)
    assert padded == 5  # the top row's windows reach into the padding at this weight (row 0)
