"""Any small CNN: the layers of an ``Architecture``, run forward and backward with every value kept.

``init_params`` draws the parameters, ``Network`` runs a forward pass that keeps
every intermediate and a backward pass that returns every gradient, both as
dicts named by the architecture (``forward["conv_pre"]`` is conv_pre,
``backward["conv_pre"]`` is dL/dconv_pre, ``backward["conv_kernel"]`` is
dL/dconv_kernel).
"""

import numpy as np

from .layers import AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, SigmoidBCE, SoftmaxCrossEntropy

INITS = {
    "seed": "the seed notebook's: conv kernels and dense weights ~ U(0, 1), conv biases 1, dense biases 0",
    "pytorch": "PyTorch's default for Conv2d and Linear: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
}


def default_init(arch):
    """The seed's initialisation for a sigmoid (binary) network, as the notebook draws it; PyTorch's otherwise.

    The seed's all-positive draw suits its one small conv layer; deeper softmax
    networks need signed weights scaled by their fan-in to learn at all.
    """
    return "seed" if arch.output_kind == "sigmoid" else "pytorch"


def init_params(arch, rng, init=None):
    """Parameters for ``arch`` drawn from ``rng``, in the order of the layers; see ``INITS``.

    With the seed's initialisation the random draws are the kernels and weights
    only, in layer order, so changing the pooling (and with it the number of FC
    weights) leaves the kernel drawn from a seed unchanged.
    """
    init = init or default_init(arch)
    params = {}
    for named in arch.named:
        if not named.param_shapes:
            continue
        (weights, weight_shape), (bias, bias_shape) = named.param_shapes.items()
        if init == "seed":
            params[weights] = rng.uniform(0, 1, weight_shape)
            params[bias] = np.full(bias_shape, 1.0 if named.kind == "conv" else 0.0)
        else:
            bound = 1 / np.sqrt(np.prod(weight_shape[1:]))  # 1/sqrt(fan_in): inputs per output
            params[weights] = rng.uniform(-bound, bound, weight_shape)
            params[bias] = rng.uniform(-bound, bound, bias_shape)
    return params


def class_probabilities(arch, output):
    """The output layer's output as P(class k), (N, K): a sigmoid's P(class 1) becomes the columns 1 - p, p."""
    return np.concatenate([1 - output, output], axis=1) if arch.output_kind == "sigmoid" else output


def build_layer(named, params, image_grad=True):
    """The layers.py object for one named layer, holding the very arrays of ``params``."""
    layer = named.layer
    kind = layer.kind
    if kind == "conv":
        return Conv2D(
            params[f"{named.name}_kernel"],
            params[f"{named.name}_bias"],
            layer.stride,
            layer.padding,
            input_grad=image_grad or named.input != "image",
        )
    if kind == "dense":
        return Dense(params[f"{named.name}_weights"], params[f"{named.name}_bias"])
    if kind in ("maxpool", "avgpool"):
        return (MaxPool2D if kind == "maxpool" else AvgPool2D)(layer.size, layer.stride)
    return {"relu": ReLU, "flatten": Flatten, "sigmoid": SigmoidBCE, "softmax": SoftmaxCrossEntropy}[kind]()


class Network:
    """An architecture's layers on batches of images (N, C, H, W).

    ``params`` is a dict of every parameter array by name; the layers hold the
    very same arrays, so an in-place update of ``params`` is seen by the next
    pass.  With ``image_grad=False`` the backward pass skips dL/dimage (training
    needs none).
    """

    def __init__(self, arch, params, image_grad=True):
        self.arch = arch
        self.image_grad = image_grad
        self.layers = [build_layer(named, params, image_grad) for named in arch.named]
        self.params = {
            f"{named.name}_{key}": value
            for named, layer in zip(arch.named, self.layers)
            for key, value in layer.params.items()
        }

    def logits(self, images):
        """z, the last dense layer's output (N, K), for images (N, C, H, W); keeps what backward needs."""
        self.values = {"image": images}
        x = images
        for named, layer in zip(self.arch.named[:-1], self.layers[:-1]):
            x = layer.forward(x)
            self.values[named.output] = x
        return x

    def forward(self, images, labels):
        """Every intermediate of one forward pass, by name, and the mean loss over the batch.

        Each layer's output under its name (conv_pre, conv_relu, pool, fc_input,
        fc_pre, ..., output), each max-pooling layer's argmax as NAME_argmax
        (N, C, H', W', 2), and ``loss`` (a float).
        """
        z = self.logits(images)
        out = self.layers[-1]
        forward = {}
        for named, layer in zip(self.arch.named[:-1], self.layers[:-1]):
            forward[named.output] = self.values[named.output]
            if isinstance(layer, MaxPool2D):
                forward[f"{named.name}_argmax"] = layer.argmax
        forward["output"] = out.forward(z)
        forward["loss"] = float(out.loss(labels))
        return forward

    def backward(self):
        """dL/d(everything) after ``forward``: every layer output's gradient and every parameter's, by name.

        In backward order: for each layer from the last, dL/d(its output) (for
        the output layer, dL/dz under the last dense layer's output name), then
        its parameters' gradients; last ``image`` (unless ``image_grad=False``).
        """
        grads = {}
        grad = None
        for named, layer in zip(reversed(self.arch.named), reversed(self.layers)):
            if grad is not None:
                grads[named.output] = grad
            grad = layer.backward() if grad is None else layer.backward(grad)
            for key in named.param_shapes:
                grads[key] = layer.grads[key[len(named.name) + 1 :]]
        if self.image_grad:
            grads["image"] = grad
        return grads

    def loss(self, images, labels):
        """The mean loss alone (what a finite-difference check perturbs)."""
        out = self.layers[-1]
        out.forward(self.logits(images))
        return float(out.loss(labels))

    def predict_proba(self, images):
        """P(class k) for each image: (N, C, H, W) -> (N, K); a sigmoid network's K = 2 columns are 1 - p, p."""
        return class_probabilities(self.arch, self.layers[-1].forward(self.logits(images)))

    def relu_alive(self):
        """Per ReLU layer, in the last pass, whether each image had some positive input: (ReLUs, N) bools.

        A ReLU that is off for every image of the training set passes no
        gradient at all, so nothing before it can learn again (a dead ReLU).
        """
        return np.array(
            [
                layer.positive.reshape(len(layer.positive), -1).any(axis=1)
                for layer in self.layers
                if isinstance(layer, ReLU)
            ]
        ).reshape(-1, len(self.values["image"]))
