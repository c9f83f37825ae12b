"""Out of PyTorch: a torch.nn.Sequential of our kinds computes in cnn-backprop as in PyTorch float64, a .pt
state_dict of the exported module comes back as a model, and whatever cannot come in is refused in one line."""

import copy
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from conftest import module_pass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_page import CHROMIUM, assert_same, browser, open_page  # noqa: F401 - the fixture

import cnn_backprop as cb
from cnn_backprop import files
from cnn_backprop.cli import main
from cnn_backprop.from_pytorch import UnsupportedModule, supported_classes
from cnn_backprop.layers import output_size

torch = pytest.importorskip("torch")
nn = torch.nn
ACTIVATIONS = [nn.ReLU, nn.Tanh, lambda: nn.LeakyReLU(0.2), nn.LeakyReLU]
POOLS = [nn.MaxPool2d, nn.AvgPool2d]


@st.composite
def modules(draw):
    """(a random torch.nn.Sequential of every kind we have, its input shape, its loss): 1-2 conv layers, with or
    without padding (a number, a pair, 'same' or 'valid') and stride, each maybe with batch norm, an activation and
    pooling; Flatten; maybe a hidden Linear and an activation; a Linear giving the logits."""
    channels, side = draw(st.integers(1, 3)), draw(st.integers(4, 8))
    shape, layers = (channels, side, side), []
    for _ in range(draw(st.integers(1, 2))):
        kernel, stride = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        padding = draw(st.sampled_from([0, 1, (1, 1), "valid"] + (["same"] if stride == 1 and kernel % 2 else [])))
        pad = {"valid": 0, "same": (kernel - 1) // 2}.get(padding, padding if isinstance(padding, int) else 1)
        if kernel > side + 2 * pad:
            break
        filters = draw(st.integers(1, 4))
        layers.append(nn.Conv2d(channels, filters, (kernel, kernel) if draw(st.booleans()) else kernel,
                                stride=stride, padding=padding))  # fmt: skip
        channels, side = filters, output_size(side, kernel, stride, pad)
        if side >= 2 and draw(st.booleans()):
            layers.append(nn.BatchNorm2d(filters))
        if draw(st.booleans()):
            layers.append(draw(st.sampled_from(ACTIVATIONS))())
        if side >= 2 and draw(st.booleans()):
            size = draw(st.integers(1, 2))
            stride = draw(st.sampled_from([None, 1, size]))
            layers.append(draw(st.sampled_from(POOLS))(size, stride=stride))
            side = output_size(side, size, stride or size)
    layers.append(nn.Flatten())
    width = channels * side * side
    if draw(st.booleans()):
        hidden = draw(st.integers(1, 5))
        layers += [nn.Linear(width, hidden), draw(st.sampled_from(ACTIVATIONS))()]
        width = hidden
    loss = draw(st.sampled_from(["bce", "cross_entropy"]))
    layers.append(nn.Linear(width, 1 if loss == "bce" else draw(st.integers(2, 4))))
    return nn.Sequential(*layers), shape, loss


def randomised(module, seed, scale=1.0):
    """``module`` in float64 with every parameter and batch norm statistic drawn from ``seed`` (parameters and
    running means ~ N(0, scale^2))."""
    torch.manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2)
            elif name.endswith("num_batches_tracked"):
                tensor.fill_(seed % 7)
            else:
                tensor.normal_(0, scale)
    return module


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=modules(), seed=st.integers(0, 2**31 - 1))
def test_a_random_module_computes_as_in_pytorch(drawn, seed):
    module, shape, loss = drawn
    module = randomised(module, seed)
    net = cb.from_torch(module, shape, loss=loss)
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 1, (3, *shape))
    labels = rng.integers(0, net.arch.classes, 3)
    forward, backward = net.forward(images, labels), net.backward()
    torch_forward, torch_backward = module_pass(module, loss, net.arch, images, labels)
    assert set(torch_backward) <= set(backward)
    for name, value in torch_forward.items():
        np.testing.assert_allclose(forward[name], value, rtol=1e-9, atol=1e-9, err_msg=name)
    for name, value in torch_backward.items():
        np.testing.assert_allclose(backward[name], value, rtol=1e-9, atol=1e-9, err_msg=f"dL/d{name}")
    # The batch norms' running statistics came over too: evaluation mode agrees.
    module.eval()
    with torch.no_grad():
        z = module(torch.from_numpy(images))
    expected = torch.sigmoid(z).numpy() if loss == "bce" else torch.softmax(z, dim=1).numpy()
    probabilities = net.eval().predict_proba(images)
    np.testing.assert_allclose(probabilities[:, 1:] if loss == "bce" else probabilities, expected, atol=1e-12)


