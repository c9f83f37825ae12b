"""Any small CNN: the layers of an ``Architecture``, run forward and backward with every value kept.

``init_params`` draws the parameters, ``Network`` runs a forward pass that keeps
every intermediate and a backward pass that returns every gradient, both as
dicts named by the architecture (``forward["conv_pre"]`` is conv_pre,
``backward["conv_pre"]`` is dL/dconv_pre, ``backward["conv_kernel"]`` is
dL/dconv_kernel).  Each layer comes from its kind (``kinds/``).
"""

import numpy as np

INITS = {
    "seed": "the seed notebook's: conv kernels and dense weights ~ U(0, 1), conv biases 1, dense biases 0",
    "pytorch": "PyTorch's default for Conv2d and Linear: weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))",
}


def default_init(arch):
    """The seed's initialisation for a sigmoid (binary) network, as the notebook draws it; PyTorch's otherwise.

    The seed's all-positive draw suits its one small conv layer; deeper softmax
    networks need signed weights scaled by their fan-in to learn at all.
    """
    return arch.output.default_init


def init_params(arch, rng, init=None):
    """Parameters for ``arch`` drawn from ``rng``, in the order of the layers; see ``INITS``.

    With the seed's initialisation the random draws are the kernels and weights
    only, in layer order, so changing the pooling (and with it the number of FC
    weights) leaves the kernel drawn from a seed unchanged.
    """
    init = init or default_init(arch)
    params = {}
    for named in arch.named:
        drawn = named.kind_of.init(named.key_shapes, rng, init)
        params.update({named.params[key]: value for key, value in drawn.items()})
    return params


def class_probabilities(arch, output):
    """The output layer's output as P(class k), (N, K): a sigmoid's P(class 1) becomes the columns 1 - p, p."""
    return arch.output.probabilities(output)


def build_layer(named, params, image_grad=True, buffers=None):
    """The vectorised layer of one named layer, holding the very arrays of ``params`` and ``buffers`` (by full name).

    Without ``buffers``, a layer that keeps some starts from fresh ones.
    """
    own = {key: params[full] for key, full in named.params.items()}
    layer = named.kind_of.build(named.layer, own, input_grad=image_grad or "image" not in named.inputs)
    fresh = named.kind_of.buffers(named)
    layer.buffers.update({key: fresh[key] if buffers is None else buffers[full] for key, full in named.buffers.items()})
    return layer


