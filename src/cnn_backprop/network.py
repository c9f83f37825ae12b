"""The seed's network: Conv2D -> ReLU -> MaxPool2D -> flatten -> Dense -> sigmoid, with BCE loss.

``Architecture`` says the sizes, ``init_params`` draws parameters as the seed
does, and ``Network`` runs a forward pass that keeps every intermediate and a
backward pass that returns every gradient, both as dicts named alike
(``forward["conv_pre"]`` is conv_pre, ``backward["conv_pre"]`` is dL/dconv_pre).
"""

from dataclasses import asdict, dataclass

import numpy as np

from .layers import Conv2D, Dense, MaxPool2D, ReLU, SigmoidBCE, output_size, sigmoid

PARAM_NAMES = ("conv_kernel", "conv_bias", "fc_weights", "fc_bias")


@dataclass(frozen=True)
class Architecture:
    """Every size of the network.  The defaults are the seed's, with pool stride 1.

    The seed's "Given" says pool stride 2, its code uses 1; only stride 1 gives the
    2x2 pooled map that its 4-input FC layer needs (see the README).
    """

    image_size: int = 5
    channels: int = 1
    filters: int = 1
    kernel_size: int = 3
    conv_stride: int = 1
    conv_padding: int = 0
    pool_size: int = 2
    pool_stride: int = 1

    @property
    def conv_size(self):
        """Side of the conv feature map: (W - K + 2P) // S + 1."""
        return output_size(self.image_size, self.kernel_size, self.conv_stride, self.conv_padding)

    @property
    def pool_out_size(self):
        """Side of the pooled map: (W_conv - pool_size) // pool_stride + 1."""
        return output_size(self.conv_size, self.pool_size, self.pool_stride)

    @property
    def fc_inputs(self):
        """Length of the flattened pooled maps, the FC layer's input."""
        return self.filters * self.pool_out_size**2

    def param_shapes(self):
        k = self.kernel_size
        return {
            "conv_kernel": (self.filters, self.channels, k, k),
            "conv_bias": (self.filters,),
            "fc_weights": (1, self.fc_inputs),
            "fc_bias": (1,),
        }

    def to_dict(self):
        return asdict(self)


def init_params(arch, rng):
    """The seed's initialisation: kernel ~ U(0, 1), conv bias 1, FC weights ~ U(0, 1), FC bias 0.

    The kernel is drawn before the FC weights, so changing the pooling (and with
    it the number of FC weights) leaves the kernel drawn from a seed unchanged.
    """
    shapes = arch.param_shapes()
    return {
        "conv_kernel": rng.uniform(0, 1, shapes["conv_kernel"]),
        "conv_bias": np.ones(shapes["conv_bias"]),
        "fc_weights": rng.uniform(0, 1, shapes["fc_weights"]),
        "fc_bias": np.zeros(shapes["fc_bias"]),
    }


class Network:
    """The seed architecture on batches of images (N, C, H, W).

    ``params`` is a dict of the four parameter arrays; the layers hold the very
    same arrays, so an in-place update of ``params`` is seen by the next pass.
    ``conv_pre`` is the conv output of the last pass (what tells a dead ReLU).
    """

    def __init__(self, arch, params):
        self.arch = arch
        self.conv = Conv2D(params["conv_kernel"], params["conv_bias"], arch.conv_stride, arch.conv_padding)
        self.relu = ReLU()
        self.pool = MaxPool2D(arch.pool_size, arch.pool_stride)
        self.fc = Dense(params["fc_weights"], params["fc_bias"])
        self.loss_fn = SigmoidBCE()

    @property
    def params(self):
        return {
            "conv_kernel": self.conv.kernel,
            "conv_bias": self.conv.bias,
            "fc_weights": self.fc.weights,
            "fc_bias": self.fc.bias,
        }

    def logits(self, images):
        """fc_pre (N, 1) for images (N, C, H, W), keeping what backward needs."""
        self.conv_pre = self.conv.forward(images)
        self._conv_relu = self.relu.forward(self.conv_pre)
        self._pool = self.pool.forward(self._conv_relu)
        self._fc_input = self._pool.reshape(len(images), -1)
        return self.fc.forward(self._fc_input)

    def forward(self, images, labels):
        """Every intermediate of one forward pass, and the mean loss over the batch.

        Returns a dict: conv_pre, conv_relu (N, F, H', W'); pool (N, F, P, P);
        pool_argmax (N, F, P, P, 2); fc_input (N, D); fc_pre (N, 1);
        output (N, 1) = sigmoid(fc_pre); loss (a float).
        """
        fc_pre = self.logits(images)
        loss = self.loss_fn.forward(fc_pre, labels)
        return {
            "conv_pre": self.conv_pre,
            "conv_relu": self._conv_relu,
            "pool": self._pool,
            "pool_argmax": self.pool.argmax,
            "fc_input": self._fc_input,
            "fc_pre": fc_pre,
            "output": self.loss_fn.output,
            "loss": float(loss),
        }

    def backward(self, image_grad=True):
        """dL/d(everything) after ``forward``: a dict with the same names, plus the parameters'.

        Training needs no dL/dimage; ``image_grad=False`` skips it (and leaves it out).
        """
        dL_dfc_pre = self.loss_fn.backward()
        dL_dfc_input = self.fc.backward(dL_dfc_pre)
        dL_dpool = dL_dfc_input.reshape(self._pool.shape)
        dL_dconv_relu = self.pool.backward(dL_dpool)
        dL_dconv_pre = self.relu.backward(dL_dconv_relu)
        dL_dimage = self.conv.backward(dL_dconv_pre, input_grad=image_grad)
        grads = {
            "fc_pre": dL_dfc_pre,
            "fc_weights": self.fc.dL_dweights,
            "fc_bias": self.fc.dL_dbias,
            "fc_input": dL_dfc_input,
            "pool": dL_dpool,
            "conv_relu": dL_dconv_relu,
            "conv_pre": dL_dconv_pre,
            "conv_kernel": self.conv.dL_dkernel,
            "conv_bias": self.conv.dL_dbias,
        }
        if image_grad:
            grads["image"] = dL_dimage
        return grads

    def loss(self, images, labels):
        """The mean BCE loss alone (what a finite-difference check perturbs)."""
        return float(self.loss_fn.forward(self.logits(images), labels))

    def predict_proba(self, images):
        """P(rectangle) for each image: (N, C, H, W) -> (N,)."""
        return sigmoid(self.logits(images))[:, 0]