def test_the_architecture_and_names_are_ours():
    module = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same"), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
                           nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))  # fmt: skip
    net = cb.from_torch(module, (1, 8, 8))
    assert str(net.arch) == "conv 4x3x3 pad 1, batchnorm, leakyrelu slope 0.2, avgpool 2, dense 10, softmax"
    assert list(net.params) == ["conv_kernel", "conv_bias", "bn_gamma", "bn_beta", "fc_weights", "fc_bias"]
    assert np.array_equal(net.params["conv_kernel"], module[0].weight.detach().double().numpy())
    assert net.params["conv_kernel"].dtype == np.float64 and net.buffers["bn_num_batches_tracked"].dtype == np.int64
    assert net.training and not cb.from_torch(module.eval(), (1, 8, 8)).training
    assert str(cb.from_torch(nn.Sequential(nn.Flatten(), nn.Linear(25, 1)), (1, 5, 5), "bce").arch) == (
        "dense 1, sigmoid"
    )


def test_a_flatten_before_an_activation_is_read_as_the_same_numbers_flattened_after_it():
    module = randomised(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Tanh(), nn.Linear(18, 3)), 3)
    net = cb.from_torch(module, (1, 5, 5))
    assert str(net.arch) == "conv 2x3x3, tanh, dense 3, softmax"
    images = np.random.default_rng(3).normal(0, 1, (2, 1, 5, 5))
    with torch.no_grad():
        z = module(torch.from_numpy(images))
    np.testing.assert_allclose(net.predict_proba(images), torch.softmax(z, 1).numpy(), rtol=0, atol=1e-12)


def one_layer(*middle, linear=None):
    """A module on 1x6x6 images: ``middle``, then Flatten and a Linear to 2 logits (of any size where that is not
    what is refused: the sizes are checked last)."""
    return nn.Sequential(*middle, nn.Flatten(), linear or nn.Linear(36, 2))


