"""Every kind of the registry in every command and view, on its own example network (``Kind.example_net``).

A kind that joins the registry is run here with nothing else to write: the
walkthrough (text, JSON, arithmetic of every value, figures, report),
gradcheck, exercise sheets marked against their own key, training, evaluation,
prediction, export and the explorer page, whose engine must equal Python's.
"""

import json

import numpy as np
import pytest
from conftest import torch_module, torch_pass
from test_page import CHROMIUM, assert_same, browser, open_page, python_result  # noqa: F401 - the fixture

from cnn_backprop import explain, files, reference, walkthrough
from cnn_backprop.architecture import Architecture
from cnn_backprop.cli import main
from cnn_backprop.kinds import KINDS
from cnn_backprop.network import Network

EXAMPLES = {name: kind.example_net for name, kind in KINDS.items()}


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("name", list(KINDS))
def test_the_example_matches_pytorch_the_loop_reference_and_finite_differences(name):
    from cnn_backprop.gradcheck import TOLERANCE, check_network, kinks

    arch = Architecture.parse(EXAMPLES[name], 1, 5)
    for seed in range(50):  # the first draw away from every kink, where finite differences hold
        rng = np.random.default_rng(seed)
        params = {key: rng.normal(0, 1, shape) for key, shape in arch.param_shapes().items()}
        images, labels = rng.normal(0, 1, (3, 1, 5, 5)), rng.integers(0, arch.classes, 3)
        network = Network(arch, {key: value.copy() for key, value in params.items()})
        forward, backward = network.forward(images, labels), network.backward()
        if not any(kinks(Network(arch, params), images, labels).values()):
            break
    torch_forward, torch_backward = torch_pass(arch, params, images, labels, draws=forward)
    for ours, theirs in ((forward, torch_forward), (backward, torch_backward)):
        for key, value in theirs.items():
            np.testing.assert_allclose(ours[key], value, rtol=0, atol=1e-9, err_msg=key)
    one = Network(arch, params)
    one_forward, one_backward = one.forward(images[:1], labels[:1]), one.backward()
    draws = {name: value[0] for name, value in one_forward.items() if np.ndim(value)}  # what its layers drew
    ref_forward, ref_backward = reference.forward_backward(images[0], labels[0], arch, params, draws)
    for ours, theirs in ((one_forward, ref_forward), (one_backward, ref_backward)):
        for key, value in theirs.items():
            np.testing.assert_allclose(np.ravel(ours[key]), np.ravel(value), rtol=1e-12, atol=1e-12, err_msg=key)
    assert not any(kinks(network, images, labels).values())
    for key, (_, _, error) in check_network(network, images, labels).items():
        assert error < TOLERANCE, key


@pytest.mark.parametrize("name", list(KINDS))
def test_the_exported_example_comes_back_through_from_torch(name):
    from cnn_backprop import from_torch

    arch = Architecture.parse(EXAMPLES[name], 1, 5)
    rng = np.random.default_rng(0)
    params = {key: rng.normal(0, 1, shape) for key, shape in arch.param_shapes().items()}
    module, loss = torch_module(arch, params)
    network = from_torch(module, arch.input_shape, loss)
    assert network.arch == arch
    assert network.params.keys() == params.keys() and network.buffers.keys() == arch.initial_buffers().keys()
    for key, value in params.items():
        np.testing.assert_array_equal(network.params[key], value, err_msg=key)


@pytest.mark.parametrize("name", list(KINDS))
def test_every_value_of_the_example_is_explained_and_adds_up(name):
    given = walkthrough.complete_given({"net": EXAMPLES[name]}, seed=3)
    pass_ = walkthrough.run(given)
    text = explain.format_walkthrough(pass_, explain=True, decimals=6)
    assert "GIVEN" in text and "3. BACKWARD PASS" in text
    for quantity, value in [*pass_.values.items(), *((f"dL/d{k}", v) for k, v in pass_.grads.items())]:
        plain = quantity.removeprefix("dL/d")
        if plain == "output" and quantity.startswith("dL/d"):
            continue
        values = pass_.grads[plain] if quantity.startswith("dL/d") else value
        for index in list(np.ndindex(np.shape(values)))[:6]:
            kept = index[len(index) - np.ndim(pass_.shown(plain)) :]
            which = f"{quantity}[{','.join(map(str, kept))}]" if kept else quantity
            lines = explain.value_arithmetic(pass_, which, decimals=6)
            if plain in pass_.params or plain == "image":
                if not quantity.startswith("dL/d"):
                    continue  # a given value: only its gradient has arithmetic
            line = lines[-1] if quantity.startswith("dL/d") else lines[0]  # a value's line, then its gradient's
            last = float(line.rsplit("=", 1)[1].split()[0])  # a max pool's line goes on: "at conv [1,1]"
            assert last == pytest.approx(values[index], abs=2e-6), (which, line)


