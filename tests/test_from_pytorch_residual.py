"""cb.from_torch of residual blocks written as classes (``out += self.shortcut(x)``, ``out = out + identity``,
``torch.add``), with batch norm, in training and evaluation mode: every value and gradient as PyTorch's."""

import numpy as np
import pytest

import cnn_backprop as cb

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


class BasicBlock(nn.Module):
    """ResNet's basic block as a tutorial writes it, the shortcut a 1x1 conv where the shape changes."""

    def __init__(self, cin, cout, stride=1, written="+="):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride))
        self.written = written

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.written == "+=":
            out += self.shortcut(x)
        elif self.written == "+":
            identity = self.shortcut(x)
            out = out + identity
        else:
            out = torch.add(self.shortcut(x), out)
        return F.relu(out)


class Net(nn.Module):
    def __init__(self, written="+=", shortcut=None):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.block1 = BasicBlock(4, 4, written=written)
        self.block2 = BasicBlock(4, 8, 2, written=written)
        if shortcut is not None:
            self.block2.shortcut = shortcut
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


SPEC = ("conv 4x3x3 pad 1, relu, residual(conv 4x3x3 pad 1, batchnorm, relu, conv 4x3x3 pad 1, batchnorm), relu, "
        "residual(conv 8x3x3 stride 2 pad 1, batchnorm, relu, conv 8x3x3 pad 1, batchnorm), relu, globalavgpool, "
        "dense 10, softmax")  # fmt: skip


@pytest.mark.parametrize("written", ["+=", "+", "torch.add"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_class_with_basic_blocks_comes_in_with_every_gradient_as_pytorchs(written, mode):
    torch.manual_seed(1)
    model = Net(written).double().train(mode == "train")
    if mode == "eval":  # running statistics of their own, so that evaluation mode reads them
        with torch.no_grad():
            model.train()(torch.randn(8, 1, 8, 8, dtype=torch.float64))
            model.eval()
    net = cb.from_torch(model, (1, 8, 8))
    assert str(net.arch) == SPEC and net.mode == mode
    assert net.arch.layer("res2_shortcut").layer.stride == 2
    images = np.random.default_rng(0).normal(0, 1, (4, 1, 8, 8))
    labels = np.array([0, 3, 9, 1])
    x = torch.from_numpy(images)
    loss = F.cross_entropy(model(x), torch.from_numpy(labels))
    loss.backward()
    forward, backward = net.forward(images, labels), net.backward()
    np.testing.assert_allclose(forward["loss"], loss.item(), rtol=0, atol=1e-12)
    ours = {"stem": "conv1", "block1.conv1": "conv2", "block2.conv2": "conv5", "block2.shortcut.0": "res2_shortcut"}
    for theirs, name in ours.items():
        grad = model.get_submodule(theirs).weight.grad.numpy()
        np.testing.assert_allclose(backward[f"{name}_kernel"], grad, rtol=0, atol=1e-12, err_msg=name)


def test_a_shortcut_with_a_batch_norm_is_refused_naming_it():
    shortcut = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2), nn.BatchNorm2d(8))
    with pytest.raises(cb.InputError, match=r"^Net\.forward.*BatchNorm2d.*reads .*a residual block adding its input") \
            as error:  # fmt: skip
        cb.from_torch(Net(shortcut=shortcut).double(), (1, 8, 8))
    assert "\n" not in str(error.value)


def test_a_shortcut_conv_where_the_block_keeps_the_shape_is_refused_naming_it():
    model = Net()
    model.block1.shortcut = nn.Sequential(nn.Conv2d(4, 4, 1))
    with pytest.raises(cb.InputError, match=r"shortcut.*is the identity where its layers keep the shape") as error:
        cb.from_torch(model.double(), (1, 8, 8))
    assert "(out += self.shortcut(x)): self.block1.shortcut.0 (Conv2d)" in str(error.value)
