"""The exercise instance and its answers: seeds, given values, and PyTorch agreement to 1e-9."""

import json
import re

import numpy as np
import pytest
from conftest import torch_module, torch_pass

from cnn_backprop import walkthrough
from cnn_backprop.architecture import DIGITS_SPEC
from cnn_backprop.validate import InputError

VARIANTS = [
    {},
    {"pool_stride": 2},
    {"conv_padding": 1},
    {"conv_padding": 1, "pool_stride": 2},
    {"conv_stride": 2, "conv_padding": 1, "pool_size": 1},
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "seed")
def test_walkthrough_matches_pytorch_on_many_instances(variant):
    for seed in range(25):
        given = walkthrough.complete_given(dict(variant), seed)
        result = json.loads(walkthrough.to_json(walkthrough.run(given)))
        network, image, labels = walkthrough.network_for(given)
        tf, tb = torch_pass(network.arch, dict(network.params), image, labels)
        fwd, bwd = result["forward"], result["backward"]
        for name in ("conv_pre", "conv_relu", "pool"):
            np.testing.assert_allclose(fwd[name], tf[name][0, 0], rtol=0, atol=1e-9)
        for name in ("fc_pre", "output", "loss"):
            assert fwd[name] == pytest.approx(float(np.ravel(tf[name])[0]), abs=1e-9)
        expected = {
            "fc_pre": tb["fc_pre"][0, 0],
            "fc_weights": tb["fc_weights"][0],
            "fc_bias": tb["fc_bias"][0],
            "pool": tb["pool"][0, 0],
            "conv_relu": tb["conv_relu"][0, 0],
            "conv_pre": tb["conv_pre"][0, 0],
            "conv_kernel": tb["conv_kernel"][0, 0],
            "conv_bias": tb["conv_bias"][0],
            "image": tb["image"][0, 0],
        }
        assert set(bwd) == set(expected)
        for name, value in expected.items():
            np.testing.assert_allclose(bwd[name], value, rtol=0, atol=1e-9, err_msg=f"seed {seed} {name}")


def test_json_layout_and_shapes():
    result = json.loads(walkthrough.to_json(walkthrough.run(walkthrough.complete_given(seed=3))))
    assert list(result) == ["given", "shapes", "forward", "backward", "torch"]
    assert list(result["torch"]["state_dict"]) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    assert np.shape(result["torch"]["grad"]["conv.weight"]) == (1, 1, 3, 3)
    np.testing.assert_array_equal(np.ravel(result["torch"]["grad"]["fc.weight"]), result["backward"]["fc_weights"])
    assert list(result["given"]) == ["image", "label", "conv_kernel", "conv_bias", "conv_stride", "conv_padding",
                                     "pool_size", "pool_stride", "fc_weights", "fc_bias"]  # fmt: skip
    assert result["shapes"] == {"input": [5, 5], "conv": [3, 3], "pool": [2, 2], "fc_input": [4]}
    assert set(result["forward"]) == {"conv_pre", "conv_relu", "pool", "pool_argmax", "fc_pre", "output", "loss"}
    assert np.shape(result["forward"]["pool_argmax"]) == (4, 2)
    assert np.shape(result["backward"]["conv_kernel"]) == (3, 3)


def test_pool_stride_two_gives_one_fc_input():
    result = walkthrough.run(walkthrough.complete_given({"pool_stride": 2}, seed=0))
    assert result["shapes"]["pool"] == [1, 1] and result["shapes"]["fc_input"] == [1]
    assert len(result["given"]["fc_weights"]) == 1


def test_seed_zero_is_the_same_on_every_machine():
    # PCG64 streams are platform-independent; these digits are in the README.
    given = walkthrough.complete_given(seed=0)
    assert given["label"] == 1
    assert given["image"][1, 0] == 0.3163371523854981
    assert given["conv_kernel"][0, 0] == 0.6771968569751019
    assert given["fc_weights"][0] == 0.9465426707531418
    assert walkthrough.run(given)["forward"]["fc_pre"] == pytest.approx(7.33611829009405, abs=1e-12)


def test_given_keys_override_and_the_rest_is_drawn():
    drawn = walkthrough.complete_given(seed=4)
    given = walkthrough.complete_given({"conv_bias": -2.5, "label": 0}, seed=4)
    assert given["conv_bias"] == -2.5 and given["label"] == 0
    np.testing.assert_array_equal(given["conv_kernel"], drawn["conv_kernel"])
    # The label fixes the class; the cross is drawn from the same pixel draws.
    assert given["image"][0, 2] > 0 and given["image"][1, 0] == 0


def test_round_trip_of_given_through_json():
    result = walkthrough.run(walkthrough.complete_given({"pool_stride": 2, "conv_padding": 1}, seed=8))
    given_again = walkthrough.complete_given(json.loads(walkthrough.to_json(result))["given"], seed=123)
    assert walkthrough.to_json(walkthrough.run(given_again)) == walkthrough.to_json(result)


