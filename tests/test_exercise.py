"""Exercise sheets: given values only on the sheet, every answer in the key, computed from the printed values."""

import json

import numpy as np
import pytest

from cnn_backprop import exercise, walkthrough
from cnn_backprop.cli import main


def test_rounded_instance_is_computed_from_the_rounded_values():
    given = exercise.rounded_given(seed=4, decimals=2)
    for key in ("image", "conv_kernel", "fc_weights"):
        np.testing.assert_array_equal(given[key], np.round(given[key], 2))
    # The conv result is exact in 4 decimals: a hand calculation with the printed values matches it.
    conv_pre = walkthrough.run(given)["forward"]["conv_pre"]
    np.testing.assert_allclose(conv_pre, np.round(conv_pre, 4), rtol=0, atol=1e-12)


def test_integer_instances_use_small_whole_numbers():
    given = exercise.rounded_given(seed=0, integers=True)
    assert set(np.unique(given["image"])) <= {0, 1, 2, 3}
    assert set(np.unique(given["conv_kernel"])) <= {-1, 0, 1, 2}
    result = walkthrough.run(given)
    forward = result["forward"]
    np.testing.assert_array_equal(forward["conv_pre"], np.round(forward["conv_pre"]))
    assert forward["fc_pre"] == round(forward["fc_pre"])


def test_sheets_keys_and_json_are_written(capsys, tmp_path):
    out = tmp_path / "sheets"
    assert main(["exercise", "--count", "3", "--seed", "7", "--out", str(out), "--pool-stride", "1", "2"]) == 0
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == sorted(
        f"exercise_{i}{suffix}"
        for i in (1, 2, 3)
        for suffix in (".md", ".html", "_key.md", "_key.html", ".json", "_answers.json", "_answers.csv")
    )
    sheet, key = (out / "exercise_2.md").read_text(), (out / "exercise_2_key.md").read_text()
    assert "## Find" in sheet and "conv_pre" not in sheet and "dL/d" not in sheet
    assert "## 3. Backward pass" in key and "dL/dkernel[0,0] = " in key
    given = json.loads((out / "exercise_2.json").read_text())
    assert given["pool_stride"] == 2 and len(given["fc_weights"]) == 1
    # The key is exactly what the walkthrough computes from the saved instance.
    result = walkthrough.run(walkthrough.complete_given(given))
    assert f"dL/dconv_bias = sum of dL/dconv_pre = {result['backward']['conv_bias']:.4f}" in key
    # Three different instances.
    images = [json.loads((out / f"exercise_{i}.json").read_text())["image"] for i in (1, 2, 3)]
    assert images[0] != images[1] != images[2]


def test_sheet_i_is_the_walkthrough_of_seed_plus_i():
    first, second = exercise.instances(2, seed=10)
    np.testing.assert_array_equal(
        second["conv_kernel"], np.round(walkthrough.complete_given(seed=11)["conv_kernel"], 2)
    )
    assert first["label"] == walkthrough.complete_given(seed=10)["label"]


def test_architecture_options_cycle_over_the_sheets(capsys, tmp_path):
    main(["exercise", "--count", "4", "--out", str(tmp_path), "--pool-stride", "1", "2", "--padding", "0", "1", "1"])
    givens = [json.loads((tmp_path / f"exercise_{i}.json").read_text()) for i in (1, 2, 3, 4)]
    assert [g["pool_stride"] for g in givens] == [1, 2, 1, 2]
    assert [g["conv_padding"] for g in givens] == [0, 1, 1, 0]
    assert [len(g["fc_weights"]) for g in givens] == [4, 4, 16, 1]


TWO_CONV = "conv 2x3x3 pad 1, relu, maxpool 2, conv 2x3x3, relu, dense 3, softmax"
STRIDED = "conv 2x3x3 stride 2 pad 1, relu, avgpool 2 stride 1, conv 2x2x2, leakyrelu, maxpool 2, dense 2, softmax"


@pytest.mark.parametrize("net,side,places", [(TWO_CONV, 8, 0), (STRIDED, 11, 4)])
def test_integer_instances_of_deeper_networks_can_be_done_by_hand(net, side, places):
    for seed in range(4):
        given = exercise.rounded_given(seed, integers=True, net=net)
        # the 5x5 shapes are too small for two conv layers: the least image where every map is 2x2 or more
        assert np.shape(given["image"]) == (side, side)
        pass_ = walkthrough.run(given)
        for named in pass_.arch.named[:-1]:  # every value up to z: whole (an average pool: quarters, ...)
            value = pass_.values[named.output] * 10**places
            np.testing.assert_allclose(value, np.round(value), rtol=0, atol=1e-6, err_msg=named.output)
            assert np.abs(pass_.values[named.output]).max() <= exercise.HAND_LIMIT, named.output
        z = pass_.values["fc_pre"]
        assert 0 < z.max() - z.min() <= exercise.LOGIT_SPREAD
        assert all(np.any(pass_.grads[name]) for name in pass_.params)  # no gradient all 0: work to do


def test_sheets_of_a_two_conv_network_ask_every_layer(capsys, tmp_path):
    from cnn_backprop import check

    assert main(["exercise", "--net", TWO_CONV, "--integers", "--count", "2", "--out", str(tmp_path)]) == 0
    sheet = (tmp_path / "exercise_1.md").read_text()
    template = json.loads((tmp_path / "exercise_1_answers.json").read_text())
    key = check.Key(walkthrough.complete_given(json.loads((tmp_path / "exercise_1.json").read_text())))
    for part, name in key.quantities():
        assert name in template[part]
        assert name in sheet.split("## Find")[1]
    for layer in ("conv1", "conv2", "fc"):
        assert f"{layer} " in sheet.split("## Find")[0] and f"dL/d{layer}_" in sheet
    assert {"conv1_pre", "conv2_pre", "conv1_kernel", "conv2_kernel"} <= set(template["forward"]) | set(
        template["backward"]
    )
    key_text = (tmp_path / "exercise_1_key.md").read_text()
    assert "conv2_pre" in key_text and "dL/dconv1_kernel" in key_text


def test_a_sheet_beyond_the_limits_says_so(capsys, tmp_path):
    net = "conv 2x3x3 pad 1, relu, maxpool 2, conv 2x3x3, relu, dense 10, softmax"
    assert main(["exercise", "--count", "16", "--integers", "--net", net, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sheet 13: the logits z span 12, more than the 8 an integer sheet keeps to" in out
    assert "Note: the logits z span 12, more than the 8" in (tmp_path / "exercise_13.md").read_text()
    assert "Note:" not in (tmp_path / "exercise_01.md").read_text()