CONV = nn.Conv2d(1, 2, 3)
CLASSES = ", ".join(supported_classes())  # the registry's, in the grammar's order
UNSUPPORTED = {
    "dilation": (one_layer(nn.Conv2d(1, 2, 3, dilation=2)),
                 "layer 1 (0): Conv2d with dilation=(2, 2): cnn-backprop supports dilation=(1, 1)"),
    "groups": (one_layer(nn.Conv2d(1, 2, 1), nn.Conv2d(2, 2, 3, groups=2)),
               "layer 2 (1): Conv2d with groups=2: cnn-backprop supports groups=1"),
    "padding_mode": (one_layer(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")),
                     "layer 1 (0): Conv2d with padding_mode='reflect': cnn-backprop supports padding_mode='zeros'"),
    "conv bias=False": (one_layer(nn.Conv2d(1, 2, 3, bias=False)),
                        "layer 1 (0): Conv2d with bias=False: cnn-backprop supports a bias in every conv layer "
                        "(bias=True)"),
    "non-square kernel": (one_layer(nn.Conv2d(1, 2, (3, 2))),
                          "layer 1 (0): Conv2d with kernel_size=(3, 2): cnn-backprop supports the same kernel_size "
                          "across and down, e.g. kernel_size=3"),
    "non-square stride": (one_layer(nn.Conv2d(1, 2, 3, stride=(1, 2))),
                          "layer 1 (0): Conv2d with stride=(1, 2): cnn-backprop supports the same stride across and "
                          "down, e.g. stride=1"),
    "non-square padding": (one_layer(nn.Conv2d(1, 2, 3, padding=(1, 0))),
                           "layer 1 (0): Conv2d with padding=(1, 0): cnn-backprop supports the same padding across "
                           "and down, e.g. padding=1"),
    "same padding, even kernel": (one_layer(nn.Conv2d(1, 2, 2, padding="same")),
                                  "layer 1 (0): Conv2d with padding='same' and an even kernel: cnn-backprop supports "
                                  "the same padding on every side (an odd kernel)"),
    "ceil_mode": (one_layer(nn.MaxPool2d(2, ceil_mode=True)),
                  "layer 1 (0): MaxPool2d with ceil_mode=True: cnn-backprop supports ceil_mode=False"),
    "pool padding": (one_layer(nn.MaxPool2d(3, padding=1)),
                     "layer 1 (0): MaxPool2d with padding=1: cnn-backprop supports padding=0"),
    "pool dilation": (one_layer(nn.MaxPool2d(2, dilation=2)),
                      "layer 1 (0): MaxPool2d with dilation=2: cnn-backprop supports dilation=1"),
    "return_indices": (one_layer(nn.MaxPool2d(2, return_indices=True)),
                       "layer 1 (0): MaxPool2d with return_indices=True: cnn-backprop supports return_indices=False"),
    "avgpool padding, count_include_pad=False": (
        one_layer(nn.AvgPool2d(3, padding=1, count_include_pad=False)),
        "layer 1 (0): AvgPool2d with padding=1: cnn-backprop supports padding=0"),
    "divisor_override": (one_layer(nn.AvgPool2d(2, divisor_override=3)),
                         "layer 1 (0): AvgPool2d with divisor_override=3: cnn-backprop supports divisor_override=None"),
    "non-square pool": (one_layer(nn.AvgPool2d((2, 1))),
                        "layer 1 (0): AvgPool2d with kernel_size=(2, 1): cnn-backprop supports the same kernel_size "
                        "across and down, e.g. kernel_size=2"),
    "affine=False": (one_layer(CONV, nn.BatchNorm2d(2, affine=False)),
                     "layer 2 (1): BatchNorm2d with affine=False: cnn-backprop supports affine=True"),
    "eps": (one_layer(CONV, nn.BatchNorm2d(2, eps=1e-3)),
            "layer 2 (1): BatchNorm2d with eps=0.001: cnn-backprop supports eps=1e-05"),
    "momentum": (one_layer(CONV, nn.BatchNorm2d(2, momentum=None)),
                 "layer 2 (1): BatchNorm2d with momentum=None: cnn-backprop supports momentum=0.1"),
    "track_running_stats=False": (one_layer(CONV, nn.BatchNorm2d(2, track_running_stats=False)),
                                  "layer 2 (1): BatchNorm2d with track_running_stats=False: cnn-backprop supports "
                                  "track_running_stats=True"),
    "linear bias=False": (one_layer(linear=nn.Linear(36, 2, bias=False)),
                          "layer 2 (1): Linear with bias=False: cnn-backprop supports a bias in every dense layer "
                          "(bias=True)"),
    "negative slope": (one_layer(nn.LeakyReLU(-0.1)),
                       "layer 1 (0): LeakyReLU with negative_slope=-0.1: cnn-backprop supports slopes >= 0 of at "
                       "most 6 significant digits, e.g. 0.01"),
    "slope a spec cannot write": (one_layer(nn.LeakyReLU(1 / 3)),
                                  "layer 1 (0): LeakyReLU with negative_slope=0.3333333333333333: cnn-backprop "
                                  "supports slopes >= 0 of at most 6 significant digits, e.g. 0.01"),
    "flatten start_dim": (nn.Sequential(nn.Flatten(0), nn.Linear(36, 2)),
                          "layer 1 (0): Flatten with start_dim=0: cnn-backprop supports start_dim=1"),
    "unknown module": (one_layer(CONV, nn.Softplus()),
                       f"layer 2 (1): Softplus: not a layer cnn-backprop has; it takes {CLASSES}"),
    "nested Sequential": (one_layer(nn.Sequential(CONV)),
                          f"layer 1 (0): Sequential: not a layer cnn-backprop has; it takes {CLASSES}"),
    "ends in softmax": (nn.Sequential(nn.Flatten(), nn.Linear(36, 2), nn.Softmax(dim=1)),
                        "layer 3 (2): Softmax: the module must end in logits (the last Linear's z); drop it: "
                        "loss='cross_entropy' adds the softmax"),
    "ends in ReLU": (nn.Sequential(nn.Flatten(), nn.Linear(36, 2), nn.ReLU()),
                     "layer 3 (2): ReLU: the module must end in a Linear layer, whose output z (the logits) the "
                     "loss reads"),
    "no Flatten": (nn.Sequential(CONV, nn.Linear(4, 2)),
                   "layer 2 (1): Linear: reads a vector, but its input is a feature map; put a torch.nn.Flatten() "
                   "right before it"),
    "map after Flatten": (nn.Sequential(nn.Flatten(), nn.Linear(36, 4), nn.MaxPool2d(2), nn.Linear(2, 2)),
                          "layer 3 (2): MaxPool2d: reads a feature map, but it comes after a Flatten or Linear; "
                          "feature-map layers come first"),
    "Flatten not before Linear": (nn.Sequential(CONV, nn.Flatten(), nn.MaxPool2d(1), nn.Linear(32, 2)),
                                  "layer 2 (1): Flatten: cnn-backprop flattens right before the first Linear; move "
                                  "it there"),
    "batch norm after ReLU": (one_layer(CONV, nn.ReLU(), nn.BatchNorm2d(2)),
                              "layer 3 (2): BatchNorm2d: batchnorm normalises a conv layer's output: put it right "
                              "after a conv layer, e.g. 'conv 8x3x3, batchnorm, relu'"),
    "kernel larger than the image": (one_layer(nn.Conv2d(1, 2, 7)),
                                     "layer 1 (0): Conv2d: a 7x7 kernel does not fit a 6x6 image; use padding 1 or "
                                     "a kernel of at most 6x6"),
    "in_channels": (one_layer(nn.Conv2d(3, 2, 3)),
                    "layer 1 (0): Conv2d has weight of shape [2, 3, 3, 3], but its input 1x6x6 needs [2, 1, 3, 3]"),
    "in_features": (one_layer(CONV, linear=nn.Linear(36, 2)),
                    "layer 3 (2): Linear has weight of shape [2, 36], but its input 32 needs [2, 32]"),
    "empty": (nn.Sequential(), "the module is empty; it must end in a Linear layer that gives the logits"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(UNSUPPORTED))
def test_what_cannot_come_in_is_refused_in_one_line(case):
    module, message = UNSUPPORTED[case]
    with pytest.raises(UnsupportedModule) as error:
        cb.from_torch(module, (1, 6, 6))
    assert str(error.value) == message
    assert isinstance(error.value, ValueError) and isinstance(error.value, cb.InputError)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: cb.from_torch(one_layer().state_dict(), (1, 6, 6)),
         "cb.from_torch reads a torch.nn.Module, got OrderedDict"),
        (lambda: cb.from_torch(one_layer(), (1, 6, 6), loss="mse"),
         "loss must be one of 'bce', 'cross_entropy', got 'mse'"),
        (lambda: cb.from_torch(one_layer(), (1, 6, 6), loss=nn.MSELoss()),
         "loss must be one of 'bce', 'cross_entropy', nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss(), nn.NLLLoss(), "
         "got MSELoss()"),
        (lambda: cb.from_torch(one_layer(), (1, 6, 4)),
         "input_shape must be square images, got 6x4"),
        (lambda: cb.from_torch(one_layer(), (6, 6)),
         "input_shape must be (channels, height, width) of whole numbers >= 1, got (6, 6)"),
        (lambda: cb.from_torch(one_layer(), (1, 6, 6), loss="bce"),
         "layer 2 (1): Linear with loss='bce': sigmoid gives P(class 1) from one number z; the dense layer before it "
         "has 2 outputs: use 'dense 1, sigmoid', or softmax for several classes"),
    ],
)  # fmt: skip
def test_what_is_asked_of_from_torch_is_checked(call, message):
    with pytest.raises(cb.InputError) as error:
        call()
    assert str(error.value) == message