def test_tiny_instance_by_hand():
    # All-ones 3x3 image and kernel, bias 0: conv_pre = [[9]], pooled (1x1 window) 9,
    # z = 2 * 9 - 1 = 17, label 1.  dL/dz = s(17) - 1; dL/dkernel = dL/dz * 2 * ones.
    given = {
        "image": [[1, 1, 1]] * 3,
        "label": 1,
        "conv_kernel": [[1, 1, 1]] * 3,
        "conv_bias": 0,
        "pool_size": 1,
        "fc_weights": [2.0],
        "fc_bias": -1,
    }
    result = walkthrough.run(walkthrough.complete_given(given))
    assert result["forward"]["conv_pre"].tolist() == [[9.0]]
    assert result["forward"]["fc_pre"] == 17.0
    dz = 1 / (1 + np.exp(-17.0)) - 1
    assert result["backward"]["fc_pre"] == pytest.approx(dz, rel=1e-12)
    np.testing.assert_allclose(result["backward"]["conv_kernel"], np.full((3, 3), 2 * dz), rtol=1e-12)
    assert result["backward"]["conv_bias"] == pytest.approx(2 * dz, rel=1e-12)


@pytest.mark.parametrize(
    "given,message",
    [
        (
            {"pool_stride": 2, "fc_weights": [1, 2, 3, 4]},
            "pool size 2 at stride 2 on a 3x3 feature map gives 1x1, so fc_weights needs 1 value, got 4",
        ),
        ({"conv_kernal": [[1]]}, 'unknown key "conv_kernal" (did you mean "conv_kernel"?)'),
        ({"conv_kernel": [[1] * 6] * 6}, "conv: a 6x6 kernel does not fit a 5x5 image; use padding 1"),
        (
            {"net": DIGITS_SPEC, "conv2_kernel": [[1]]},
            "conv2_kernel has shape [1, 1], the network needs [1, 32, 1, 1] (its input pool1 has 32 channels)",
        ),
        ({"label": 2}, "label must be 0 (cross) or 1 (rectangle), got 2"),
        ({"net": DIGITS_SPEC, "label": 10}, "label must be a class 0..9, got 10"),
        ({"net": "conv 2x3x3, softmax"}, "softmax must follow a dense layer"),
        ({"net": 7}, "net must be a network spec (text)"),
        (
            {"image": [[[1.0] * 5] * 5] * 2, "conv_kernel": [[1.0] * 3] * 3},
            "conv_kernel has shape [3, 3], the network needs [1, 2, 3, 3] (its input image has 2 channels)",
        ),
    ],
)
def test_inconsistent_given_is_refused(given, message):
    with pytest.raises(InputError, match=re.escape(message)):
        walkthrough.complete_given(given)


def test_one_instance_of_the_digits_network_matches_the_exported_pytorch_module():
    torch = pytest.importorskip("torch")
    given = walkthrough.complete_given({"label": 3}, seed=2, net=DIGITS_SPEC, source="digits")
    assert given["net"] == DIGITS_SPEC and given["label"] == 3 and np.shape(given["image"]) == (8, 8)
    assert given["classes"] == [str(k) for k in range(10)]
    result = json.loads(walkthrough.to_json(walkthrough.run(given)))
    # Three lines of PyTorch check the pass: load the state_dict, run, backward.
    model, _ = torch_module(walkthrough.architecture_of(given))
    model.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in result["torch"]["state_dict"].items()})
    z = model(torch.tensor(np.asarray(given["image"])[None, None]))
    torch.nn.functional.cross_entropy(z, torch.tensor([3])).backward()
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(parameter.grad.numpy(), result["torch"]["grad"][name], rtol=0, atol=1e-12)
    np.testing.assert_allclose(z.detach().numpy()[0], result["forward"]["fc_pre"], rtol=0, atol=1e-12)
    assert result["shapes"] == {"input": [8, 8], "conv1": [32, 8, 8], "pool1": [32, 4, 4], "conv2": [64, 4, 4],
                                "pool2": [64, 2, 2], "fc_input": [256]}  # fmt: skip
    assert np.shape(result["forward"]["pool2_argmax"]) == (256, 2)
    assert (
        list(result["backward"])[:3] == ["fc_pre", "fc_weights", "fc_bias"] and list(result["backward"])[-1] == "image"
    )


@pytest.mark.parametrize("net", [
    DIGITS_SPEC,
    "conv 2x2x2 stride 2 pad 1, relu, avgpool 2 stride 1, dense 4, relu, dense 3, softmax",
    "conv 3x3x3, relu, maxpool 2, dense 1, sigmoid",
])  # fmt: skip
def test_any_network_walkthrough_matches_pytorch_and_round_trips(net):
    for seed in range(5):
        given = walkthrough.complete_given(seed=seed, net=net)
        result = walkthrough.run(given)
        network, image, labels = walkthrough.network_for(given)
        tf, tb = torch_pass(network.arch, dict(network.params), image, labels)
        for name, value in result["forward"].items():
            if name in tf:
                np.testing.assert_allclose(np.ravel(value), np.ravel(tf[name]), rtol=0, atol=1e-9, err_msg=name)
        for name, value in result["backward"].items():
            np.testing.assert_allclose(np.ravel(value), np.ravel(tb[name]), rtol=0, atol=1e-9, err_msg=name)
        again = walkthrough.complete_given(json.loads(walkthrough.to_json(result))["given"], seed=99)
        assert walkthrough.to_json(walkthrough.run(again)) == walkthrough.to_json(result)


