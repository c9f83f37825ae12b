"""Into PyTorch: any architecture as a standalone ``torch.nn.Sequential``, and its parameters as a state_dict.

A network with blocks (a residual block's add reads two values) is a
``torch.nn.Module`` class instead, ``Net``, whose forward reads like the
architecture, one line a layer (``res_add = bn2 + conv1_relu``), and which
torch.fx traces.

The module names are the layer names (``conv1``, ``conv1_relu``, ``pool1``,
``fc_input``, ``fc``), so a parameter ``conv1_kernel`` is ``conv1.weight`` in
the state_dict and ``conv1_bias`` is ``conv1.bias``, in PyTorch's layouts,
which are ours.  The output layer is not a module: the exported file names
the loss (``LOSS``, the output kind's) that takes the module's output z, as PyTorch's losses do.

The module's state_dict carries the model file's config (``CONFIG``: the
network, its input and classes) in its metadata, so that a state_dict saved with
``torch.save(model.state_dict(), "m.pt")`` after training in PyTorch comes back
as ``--model m.pt`` with nothing else to say (``from_pytorch.read_state_dict``).
"""

import os

import numpy as np


def module_source(named):
    """The PyTorch constructor of one layer, as source text; None for the output layer."""
    return named.kind_of.torch_module(named)


def torch_names(arch):
    """{our parameter or buffer name: PyTorch state_dict name}, e.g. conv_kernel -> conv.weight."""
    return {
        full: f"{named.name}.{named.kind_of.torch_keys[key]}"
        for named in arch.named
        for key, full in (*named.params.items(), *named.buffers.items())
    }


def state_dict(arch, params):
    """The parameters (or their gradients), and the buffers where ``params`` holds them, as {PyTorch name: array}."""
    return {torch: np.asarray(params[ours]) for ours, torch in torch_names(arch).items() if ours in params}


def source(arch, weights=None, out_dir=".", config=None):
    """A standalone Python file: ``build()`` returns the network as a float64 ``torch.nn.Sequential``.

    With ``weights`` (a model file), ``build()`` loads them, from that file's
    path relative to the exported file (or from the path it is given).
    ``config`` is the model's (``files.model_config``; default: ``arch``'s, its classes numbered), which the
    module's state_dict carries.
    """
    from .files import TORCH_SUFFIXES, model_config
    from .from_pytorch import CONFIG_KEY

    config = model_config(arch) if config is None else config
    loss = arch.output.loss
    if arch.is_stack:
        modules = "\n".join(
            f'            ("{named.name}", {module_source(named)}),' for named in arch.named if module_source(named)
        )
        model, built = (
            f"torch.nn.Sequential(\n        OrderedDict(\n            [\n{modules}\n            ]\n        )\n    )",
            "",
        )
    else:
        model, built = "Net()", _module_class(arch)
    if weights is None:
        where = "None"
    else:
        where = repr(os.path.relpath(os.path.abspath(weights), os.path.abspath(out_dir)))
    return f'''"""The network `{arch}` on {arch.channels}x{arch.image_size}x{arch.image_size} images, in PyTorch.

Written by `cnn-backprop export`.  build() returns the {"torch.nn.Sequential" if arch.is_stack else "Net"} \
(float64) whose output is z, the logits; LOSS names the loss that takes them:
    z = build()(images)  # images: (N, {arch.channels}, {arch.image_size}, {arch.image_size}) float64
    loss = {arch.output.loss_call}
"""

{"from collections import OrderedDict" + chr(10) if arch.is_stack else ""}from pathlib import Path

import numpy as np
import torch

SPEC = {str(arch)!r}
LOSS = {loss!r}
WEIGHTS = {where}  # the model file, relative to this file (None: freshly initialised by PyTorch)
CONFIG = {config!r}
{built}

def carry_config(module, state_dict, prefix, metadata):
    """The module's state_dict carries CONFIG in its metadata, so that after torch.save(model.state_dict(), "m.pt")
    `cnn-backprop ... --model m.pt` knows the network."""
    metadata[{CONFIG_KEY!r}] = CONFIG


def build(weights=WEIGHTS):
    """The network; with ``weights`` (a cnn-backprop model file, or a .pt state_dict) its trained parameters are
    loaded."""
    model = {model}.double()
    model.register_state_dict_post_hook(carry_config)
    if weights is None:
        return model
    path = Path(__file__).parent / weights
    if path.suffix in {TORCH_SUFFIXES!r}:  # a state_dict saved by torch.save
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        with np.load(path, allow_pickle=False) as archive:
            model.load_state_dict({{key: torch.from_numpy(archive[key]) for key in archive.files if key != "config"}})
    return model
'''


def _module_class(arch):
    """The source of ``Net``: every layer that is a module made in ``__init__``, and a forward of one line a layer,
    each value named as cnn-backprop names it."""
    made = "\n".join(f"        self.{n.name} = {module_source(n)}" for n in arch.named if module_source(n))
    lines = [f"        {n.output} = {n.kind_of.torch_line(n, n.inputs)}" for n in arch.named[:-1]]
    return f'''

class Net(torch.nn.Module):
    """`{arch}`: z, the logits, from images (N, {arch.channels}, {arch.image_size}, {arch.image_size})."""

    def __init__(self):
        super().__init__()
{made}

    def forward(self, image):
{chr(10).join(lines)}
        return {arch.named[-1].input}
'''