def test_without_torch_from_torch_and_pt_files_say_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(cb.InputError, match=r"^cb.from_torch needs PyTorch, .*: pip install torch==2.13.0$"):
        cb.from_torch(object(), (1, 6, 6))
    path = tmp_path / "m.pt"
    path.write_bytes(b"not read")
    with pytest.raises(cb.InputError, match=r"m.pt: reading a .pt file needs PyTorch, .*: pip install torch==2.13.0$"):
        cb.load_model(path)


def test_importing_the_package_imports_no_torch():
    code = "import cnn_backprop, cnn_backprop.from_pytorch, sys; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


# The round trip: export, train in PyTorch, save the state_dict, come back with --model m.pt. ------------------

NET = "conv 3x3x3 pad 1, batchnorm, relu, maxpool 2, dense 10, softmax"


@pytest.fixture(scope="module")
def trained_in_pytorch(tmp_path_factory):
    """(the exported module after a few SGD steps in PyTorch, the path of its saved state_dict, the digits)."""
    folder = tmp_path_factory.mktemp("round_trip")
    _, source = cb.export_source(net=NET, source="digits", out_dir=folder)
    namespace = {}
    exec(source, namespace)
    model = namespace["build"]()
    digits = cb.load_data("digits")
    images, labels = torch.from_numpy(digits.train_images[:128]), torch.from_numpy(digits.train_labels[:128])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    torch.save(model.state_dict(), folder / "m.pt")
    return model, folder / "m.pt", digits


