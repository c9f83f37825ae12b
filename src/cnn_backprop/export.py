"""Into PyTorch: any architecture as a standalone ``torch.nn.Sequential``, and its parameters as a state_dict.

The module names are the layer names (``conv1``, ``conv1_relu``, ``pool1``,
``fc_input``, ``fc``), so a parameter ``conv1_kernel`` is ``conv1.weight`` in
the state_dict and ``conv1_bias`` is ``conv1.bias``, in PyTorch's layouts,
which are ours.  The output layer is not a module: the exported file names
the loss (``LOSS``) that takes the module's output z, as PyTorch's losses do.
"""

import os

import numpy as np

LOSS = {"sigmoid": "bce", "softmax": "cross_entropy"}
# What each loss is in PyTorch, for the exported file's documentation and the tests.
LOSS_CALL = {
    "bce": "torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], labels.double())",
    "cross_entropy": "torch.nn.functional.cross_entropy(z, labels)",
}


def module_source(named):
    """The PyTorch constructor of one layer, as source text; None for the output layer."""
    layer = named.layer
    if layer.kind == "conv":
        return (
            f"torch.nn.Conv2d({named.in_shape[0]}, {layer.filters}, {layer.size}, "
            f"stride={layer.stride}, padding={layer.padding})"
        )
    if layer.kind in ("maxpool", "avgpool"):
        cls = "MaxPool2d" if layer.kind == "maxpool" else "AvgPool2d"
        return f"torch.nn.{cls}({layer.size}, stride={layer.stride})"
    if layer.kind == "dense":
        return f"torch.nn.Linear({named.in_shape[0]}, {layer.outputs})"
    return {"relu": "torch.nn.ReLU()", "flatten": "torch.nn.Flatten()"}.get(layer.kind)


def torch_names(arch):
    """{our parameter name: PyTorch state_dict name}, e.g. conv_kernel -> conv.weight."""
    return {
        key: f"{named.name}.{'bias' if key.endswith('_bias') else 'weight'}"
        for named in arch.named
        for key in named.param_shapes
    }


def state_dict(arch, params):
    """The parameters (or their gradients) as {PyTorch name: array}."""
    return {torch: np.asarray(params[ours]) for ours, torch in torch_names(arch).items()}


def source(arch, weights=None, out_dir="."):
    """A standalone Python file: ``build()`` returns the network as a float64 ``torch.nn.Sequential``.

    With ``weights`` (a model file), ``build()`` loads them, from that file's
    path relative to the exported file (or from the path it is given).
    """
    loss = LOSS[arch.output_kind]
    modules = "\n".join(
        f'            ("{named.name}", {module_source(named)}),' for named in arch.named if module_source(named)
    )
    if weights is None:
        where = "None"
    else:
        where = repr(os.path.relpath(os.path.abspath(weights), os.path.abspath(out_dir)))
    return f'''"""The network `{arch}` on {arch.channels}x{arch.image_size}x{arch.image_size} images, in PyTorch.

Written by `cnn-backprop export`.  build() returns the torch.nn.Sequential (float64) whose
output is z, the logits; LOSS names the loss that takes them:
    z = build()(images)  # images: (N, {arch.channels}, {arch.image_size}, {arch.image_size}) float64
    loss = {LOSS_CALL[loss]}
"""

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

SPEC = {str(arch)!r}
LOSS = {loss!r}
WEIGHTS = {where}  # the model file, relative to this file (None: freshly initialised by PyTorch)


def build(weights=WEIGHTS):
    """The network; with ``weights`` (a cnn-backprop model file) its trained parameters are loaded."""
    model = torch.nn.Sequential(
        OrderedDict(
            [
{modules}
            ]
        )
    ).double()
    if weights is not None:
        path = Path(__file__).parent / weights
        with np.load(path, allow_pickle=False) as archive:
            model.load_state_dict({{key: torch.from_numpy(archive[key]) for key in archive.files if key != "config"}})
    return model
'''