class Network:
    """An architecture's layers on batches of images (N, C, H, W).

    ``params`` is a dict of every parameter array by name; the layers hold the
    very same arrays, so an in-place update of ``params`` is seen by the next
    pass.  With ``image_grad=False`` the backward pass skips dL/dimage (training
    needs none).  ``buffers`` holds what layers keep besides their parameters
    (a batch norm's running statistics), fresh unless given; the network is in
    training mode until ``eval()``.  A layer that draws at random (a dropout)
    draws from a stream of its own, the same for the same layer on every run; a
    network that trains (``image_grad=False``) draws anew each forward, any other
    keeps its first draws, so that its passes can be checked by finite differences.
    """

    def __init__(self, arch, params, image_grad=True, buffers=None):
        self.arch = arch
        self.image_grad = image_grad
        self.buffers = arch.initial_buffers() if buffers is None else buffers
        self.layers = [build_layer(named, params, image_grad, self.buffers) for named in arch.named]
        for index, (named, layer) in enumerate(zip(arch.named, self.layers)):
            if named.kind_of.given_draws:
                layer.rng, layer.keep_draws = np.random.default_rng(index), image_grad
        self.params = dict(self.named_parameters())

    @property
    def mode(self):
        """ "train" or "eval", as PyTorch's model.train() and model.eval()."""
        return "train" if self.training else "eval"

    def __repr__(self):
        return f"Network({str(self.arch)!r}, input {'x'.join(map(str, self.arch.input_shape))}, {self.mode} mode)"

    def _repr_html_(self):
        """In a notebook: its layers as a table, and the mode it is in."""
        return self.arch.summary()._repr_html_().replace("</caption>", f", {self.mode} mode</caption>", 1)

    @property
    def training(self):
        return self.layers[0].training

    def train(self, mode=True):
        """Training mode (``mode``) or evaluation mode, as PyTorch's: a batch norm then normalises by the batch's
        statistics, or by its running ones.  Returns the network."""
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self):
        return self.train(False)

    def named_parameters(self):
        """(full name, array) of every parameter, in the order of the layers: the arrays the layers compute with."""
        for named, layer in zip(self.arch.named, self.layers):
            for key, full in named.params.items():
                yield full, layer.params[key]

    def named_grads(self):
        """(full name, dL/d(parameter)) of every parameter, after ``backward``."""
        for named, layer in zip(self.arch.named, self.layers):
            for key, full in named.params.items():
                yield full, layer.grads[key]

    def logits(self, images):
        """z, the last dense layer's output (N, K), for images (N, C, H, W); keeps what backward needs."""
        self.values = values = {"image": images}
        x = images
        stack = self.arch.is_stack
        for named, layer in zip(self.arch.named[:-1], self.layers[:-1]):
            if not stack:  # each layer's input by name: an add reads two
                inputs = named.inputs
                x = values[inputs[0]] if len(inputs) == 1 else tuple(values[name] for name in inputs)
            x = layer.forward(x)
            values[named.output] = x
        return x

    def head(self, logits, labels):
        """(P(class k) (N, K), the mean loss) from the logits: the output layer, exact however confident."""
        out = self.layers[-1]
        probabilities = class_probabilities(self.arch, out.forward(logits))
        return probabilities, float(out.loss(labels))

    def forward(self, images, labels):
        """Every intermediate of one forward pass, by name, and the mean loss over the batch.

        Each layer's output under its name (conv_pre, conv_relu, pool, fc_input,
        fc_pre, ..., output), what a layer finds besides (each max-pooling
        layer's argmax as NAME_argmax, (N, C, H', W', 2)), and ``loss`` (a float).
        """
        z = self.logits(images)
        out = self.layers[-1]
        forward = {}
        for named, layer in zip(self.arch.named[:-1], self.layers[:-1]):
            forward[named.output] = self.values[named.output]
            forward.update({f"{named.name}_{key}": value for key, value in layer.extras.items()})
        forward["output"] = out.forward(z)
        forward["loss"] = float(out.loss(labels))
        return forward

    def backward(self):
        """dL/d(everything) after ``forward``: every layer output's gradient and every parameter's, by name.

        In backward order: for each layer from the last, dL/d(its output) (for
        the output layer, dL/dz under the last dense layer's output name), then
        its parameters' gradients; last ``image`` (unless ``image_grad=False``).
        """
        if not self.arch.is_stack:
            return self._graph_backward()
        grads, self.parts = {}, {}
        grad = 1.0  # dL/dloss
        for named, layer in zip(reversed(self.arch.named), reversed(self.layers)):
            if not named.kind_of.is_output:
                grads[named.output] = grad
            grad = layer.backward(grad)
            grads.update({full: layer.grads[key] for key, full in named.params.items()})
        if self.image_grad:
            grads["image"] = grad
        return grads

    def _graph_backward(self):
        """``backward`` where a value feeds several layers: its gradient is the sum of the gradients each of them
        passes back, and ``parts`` keeps those, {value: {the layer it came back through: its part}}.  A layer's
        output has all its parts once every layer after it (in the order of the layers) has passed back."""
        arrived, self.parts = {"output": 1.0}, {}  # dL/dloss
        grads = {}
        for named, layer in zip(reversed(self.arch.named), reversed(self.layers)):
            grad = arrived.pop(named.output)
            if not named.kind_of.is_output:
                grads[named.output] = grad
            back = layer.backward(grad)
            grads.update({full: layer.grads[key] for key, full in named.params.items()})
            for source, part in zip(named.inputs, back if len(named.inputs) > 1 else (back,)):
                if part is not None:
                    self.parts.setdefault(source, {})[named.name] = part
                    arrived[source] = arrived[source] + part if source in arrived else part
        if self.image_grad:
            grads["image"] = arrived["image"]
        self.parts = {source: parts for source, parts in self.parts.items() if len(parts) > 1}
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
        alive = [layer.alive() for named, layer in zip(self.arch.named, self.layers) if named.kind_of.can_die]
        return np.array(alive).reshape(-1, len(self.values["image"]))