def test_a_saved_state_dict_predicts_as_the_module_does(trained_in_pytorch, tmp_path, capsys):
    model, path, digits = trained_in_pytorch
    loaded = cb.load_model(path)
    assert str(loaded.arch) == NET and loaded.classes == tuple("0123456789") and loaded.data == "digits"
    assert int(loaded.buffers["bn_num_batches_tracked"]) == 5
    images = digits.test_images[:20]
    model.eval()
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(images)), dim=1).numpy()
    model.train()
    np.testing.assert_allclose(cb.predict(path, images), expected, rtol=0, atol=1e-12)
    np.save(tmp_path / "images.npy", images[:2])
    assert main(["predict", "--model", str(path), str(tmp_path / "images.npy")]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [int(row.split()[1]) for row in rows] == list(expected[:2].argmax(axis=1))


def test_the_walkthrough_and_explain_run_on_a_saved_state_dict(trained_in_pytorch, capsys):
    model, path, _ = trained_in_pytorch
    p = cb.run(model=path, seed=3)
    assert str(p.arch) == NET
    image, label = torch.from_numpy(p.image[None]).requires_grad_(), torch.tensor([p.label])
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(image), label)  # training mode: one image's batch statistics
    loss.backward()
    assert p.loss == pytest.approx(loss.item(), abs=1e-12)
    np.testing.assert_allclose(p.grads["conv_kernel"], model.conv.weight.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.grads["image"], image.grad.numpy()[0], rtol=0, atol=1e-12)
    assert main(["walkthrough", "--model", str(path), "--seed", "3", "--explain", "dL/dfc_bias[4]"]) == 0
    shown = capsys.readouterr().out.strip()
    assert shown.endswith(f"= {p.grads['fc_bias'][4]:.4f}")
    cb.save_model(path.with_suffix(".npz"), cb.load_model(path))  # the same model as a model file: the same pass
    assert cb.run(model=path.with_suffix(".npz"), seed=3).loss == p.loss
    assert main(["walkthrough", "--model", str(path), "--net", NET]) == 2
    assert "--model brings its own network" in capsys.readouterr().err


def test_every_command_that_takes_a_model_takes_a_saved_state_dict(trained_in_pytorch, tmp_path, capsys):
    _, path, digits = trained_in_pytorch
    accuracy = cb.evaluate_model(path)["accuracy"]
    assert main(["evaluate", "--model", str(path)]) == 0
    assert f"accuracy {100 * accuracy:.2f}%" in capsys.readouterr().out
    assert main(["gradcheck", "--model", str(path)]) in (0, 1)  # 1 only at a kink of the digits' flat background
    assert "conv_kernel" in capsys.readouterr().out
    assert main(["explore", "--no-open", "--model", str(path), "--out", str(tmp_path / "x.html")]) == 0
    assert NET in (tmp_path / "x.html").read_text()
    assert main(["export", "--model", str(path), "--out", str(tmp_path / "again.py")]) == 0
    namespace = {"__file__": str(tmp_path / "again.py")}
    exec((tmp_path / "again.py").read_text(), namespace)
    again = namespace["build"]()  # its WEIGHTS: m.pt, relative to again.py
    with torch.no_grad():
        z = again.eval()(torch.from_numpy(digits.test_images[:5]))
    np.testing.assert_allclose(cb.predict(path, digits.test_images[:5]), torch.softmax(z, 1).numpy(), atol=1e-12)


