"""dropout: by hand in both modes, its P in a spec, its mask in a pass (drawn from the seed, given back, the same in
PyTorch), and its mistake made by plain loops (PyTorch with the same mask, the loop reference, finite differences,
every command and the page: tests/test_every_kind.py, on its example network)."""

import json

import numpy as np
import pytest
from test_page import CHROMIUM, browser, open_page  # noqa: F401 - the fixture

import cnn_backprop as cb
from cnn_backprop import walkthrough
from cnn_backprop.architecture import parse
from cnn_backprop.kinds.dropout import Dropout
from cnn_backprop.validate import InputError

NET = "conv 2x3x3, tanh, dropout 0.25, maxpool 2 stride 1, dense 3, tanh, dropout 0.5, dense 2, softmax"


def test_dropout_by_hand():
    layer = Dropout(0.5)
    layer.draws["mask"] = np.array([[1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 2.0, -3.0]])), [[2.0, 0.0, -6.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[2.0, 0.0, 2.0]])
    layer.training = False  # evaluation: the identity
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 2.0, -3.0]])), [[1.0, 2.0, -3.0]])
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[1.0, 1.0, 1.0]])


def test_a_network_that_trains_draws_anew_and_one_that_checks_keeps_its_mask():
    kept, trains = cb.build(NET, seed=1), cb.Network(cb.build(NET, seed=1).arch, cb.build(NET, seed=1).params,
                                                     image_grad=False)  # fmt: skip
    images = np.ones((4, 1, 5, 5))
    masks = [[net.forward(images, np.zeros(4, int))["drop1_mask"] for _ in range(2)] for net in (kept, trains)]
    assert np.array_equal(*masks[0]) and not np.array_equal(*masks[1])
    assert 0.6 < masks[1][0].mean() < 0.9  # kept with probability 0.75


@pytest.mark.parametrize("item,message", [("dropout", "its size is missing"), ("dropout 1", "'1' is not a "
                         "probability below 1"), ("dropout -0.5", "'-0.5' is not a number >= 0")])  # fmt: skip
def test_a_bad_p_is_refused_with_the_usage(item, message):
    with pytest.raises(InputError, match=message) as error:
        parse(f"conv 1x3x3, {item}, dense 1, sigmoid")
    assert "write dropout P, e.g. dropout 0.5" in str(error.value)


def test_the_mask_is_the_passs_drawn_from_its_seed_and_given_back():
    given = walkthrough.complete_given({"net": NET}, seed=4)
    assert given["drop1_mask"].shape == (2, 3, 3) and set(np.unique(given["drop1_mask"])) <= {0.0, 1.0}
    again = walkthrough.complete_given(json.loads(walkthrough.to_json({"g": given}))["g"])
    assert np.array_equal(again["drop2_mask"], given["drop2_mask"])
    assert not np.array_equal(walkthrough.complete_given({"net": NET}, seed=5)["drop1_mask"], given["drop1_mask"])
    p = walkthrough.run(given)
    np.testing.assert_array_equal(p.extras["drop1_mask"], given["drop1_mask"])
    assert "drop1_mask" in p["forward"] and "mode" not in given
    assert "drop1_mask" not in walkthrough.complete_given({"net": NET, "mode": "eval"}, seed=4)
    with pytest.raises(InputError, match=r"drop2_mask must hold 0 \(dropped\) and 1 \(kept\), got 0.5"):
        walkthrough.complete_given({"net": NET, "drop2_mask": [0.5, 1, 1]})
    with pytest.raises(InputError, match=r"drop2_mask has shape \[2\], the network needs \[3\]"):
        walkthrough.complete_given({"net": NET, "drop2_mask": [0, 1]})


def test_the_mask_explains_itself_as_given_by_the_index_its_given_writes():
    given = walkthrough.complete_given({"net": NET}, seed=4)
    p = walkthrough.run(given)
    for name in ("drop1_mask", "drop2_mask"):
        mask = np.asarray(given[name])
        for index in np.ndindex(mask.shape):
            written = ",".join(map(str, index))
            assert cb.explain_value(p, f"{name}[{written}]") == [
                f"{name}[{written}] is given (drawn in training mode): {mask[index]:.0f}"
            ]
    with pytest.raises(InputError, match=r"drop1_mask is 2x3x3; give 3 indices"):
        cb.explain_value(p, "drop1_mask[0,0]")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_pass_is_pytorchs_with_the_same_mask(mode):
    torch = pytest.importorskip("torch")
    from conftest import torch_module

    given = walkthrough.complete_given({"net": NET, **({"mode": mode} if mode == "eval" else {})}, seed=2)
    p = walkthrough.run(given)
    model, _ = torch_module(p.arch, p.params)
    model.train(mode == "train")
    if mode == "train":  # PyTorch's dropouts, with the pass's masks
        for name in ("drop1", "drop2"):
            mask = torch.tensor(given[f"{name}_mask"])[None]
            getattr(model, name).register_forward_hook(lambda m, x, out, mask=mask: x[0] * mask / (1 - m.p))
    x = torch.tensor(p.image[None], requires_grad=True)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([p.label]))
    loss.backward()
    assert p.loss == pytest.approx(loss.item(), abs=1e-12)
    np.testing.assert_allclose(p.grads["image"], x.grad.numpy()[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.grads["fc1_weights"], model.fc1.weight.grad.numpy(), rtol=0, atol=1e-12)


def test_a_modules_dropout_comes_in_and_goes_out_as_nn_dropout():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Dropout(0.3), nn.Flatten(), nn.Linear(18, 2))
    net = cb.from_torch(module, (1, 5, 5))
    assert str(net.arch) == "conv 2x3x3, relu, dropout 0.3, dense 2, softmax"
    assert "torch.nn.Dropout(0.3)" in cb.export_source(net="conv 2x3x3, relu, dropout 0.3, dense 2, softmax")[1]


# The mistake, by its own loops (tests/test_mistakes.py makes it at every layer of the kind).


def unscaled(pass_, named):
    """x * mask: the kept entries not scaled by 1 / (1 - P)."""
    x, mask = pass_.values[named.input], pass_.extras[f"{named.name}_mask"]
    return "forward", named.output, np.array([v * m for v, m in zip(x.flat, mask.flat)]).reshape(x.shape)


def unscaled_gradient(pass_, named):
    """dL/dout * mask: the gradient not scaled by 1 / (1 - P)."""
    g, mask = pass_.grads[named.output], pass_.extras[f"{named.name}_mask"]
    return "backward", named.input, np.array([v * m for v, m in zip(g.flat, mask.flat)]).reshape(g.shape)


MISTAKES = {"dropout-unscaled": unscaled, "dropout-unscaled gradient": unscaled_gradient}


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_shows_the_mask_beside_the_layer(browser, tmp_path):  # noqa: F811 - the fixture
    given = json.loads(walkthrough.to_json({"g": walkthrough.complete_given({"net": NET}, seed=4)}))["g"]
    tab = open_page(browser, tmp_path, given)
    assert tab.locator('[data-layer="drop2"] [data-array="drop2_mask"]').count() == 1
    assert tab.evaluate("() => Array.from(window.cnnBackprop.state.extras.drop2_mask.data)") == given["drop2_mask"]
    assert tab.errors == []
