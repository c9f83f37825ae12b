"""Out of PyTorch: a ``torch.nn.Sequential`` of the kinds we have, with its weights, as a Network; and the
state_dict of a module ``export`` wrote, saved with ``torch.save``, as a model.

Each kind says which ``torch.nn`` class it is (``torch_class``) and reads its
options back from such a module (``from_torch``), refusing any it cannot compute
as PyTorch does; the parameters come over by the kind's ``torch_keys``, the
names ``export`` gives them.  The module ends in logits, z: the output layer
and its loss (sigmoid and BCE, or softmax and cross-entropy) come from the loss
it is trained with.  torch is imported here only when asked for, never by
``import cnn_backprop``.
"""

import pickle
import re
from pathlib import Path

import numpy as np

from .architecture import Architecture, Layer, names
from .kinds import KINDS
from .network import Network
from .validate import InputError

INSTALL = "pip install torch==2.13.0"
CONFIG_KEY = "cnn_backprop"  # where an exported module's state_dict carries the model's config, in its metadata


class UnsupportedModule(InputError):
    """A module cnn-backprop cannot compute as PyTorch does: one line naming it by position and name, and what is
    supported instead."""


def import_torch(what):
    """The torch package, or an InputError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise InputError(f"{what} needs PyTorch, which is not installed; install it with: {INSTALL}") from None
    return torch


def output_kind(loss):
    """The output kind whose loss is ``loss`` ("cross_entropy": softmax, "bce": sigmoid)."""
    outputs = {kind.loss: kind for kind in KINDS.values() if kind.is_output}
    if loss not in outputs:
        raise InputError(f"loss must be one of {', '.join(map(repr, outputs))}, got {loss!r}")
    return outputs[loss]


def supported_classes():
    """The torch.nn classes a module may be made of, in the grammar's order."""
    return [kind.torch_class for kind in KINDS.values() if not kind.is_output]


def from_torch(module, input_shape, loss="cross_entropy"):
    """The Network that ``module`` (a torch.nn.Sequential ending in logits) is, on images of ``input_shape``
    (C, H, W) and trained with ``loss``; its parameters and batch norms' running statistics are copied, in float64.

    Raises ``UnsupportedModule`` (an InputError) naming the first module, option or order it cannot take.
    """
    torch = import_torch("cb.from_torch")
    output = output_kind(loss)
    if not isinstance(module, torch.nn.Sequential):
        raise InputError(f"cb.from_torch reads a torch.nn.Sequential, got {type(module).__name__}")
    channels, size = _input(input_shape)
    children = list(module.named_children())
    if not children:
        raise UnsupportedModule("the module is empty; it must end in a Linear layer that gives the logits")
    wheres = [f"layer {position} ({name}): {type(child).__name__}" for position, (name, child) in
              enumerate(children, start=1)]  # fmt: skip
    layers = [_layer(torch, child, where, output) for (_, child), where in zip(children, wheres)]
    _check_order(layers, wheres)
    try:
        arch = Architecture((*layers, Layer(output.name)), channels, size)
    except InputError as error:  # a layer that does not fit its input (its message starts with our name for it),
        # or the last Linear's outputs that do not fit the loss
        message = str(error)
        for (name, _), where in zip(names(layers), wheres):
            if message.startswith(f"{name}: "):
                raise UnsupportedModule(f"{where}: {message.removeprefix(f'{name}: ')}") from None
        raise UnsupportedModule(f"{wheres[-1]} with loss={loss!r}: {message}") from None
    params, buffers = {}, arch.initial_buffers()
    for named, (_, child), where in zip(arch.named, children, wheres):
        state = child.state_dict()
        shapes = {**named.key_shapes, **{key: buffers[full].shape for key, full in named.buffers.items()}}
        for key, shape in shapes.items():
            torch_key = named.kind_of.torch_keys[key]
            value = state[torch_key].detach().cpu().numpy()
            if value.shape != shape:
                raise UnsupportedModule(f"{where} has {torch_key} of shape {list(value.shape)}, but its input "
                                        f"{'x'.join(map(str, named.in_shape))} needs {list(shape)}")  # fmt: skip
            if key in named.params:
                params[named.params[key]] = value.astype(np.float64)
            else:
                buffers[named.buffers[key]] = value.astype(buffers[named.buffers[key]].dtype)
    return Network(arch, params, buffers=buffers).train(module.training)