def test_a_pickled_module_is_refused(tmp_path, capsys):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    torch.save(model, tmp_path / "whole.pt")
    with pytest.raises(pickle.UnpicklingError):  # what torch.load itself does with it
        torch.load(tmp_path / "whole.pt", weights_only=True)
    assert main(["predict", "--model", str(tmp_path / "whole.pt"), "x.npy"]) == 2
    assert capsys.readouterr().err == (
        f"cnn-backprop: error: {tmp_path / 'whole.pt'}: holds a pickled torch.nn.modules.container.Sequential, and "
        "pickled objects are never loaded; save the weights alone: torch.save(model.state_dict(), path)\n"
    )


@pytest.mark.parametrize(
    "save,message",
    [
        (lambda path: torch.save(nn.Linear(2, 2).state_dict(), path),
         "a state_dict that does not say its network; save it from the module 'cnn-backprop export' writes (its "
         "state_dict carries the network), or bring a module of your own in with cb.from_torch(module, input_shape)"),
        (lambda path: torch.save([torch.zeros(2)], path),
         "not a state_dict (a dict of tensors); save the weights alone: torch.save(model.state_dict(), path)"),
        (lambda path: path.write_bytes(b"PK\x03\x04 truncated"),
         "not a readable PyTorch file (PytorchStreamReader failed reading zip archive: not a ZIP archive)"),
        (lambda path: None, "no such file"),
    ],
)  # fmt: skip
def test_a_pt_file_that_is_no_exported_state_dict_is_refused(tmp_path, capsys, save, message):
    path = tmp_path / "m.pt"
    save(path)
    assert main(["walkthrough", "--model", str(path)]) == 2
    assert capsys.readouterr().err == f"cnn-backprop: error: {path}: {message}\n"


def test_a_pass_of_an_imported_network_is_an_instance_to_start_from():
    module = randomised(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(32, 3)), 5)
    p = cb.pass_of(cb.from_torch(module, (1, 6, 6)), np.random.default_rng(0).random((1, 6, 6)), 2)
    again = cb.run(given=p)
    assert again.loss == p.loss and str(again.arch) == str(p.arch)
    for name, grad in p.grads.items():
        np.testing.assert_array_equal(again.grads[name], grad, err_msg=name)
    assert "conv 2x3x3, tanh, dense 3, softmax" in cb.explorer_page(given=p)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_explorer_on_an_imported_module_runs_its_pass_in_the_browser(browser, tmp_path):  # noqa: F811 - the fixture
    module = randomised(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.LeakyReLU(0.1),
                                      nn.AvgPool2d(2), nn.Flatten(), nn.Linear(48, 4)), 11)  # fmt: skip
    digits = cb.load_data("digits")
    p = cb.pass_of(cb.from_torch(module, (1, 8, 8)), digits.test_images[0], 2, classes="abcd")
    tab = open_page(browser, tmp_path, cb.given_for(p))
    given = json.loads(cb.to_json(p["given"]))
    ours = tab.evaluate("(given) => window.cnnBackprop.run(given)", given)
    for part in ("forward", "backward"):
        assert_same(ours[part], json.loads(cb.to_json(p))[part], part)
    assert tab.errors == []


def test_a_float32_state_dict_is_converted_and_said_once(trained_in_pytorch, tmp_path, capsys):
    model, path, digits = trained_in_pytorch
    single = tmp_path / "single.pt"
    torch.save(copy.deepcopy(model).float().state_dict(), single)
    with pytest.warns(files.Converted, match=r"single.pt: its float32 numbers were converted to float64, in which "
                      "cnn-backprop computes$") as said:  # fmt: skip
        loaded = cb.load_model(single)
    assert len(said) == 1
    expected = {name: value.astype(np.float32).astype(np.float64) for name, value in cb.load_model(path).params.items()}
    for name, value in loaded.params.items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, expected[name], err_msg=name)
    np.save(tmp_path / "images.npy", digits.test_images[:2])
    assert main(["predict", "--model", str(single), str(tmp_path / "images.npy")]) == 0
    note = f"{single}: its float32 numbers were converted to float64, in which cnn-backprop computes"
    assert capsys.readouterr().err == f"cnn-backprop: note: {note}\n"
