"""Out of PyTorch, a module as its author wrote it: a class whose forward calls modules and functions, traced by
torch.fx, computes in cnn-backprop as in PyTorch float64; what it cannot take is refused in one line naming the
forward's line."""

import numpy as np
import pytest
from test_from_pytorch import randomised

import cnn_backprop as cb
from cnn_backprop.from_pytorch import UnsupportedModule, supported_classes, supported_functions

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


class CifarNet(nn.Module):
    """PyTorch's "Training a classifier" tutorial's Net, as it writes it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


class MnistNet(nn.Module):
    """pytorch/examples' MNIST Net, as it writes it: Dropout and log_softmax."""

    def __init__(self):
        super(MnistNet, self).__init__()  # noqa: UP008 - as the example writes it
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def d2l_lenet():
    """d2l's LeNet ("Dive into Deep Learning", 7.6), as it writes it: Sigmoid and AvgPool2d."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))  # fmt: skip


class Functional(nn.Module):
    """Every functional form the reader knows, ending in log_softmax."""

    def __init__(self, view):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc1 = nn.Linear(12, 5)
        self.fc2 = nn.Linear(5, 4)
        self.view = view

    def forward(self, x):
        x = F.max_pool2d(torch.tanh(self.bn(self.conv(x))), 2, stride=1)
        x = F.avg_pool2d(F.leaky_relu(x, 0.2), kernel_size=2)
        x = self.view(x)
        x = self.fc1(x).relu()
        return F.log_softmax(self.fc2(x), dim=1)


VIEWS = {
    "x.view(x.size(0), -1)": lambda x: x.view(x.size(0), -1),
    "x.view(-1, 12)": lambda x: x.view(-1, 12),
    "x.reshape(x.shape[0], -1)": lambda x: x.reshape(x.shape[0], -1),
    "torch.flatten(x, 1)": lambda x: torch.flatten(x, 1),
    "x.flatten(1)": lambda x: x.flatten(1),
}


def autograd(module, images, labels, loss):
    """(loss, dL/dimages, {parameter name in module order: dL/d it}) by torch autograd in float64."""
    x = torch.tensor(images, requires_grad=True)
    module.zero_grad()
    value = loss(module(x), torch.tensor(labels))
    value.backward()
    return value.item(), x.grad.numpy(), [p.grad.numpy() for p in module.parameters()]


def assert_same_as_torch(module, shape, loss, seed=0, loss_name="cross_entropy"):
    """cb.from_torch(module) on a batch of 3: loss, dL/dimage and every parameter gradient as torch's to 1e-9."""
    net = cb.from_torch(module, shape, loss=loss_name)
    rng = np.random.default_rng(seed)
    images, labels = rng.normal(0, 1, (3, *shape)), rng.integers(0, net.arch.classes, 3)
    ours = net.forward(images, labels)["loss"], net.backward()
    theirs = autograd(module, images, labels, loss)
    assert ours[0] == pytest.approx(theirs[0], abs=1e-9)
    np.testing.assert_allclose(ours[1]["image"], theirs[1], rtol=0, atol=1e-9)
    assert len(net.params) == len(theirs[2])
    for name, grad in zip(net.params, theirs[2]):
        np.testing.assert_allclose(ours[1][name], grad, rtol=0, atol=1e-9, err_msg=name)
    return net


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_pytorchs_tutorial_net_as_written(mode):
    module = randomised(CifarNet(), 1, scale=0.5)
    module.train(mode == "train")
    net = assert_same_as_torch(module, (3, 32, 32), nn.CrossEntropyLoss())
    assert str(net.arch) == (
        "conv 6x5x5, relu, maxpool 2, conv 16x5x5, relu, maxpool 2, dense 120, relu, dense 84, relu, dense 10, softmax"
    )
    assert net.training == (mode == "train")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_the_mnist_example_net_as_written(mode):
    """In training mode PyTorch's dropouts take the masks the network drew (from its forward's drop masks)."""
    module = randomised(MnistNet(), 8, scale=0.5).train(mode == "train")
    net = cb.from_torch(module, (1, 28, 28), loss=nn.NLLLoss())
    assert str(net.arch) == ("conv 32x3x3, relu, conv 64x3x3, relu, maxpool 2, dropout 0.25, dense 128, relu, "
                             "dropout 0.5, dense 10, softmax")  # fmt: skip
    rng = np.random.default_rng(8)
    images, labels = rng.normal(0, 1, (2, 1, 28, 28)), rng.integers(0, 10, 2)
    forward = net.forward(images, labels)
    if mode == "train":
        for name, dropout in (("drop1", module.dropout1), ("drop2", module.dropout2)):
            mask = torch.tensor(forward[f"{name}_mask"])
            dropout.register_forward_hook(lambda m, x, out, mask=mask: x[0] * mask / (1 - m.p))
    loss, image_grad, grads = autograd(module, images, labels, nn.NLLLoss())
    backward = net.backward()
    assert forward["loss"] == pytest.approx(loss, abs=1e-9)
    np.testing.assert_allclose(backward["image"], image_grad, rtol=0, atol=1e-9)
    for name, grad in zip(net.params, grads):
        np.testing.assert_allclose(backward[name], grad, rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_d2ls_lenet_as_written(mode):
    module = randomised(d2l_lenet(), 7, scale=0.5).train(mode == "train")
    net = assert_same_as_torch(module, (1, 28, 28), nn.CrossEntropyLoss())
    assert str(net.arch) == (
        "conv 6x5x5 pad 2, sigmoid, avgpool 2, conv 16x5x5, sigmoid, avgpool 2, dense 120, sigmoid, dense 84, sigmoid, "
        "dense 10, softmax"
    )


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_functional_form_and_a_log_softmax_end(view, mode):
    module = randomised(Functional(VIEWS[view]), 2, scale=0.5).train(mode == "train")
    for loss, name in ((nn.NLLLoss(), nn.NLLLoss()), (nn.NLLLoss(), "cross_entropy")):
        net = assert_same_as_torch(module, (1, 5, 5), loss, loss_name=name)
    assert str(net.arch) == "conv 3x3x3 pad 1, batchnorm, tanh, maxpool 2 stride 1, leakyrelu slope 0.2, avgpool 2, "\
        "dense 5, relu, dense 4, softmax"  # fmt: skip
    assert net.training == (mode == "train")


def test_reading_moves_no_running_statistic_of_the_module():
    module = randomised(Functional(VIEWS["torch.flatten(x, 1)"]), 3, scale=0.5)
    before = {key: value.clone() for key, value in module.state_dict().items()}
    cb.from_torch(module, (1, 5, 5))
    assert all(torch.equal(before[key], value) for key, value in module.state_dict().items())


def test_a_float32_module_comes_over_in_float64():
    net = cb.from_torch(CifarNet(), (3, 32, 32))
    assert {value.dtype for value in net.params.values()} == {np.dtype(np.float64)}


class Custom(nn.Module):
    def __init__(self, forward, **modules):
        super().__init__()
        for name, module in modules.items():
            setattr(self, name, module)
        self.forward_of = forward

    def forward(self, x):
        return self.forward_of(self, x)


CONV, FC = nn.Conv2d(1, 2, 3, padding=1), nn.Linear(72, 2)
REFUSED = {
    "option of a call": (lambda m, x: m.fc(F.max_pool2d(x, 2, ceil_mode=True).flatten(1)), {"fc": nn.Linear(9, 2)},
                         "F.max_pool2d with ceil_mode=True: cnn-backprop supports ceil_mode=False"),
    "branch": (lambda m, x: m.fc(torch.flatten(m.conv(x) + x, 1)), {"conv": CONV, "fc": FC},
               "operator.add: adds x (1x6x6) to conv (2x6x6); a residual block adds its input to its output of the "
               "same shape, through a 1x1 conv where its layers change it, and no broadcasting"),
    "a branch that is no block": (lambda m, x: m.fc(torch.flatten(m.conv(x) * x, 1)), {"conv": CONV, "fc": FC},
                                  "operator.mul: reads conv, x, where cnn-backprop reads each layer taking the output "
                                  "of the one before (conv), and a residual block adding its input to its output, "
                                  "through a 1x1 conv or none"),
    "a parameter used twice": (lambda m, x: m.fc(m.conv(m.conv(x)).flatten(1)),
                               {"conv": nn.Conv2d(1, 1, 3, padding=1), "fc": nn.Linear(36, 2)},
                               "self.conv (Conv2d): self.conv is used a second time; cnn-backprop gives each layer "
                               "parameters of its own: make a module for each use"),
    "unknown call": (lambda m, x: m.fc(torch.exp(m.conv(x)).flatten(1)), {"conv": CONV, "fc": FC},
                     f"torch.exp: not a layer cnn-backprop has; a forward may call {', '.join(supported_functions())} "
                     f"and modules of {', '.join(supported_classes())}"),
    "a view that is no flatten": (lambda m, x: m.fc(m.conv(x).view(-1, 36)), {"conv": CONV, "fc": nn.Linear(36, 2)},
                                  "x.view() with an output of shape 4x36: cnn-backprop supports each image flattened "
                                  "to one vector, e.g. x.view(x.size(0), -1)"),
    "ends in softmax": (lambda m, x: F.softmax(m.fc(m.conv(x).flatten(1)), dim=1), {"conv": CONV, "fc": FC},
                        "F.softmax: the module must end in logits (the last Linear's z); drop it: "
                        "loss='cross_entropy' adds the softmax"),
    "log_softmax over the wrong axis": (lambda m, x: F.log_softmax(m.fc(m.conv(x).flatten(1)), dim=0),
                                        {"conv": CONV, "fc": FC}, "F.log_softmax with dim=0: cnn-backprop supports a "
                                        "log_softmax over the classes of the logits (N, K), dim=1"),
    "shapes that do not fit": (lambda m, x: m.fc(m.conv(x).flatten(1)), {"conv": CONV, "fc": nn.Linear(50, 2)},
                               "self.fc (Linear): fails on images of 1x6x6 (mat1 and mat2 shapes cannot be multiplied "
                               "(2x72 and 50x2))"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_a_forward_cannot_do_is_refused_naming_its_line(case):
    forward, modules, message = REFUSED[case]
    with pytest.raises(UnsupportedModule) as error:
        cb.from_torch(Custom(forward, **modules), (1, 6, 6))
    text = str(error.value)
    assert "\n" not in text and text.startswith("Custom.forward line ") and text.endswith(message), text
    assert "forward_of(self, x)" not in text  # the line of the forward that calls it, not the wrapper's


def test_control_flow_on_values_is_refused_as_untraceable():
    def forward(m, x):
        return m.fc((m.conv(x) if x.sum() > 0 else x).flatten(1))

    with pytest.raises(UnsupportedModule, match=r"^Custom.forward cannot be traced by torch.fx \(.*\); cnn-backprop "
                       "reads a forward that calls its layers one after another$"):  # fmt: skip
        cb.from_torch(Custom(forward, conv=CONV, fc=FC), (1, 6, 6))


@pytest.mark.parametrize(
    "loss,message",
    [
        (nn.CrossEntropyLoss(label_smoothing=0.1), "loss=CrossEntropyLoss(label_smoothing=0.1): cnn-backprop supports "
         "label_smoothing=0.0"),
        (nn.CrossEntropyLoss(weight=torch.ones(2)), "loss=CrossEntropyLoss(weight=a tensor): cnn-backprop supports "
         "weight=None"),
        (nn.NLLLoss(reduction="sum"), "loss=NLLLoss(reduction='sum'): cnn-backprop supports reduction='mean'"),
        (nn.BCEWithLogitsLoss(pos_weight=torch.ones(1)), "loss=BCEWithLogitsLoss(pos_weight=a tensor): cnn-backprop "
         "supports pos_weight=None"),
        (nn.NLLLoss(), "Custom.forward line 0 (x): self.fc (Linear): loss=NLLLoss() reads log-probabilities, but the "
         "module ends in logits; end it in F.log_softmax(x, dim=1), or use nn.CrossEntropyLoss()"),
    ],
)  # fmt: skip
def test_a_loss_option_that_cannot_be_honoured_is_refused_by_name(loss, message):
    def forward(m, x):
        return m.fc(m.conv(x).flatten(1))

    with pytest.raises(UnsupportedModule) as error:
        cb.from_torch(Custom(forward, conv=CONV, fc=FC), (1, 6, 6), loss=loss)
    if message.startswith("Custom"):
        assert str(error.value).startswith("Custom.forward line ")
        assert str(error.value).endswith(message.split("(x): ")[1])
    else:
        assert str(error.value) == message


def test_a_log_softmax_end_with_a_binary_loss_is_refused():
    def forward(m, x):
        return F.log_softmax(m.fc(m.conv(x).flatten(1)), dim=1)

    with pytest.raises(UnsupportedModule, match=r"F.log_softmax: log_softmax gives log-probabilities of several "
                       r"classes, but loss=BCEWithLogitsLoss\(\) reads one logit; use nn.NLLLoss\(\) or "
                       r"nn.CrossEntropyLoss\(\)$"):  # fmt: skip
        cb.from_torch(Custom(forward, conv=CONV, fc=FC), (1, 6, 6), loss=nn.BCEWithLogitsLoss())


def test_a_bce_loss_object_is_the_sigmoid_output():
    module = randomised(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 1)), 4)
    net = cb.from_torch(module, (1, 6, 6), loss=nn.BCEWithLogitsLoss())
    assert str(net.arch) == "conv 2x3x3, relu, dense 1, sigmoid"
    images, labels = np.random.default_rng(0).normal(0, 1, (3, 1, 6, 6)), np.array([0, 1, 1])
    loss = nn.BCEWithLogitsLoss()(module(torch.tensor(images))[:, 0], torch.tensor(labels).double())
    assert net.forward(images, labels)["loss"] == pytest.approx(loss.item(), abs=1e-12)


def test_a_sequential_ending_in_log_softmax():
    module = randomised(nn.Sequential(nn.Flatten(), nn.Linear(36, 3), nn.LogSoftmax(dim=1)), 5)
    net = assert_same_as_torch(module, (1, 6, 6), nn.NLLLoss(), loss_name=nn.NLLLoss())
    assert str(net.arch) == "dense 3, softmax"


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_pass_of_a_module_is_in_the_mode_it_was_read_in(mode):
    module = randomised(Functional(VIEWS["torch.flatten(x, 1)"]), 6, scale=0.5).train(mode == "train")
    image = np.random.default_rng(6).normal(0, 1, (1, 5, 5))
    p = cb.pass_of(cb.from_torch(module, (1, 5, 5)), image, 2)
    assert p.mode == mode and p.given.get("mode", "train") == mode
    loss, image_grad, grads = autograd(module, image[None], np.array([2]), nn.NLLLoss())
    assert p.loss == pytest.approx(loss, abs=1e-12)
    np.testing.assert_allclose(p.grads["image"], image_grad[0], rtol=0, atol=1e-12)
    other = "eval" if mode == "train" else "train"
    assert cb.pass_of(cb.from_torch(module, (1, 5, 5)), image, 2, mode=other).loss != pytest.approx(loss, abs=1e-6)