def test_a_given_kernel_and_weights_set_the_sizes():
    # A 2-filter 2x2 kernel and 3 outputs: the spec's sizes give way to the given arrays.
    kernel = np.arange(8.0).reshape(2, 1, 2, 2).tolist()
    given = walkthrough.complete_given({"net": "conv 1x3x3, relu, maxpool 2, dense 10, softmax", "conv_kernel": kernel,
                                        "fc_weights": np.ones((3, 8)).tolist()})  # fmt: skip
    arch = walkthrough.architecture_of(given)
    assert str(arch) == "conv 2x2x2, relu, maxpool 2, dense 3, softmax"
    assert np.shape(given["conv_kernel"]) == (2, 1, 2, 2) and np.shape(given["conv_bias"]) == (2,)


BN_NET = "conv 2x3x3, batchnorm, relu, maxpool 2 stride 1, dense 3, softmax"


def eval_given(seed=0):
    """An evaluation-mode instance of BN_NET with running statistics of its own."""
    rng = np.random.default_rng(seed)
    stats = {"bn_running_mean": rng.normal(0, 1, 2).tolist(), "bn_running_var": rng.uniform(0.5, 2, 2).tolist()}
    return walkthrough.complete_given({"net": BN_NET, "mode": "eval", **stats}, seed)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_pass_in_either_mode_is_pytorchs_in_that_mode(mode):
    torch = pytest.importorskip("torch")
    given = eval_given(3) if mode == "eval" else walkthrough.complete_given({"net": BN_NET}, 3)
    p = walkthrough.run(given)
    assert p.mode == mode and ("mode" in p.given) == (mode == "eval")
    model, _ = torch_module(p.arch, p.params)
    if mode == "eval":
        model.bn.running_mean.copy_(torch.tensor(given["bn_running_mean"]))
        model.bn.running_var.copy_(torch.tensor(given["bn_running_var"]))
    model.train(mode == "train")
    x = torch.tensor(p.image[None], requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([p.label]))
    loss.backward()
    assert p.loss == pytest.approx(loss.item(), abs=1e-12)
    np.testing.assert_allclose(p.grads["image"], x.grad.numpy()[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.grads["bn_gamma"], model.bn.weight.grad.numpy(), rtol=0, atol=1e-12)


def test_the_walkthrough_says_its_mode_and_its_json_gives_it_back(tmp_path, capsys):
    from cnn_backprop.cli import main

    assert main(["walkthrough", "--net", BN_NET, "--mode", "eval", "--seed", "2", "--json"]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)
    assert document["given"]["mode"] == "eval" and document["given"]["bn_running_var"] == [1.0, 1.0]
    (tmp_path / "eval.json").write_text(out)
    assert main(["walkthrough", "--given", str(tmp_path / "eval.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == document
    assert main(["walkthrough", "--given", str(tmp_path / "eval.json")]) == 0
    text = capsys.readouterr().out
    assert "mode: eval (evaluation mode, as PyTorch's model.eval())" in text
    assert "normalised by its running mean [0, 0] and variance [1, 1]" in text
    assert "dL/dconv_pre = bn_gamma / sqrt(bn_var + eps) * dL/dbn (evaluation mode: mean and var are constants)" in text
    assert main(["walkthrough", "--net", BN_NET, "--seed", "2"]) == 0
    assert "mode: train (training mode, as PyTorch's model.train())" in capsys.readouterr().out
    assert main(["walkthrough", "--seed", "2"]) == 0
    assert "mode:" not in capsys.readouterr().out  # a pass that no mode changes says none
    assert main(["walkthrough", "--net", BN_NET, "--mode", "test"]) == 2
    assert "--mode: invalid choice: 'test' (choose from 'train', 'eval')" in capsys.readouterr().err


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"mode": "evaluation"}, "the given values: mode must be one of 'train', 'eval', got 'evaluation'"),
        ({"bn_running_var": [1, -1]}, "the given values: bn_running_var must hold variances >= 0, got -1.0"),
        ({"bn_running_mean": [1, 2, 3]}, "the given values: bn_running_mean has 3 numbers, the network needs 2"),
    ],
)
def test_a_bad_mode_or_running_statistic_is_refused(changes, message):
    with pytest.raises(InputError) as error:
        walkthrough.complete_given({"net": BN_NET, "mode": "eval", **changes})
    assert str(error.value) == message