@pytest.mark.parametrize("name", list(KINDS))
def test_the_example_runs_in_every_command(name, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = EXAMPLES[name]
    status, out, _ = run(capsys, "walkthrough", "--net", net, "--json")
    assert status == 0 and json.loads(out)["given"]["net"] == net
    assert run(capsys, "walkthrough", "--net", net, "--explain", "--figures", "figures", "--report", "r.html")[0] == 0
    assert (tmp_path / "r.html").stat().st_size > 0 and list((tmp_path / "figures").glob("*.png"))
    assert run(capsys, "gradcheck", "--net", net)[0] == 0
    assert run(capsys, "exercise", "--net", net, "--count", "2", "--out", "sheets")[0] == 0
    # the sheet's key as the walkthrough writes it, whole, is all right: every quantity of it, extras included
    (tmp_path / "key.json").write_text(run(capsys, "walkthrough", "--given", "sheets/exercise_1.json", "--json")[1])
    status, out, _ = run(capsys, "check", "--given", "sheets/exercise_1.json", "key.json", "--json")
    marked = json.loads(out)
    assert status == 0 and {entry["verdict"] for entry in marked["entries"]} == {"right"}
    key = json.loads((tmp_path / "key.json").read_text())
    asked = {entry["quantity"] for entry in marked["entries"]}
    assert asked == {f"{part}.{name}" for part in ("shapes", "forward", "backward") for name in key[part]}
    status, out, _ = run(capsys, "train", "--net", net, "--epochs", "2", "--train-size", "200", "--test-size", "50",
                         "--out", "m.npz", "--json", "--quiet")  # fmt: skip
    assert status == 0 and json.loads(out)["net"] == str(Architecture.parse(net, 1, 5))
    assert run(capsys, "evaluate", "--model", "m.npz", "--test-size", "50")[0] == 0
    assert run(capsys, "dataset", "--count", "5", "--out", "d.npz")[0] == 0
    status, out, _ = run(capsys, "predict", "--model", "m.npz", "d.npz", "--json")
    ours = np.array([row["probabilities"] for row in json.loads(out)])
    assert status == 0 and run(capsys, "export", "--model", "m.npz", "--out", "m.py")[0] == 0
    # the exported module, with the model's weights (and running statistics), in evaluation mode predicts the same
    torch = pytest.importorskip("torch")
    namespace = {"__file__": str(tmp_path / "m.py")}
    exec((tmp_path / "m.py").read_text(), namespace)
    model = namespace["build"]().eval()
    with np.load(tmp_path / "d.npz") as data:
        z = model(torch.from_numpy(data["images"].astype(np.float64))).detach().numpy()
    model_file = files.load_model(tmp_path / "m.npz")
    theirs = model_file.arch.output.probabilities(Network(model_file.arch, model_file.params).layers[-1].forward(z))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    assert run(capsys, "explore", "--net", net, "--no-open", "--out", "page.html")[0] == 0


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_pages_engine_is_the_python_engine_on_every_example(browser, tmp_path):  # noqa: F811 - the fixture
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0))
    givens = [
        json.loads(walkthrough.to_json({"g": walkthrough.complete_given({"net": net}, seed)}))["g"]
        for net in EXAMPLES.values()
        for seed in range(3)
    ]
    results = tab.evaluate("(givens) => givens.map((g) => window.cnnBackprop.run(g))", givens)
    for given, ours in zip(givens, results):
        theirs = python_result(given)
        for part in ("shapes", "forward", "backward"):
            assert list(ours[part]) == list(theirs[part]), (given["net"], part)
            assert_same(ours[part], theirs[part], f"{given['net']}: {part}")
    assert tab.errors == []