def _input(input_shape):
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
        raise InputError(f"input_shape must be (channels, height, width) of whole numbers >= 1, got {input_shape!r}")
    if shape[1] != shape[2]:
        raise InputError(f"input_shape must be square images, got {shape[1]}x{shape[2]}")
    return int(shape[0]), int(shape[1])


def _layer(torch, child, where, output):
    """The Layer a torch module is, as its kind reads it."""
    kind = next((kind for kind in KINDS.values()
                 if kind.torch_class and type(child) is getattr(torch.nn, kind.torch_class, None)), None)  # fmt: skip
    if kind is None:
        raise UnsupportedModule(f"{where}: not a layer cnn-backprop has; it takes {', '.join(supported_classes())}")
    if kind.is_output:
        raise UnsupportedModule(f"{where}: the module must end in logits (the last Linear's z); drop it: "
                                f"loss={output.loss!r} adds the {output.name}")  # fmt: skip

    def refuse(option, supported):
        raise UnsupportedModule(f"{where} with {option}: cnn-backprop supports {supported}")

    return Layer(kind.name, **kind.from_torch(child, refuse))


def _check_order(layers, wheres):
    """Feature maps first, then one Flatten right before the first Linear, then vectors; the last gives z."""
    kinds = [KINDS[layer.kind] for layer in layers]
    vector = False
    for index, (kind, where) in enumerate(zip(kinds, wheres)):
        if kind.reads == "map" and vector:
            raise UnsupportedModule(f"{where}: reads a feature map, but it comes after a Flatten or Linear; "
                                    "feature-map layers come first")  # fmt: skip
        if kind.reads == "vector" and not vector:
            raise UnsupportedModule(f"{where}: reads a vector, but its input is a feature map; put a "
                                    "torch.nn.Flatten() right before it")  # fmt: skip
        following = kinds[index + 1] if index + 1 < len(kinds) else None
        if kind.reshapes and (following is None or following.reads != "vector"):
            raise UnsupportedModule(f"{where}: cnn-backprop flattens right before the first Linear; move it there")
        reason = kind.check_place(kinds, index)
        if reason:
            raise UnsupportedModule(f"{where}: {reason}")
        vector = vector or kind.gives == "vector"
    if not kinds[-1].makes_logits:
        raise UnsupportedModule(f"{wheres[-1]}: the module must end in a Linear layer, whose output z (the logits) "
                                "the loss reads")  # fmt: skip


def read_state_dict(path):
    """(arrays by state_dict name, the config text) of a ``.pt`` file holding the state_dict of a module
    ``cnn-backprop export`` wrote: ``torch.load(path, weights_only=True)``, so no code is ever unpickled."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: is not a file")
    torch = import_torch(f"{path}: reading a .pt file")
    save = "save the weights alone: torch.save(model.state_dict(), path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found:
            raise InputError(f"{path}: holds a pickled {found.group(1)}, and pickled objects are never loaded; "
                             f"{save}") from None  # fmt: skip
        raise InputError(f"{path}: not a readable PyTorch file ({str(error).splitlines()[-1]})") from None
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        first = re.split(r"\.\s", str(error).splitlines()[0])[0]  # torch goes on with advice of its own
        raise InputError(f"{path}: not a readable PyTorch file ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InputError(f"{path}: not a state_dict (a dict of tensors); {save}")
    config = getattr(state, "_metadata", {}).get("", {}).get(CONFIG_KEY)
    if not isinstance(config, str):
        raise InputError(f"{path}: a state_dict that does not say its network; save it from the module "
                         "'cnn-backprop export' writes (its state_dict carries the network), or bring a module of "
                         "your own in with cb.from_torch(module, input_shape)")  # fmt: skip
    return {name: value.detach().numpy() for name, value in state.items()}, config
