"""Out of PyTorch: a module of the kinds we have, with its weights, as a Network; and the state_dict of a module
``export`` wrote, saved with ``torch.save``, as a model.

A ``torch.nn.Sequential`` is read child by child; any other module by tracing
its forward with torch.fx, so that a class as a tutorial writes it (modules,
``F.relu``, ``F.max_pool2d``, ``torch.flatten``, ``x.view(x.size(0), -1)``,
a pooling module used twice) comes in as it is.  Each kind says which
``torch.nn`` class it is (``torch_class``) and which calls (``torch_functions``),
and reads its options back from them (``from_torch``, ``from_torch_call``),
refusing any it cannot compute as PyTorch does; the parameters come over by
the kind's ``torch_keys``, the names ``export`` gives them.  The module ends in
logits, z, or in ``log_softmax``: the output layer and its loss (sigmoid and
BCE, or softmax and cross-entropy) come from the loss it is trained with, a
name or a torch loss object (an output kind's ``torch_losses``).

What is read is a list of ``Step``s, each a layer with the node it came from;
each step reads the one before, but for a residual block: a forward that adds
a value to an earlier one (``out += identity``, ``out = out + self.shortcut(x)``,
the shortcut a 1x1 conv) is that block's add, and its layers are the steps
since that earlier value.  Any other branch is refused naming the node.  torch
is imported here only when asked for, never by ``import cnn_backprop``.
"""

import pickle
import re
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .architecture import Architecture, Layer, names
from .kinds import KINDS
from .network import Network
from .validate import InputError

INSTALL = "pip install torch==2.13.0"
CONFIG_KEY = "cnn_backprop"  # where an exported module's state_dict carries the model's config, in its metadata


class UnsupportedModule(InputError):
    """A module cnn-backprop cannot compute as PyTorch does: one line naming the layer (by position and name in a
    Sequential, by the forward's line and call in a module of your own), and what is supported instead."""


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


# The options of a torch loss object that cnn-backprop computes with, where the loss has them: the mean over the
# batch of the plain loss, no class weights, no smoothing.
LOSS_OPTIONS = {"weight": None, "pos_weight": None, "label_smoothing": 0.0, "reduction": "mean"}
LOG_SOFTMAX = "log_softmax"  # what a forward may end in: its output is log-probabilities, which NLLLoss reads


@dataclass(frozen=True)
class Loss:
    """The loss a module is read with: its output kind, what it reads ("logits", or LOG_SOFTMAX), how it was written."""

    output: object
    reads: str
    text: str


def read_loss(torch, loss):
    """The Loss of ``loss``: a name ("cross_entropy", "bce") or a torch loss object of an output kind's
    ``torch_losses``, whose options are checked against ``LOSS_OPTIONS``."""
    if isinstance(loss, str):
        return Loss(output_kind(loss), "logits", f"loss={loss!r}")
    losses = {
        name: (kind, reads) for kind in KINDS.values() if kind.is_output for name, reads in kind.torch_losses.items()
    }
    name = type(loss).__name__
    if not isinstance(loss, torch.nn.Module) or getattr(torch.nn, name, None) is not type(loss) or name not in losses:
        names = [repr(kind.loss) for kind in KINDS.values() if kind.is_output] + [f"nn.{name}()" for name in losses]
        raise InputError(f"loss must be one of {', '.join(names)}, got {loss!r:.60}")
    for option, supported in LOSS_OPTIONS.items():
        value = getattr(loss, option, supported)
        if not (value is None if supported is None else value == supported):
            shown = "a tensor" if isinstance(value, torch.Tensor) else repr(value)
            raise UnsupportedModule(f"loss={name}({option}={shown}): cnn-backprop supports {option}={supported!r}")
    kind, reads = losses[name]
    return Loss(kind, reads, f"loss={name}()")


def supported_classes():
    """The torch.nn classes a module may be made of, in the grammar's order."""
    return [kind.torch_class for kind in KINDS.values() if not kind.is_output]


def supported_functions():
    """The functions and tensor methods a forward may call, in the grammar's order, and its last: log_softmax."""
    return [name for kind in KINDS.values() if not kind.is_output for name in kind.torch_functions] + [LOG_SOFTMAX]


@dataclass(frozen=True)
class Step:
    """One layer of a module as read: how a refusal names it, its Layer, the torch module holding its parameters
    (None for a function's call, which has none)."""

    where: str
    layer: Layer
    module: object = None


def from_torch(module, input_shape, loss="cross_entropy"):
    """The Network that ``module`` is, on images of ``input_shape`` (C, H, W) and trained with ``loss``; its
    parameters and batch norms' running statistics are copied, in float64, and it is in the module's mode (train or
    eval).

    ``module`` is a torch.nn.Sequential, or any torch.nn.Module whose forward torch.fx can trace, made of the
    kinds' modules and calls (F.relu, F.max_pool2d, torch.flatten, x.view(x.size(0), -1), ...) one after another;
    it ends in logits, or in log_softmax (read as softmax with cross-entropy).  ``loss`` is a name ("cross_entropy",
    "bce") or a torch loss (nn.CrossEntropyLoss(), nn.NLLLoss(), nn.BCEWithLogitsLoss()).  Raises
    ``UnsupportedModule`` (an InputError) naming the first layer, option or order it cannot take.
    """
    torch = import_torch("cb.from_torch")
    chosen = read_loss(torch, loss)
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"cb.from_torch reads a torch.nn.Module, got {type(module).__name__}")
    shape = _input(input_shape)
    read = _sequential_steps if isinstance(module, torch.nn.Sequential) else _traced_steps
    steps, ending = read(torch, module, shape, chosen)
    if not steps:
        raise UnsupportedModule("the module is empty; it must end in a Linear layer that gives the logits")
    _check_ending(chosen, ending, steps[-1].where)
    steps = _flatten_late(steps)
    layers, wheres = [step.layer for step in steps], [step.where for step in steps]
    _check_order(layers, wheres)
    try:
        arch = Architecture((*layers, Layer(chosen.output.name)), *shape[:2])
        _check_shortcuts(arch, steps)
    except UnsupportedModule:
        raise
    except InputError as error:  # a layer that does not fit its input (its message starts with our name for it),
        # or the last Linear's outputs that do not fit the loss
        message = str(error)
        for (name, _), where in zip(names(layers), wheres):
            if message.startswith(f"{name}: "):
                raise UnsupportedModule(f"{where}: {message.removeprefix(f'{name}: ')}") from None
        raise UnsupportedModule(f"{wheres[-1]} with {chosen.text}: {message}") from None
    params, buffers = {}, arch.initial_buffers()
    for named, step in zip(arch.named, steps):
        state = step.module.state_dict() if step.module is not None else {}
        shapes = {**named.key_shapes, **{key: buffers[full].shape for key, full in named.buffers.items()}}
        for key, shape in shapes.items():
            torch_key = named.kind_of.torch_keys[key]
            value = state[torch_key].detach().cpu().numpy()
            if value.shape != shape:
                raise UnsupportedModule(f"{step.where} has {torch_key} of shape {list(value.shape)}, but its input "
                                        f"{'x'.join(map(str, named.in_shape))} needs {list(shape)}")  # fmt: skip
            if key in named.params:
                params[named.params[key]] = value.astype(np.float64)
            else:
                buffers[named.buffers[key]] = value.astype(buffers[named.buffers[key]].dtype)
    return Network(arch, params, buffers=buffers).train(module.training)


def _flatten_late(steps):
    """The steps with each flatten moved past the layers right after it that take anything entry by entry (a ReLU, a
    dropout): they give the same numbers either side of it, and a network flattens right before the first dense."""
    steps = list(steps)
    for index in range(len(steps) - 1, -1, -1):
        at = index
        while KINDS[steps[at].layer.kind].reshapes and at + 1 < len(steps):
            following = KINDS[steps[at + 1].layer.kind]
            if (following.reads, following.gives) != ("any", "same"):
                break
            steps[at], steps[at + 1] = steps[at + 1], steps[at]
            at += 1
    return steps


def _input(input_shape):
    """(channels, size, size) of ``input_shape``, checked."""
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
        raise InputError(f"input_shape must be (channels, height, width) of whole numbers >= 1, got {input_shape!r}")
    if shape[1] != shape[2]:
        raise InputError(f"input_shape must be square images, got {shape[1]}x{shape[2]}")
    return tuple(int(n) for n in shape)


def _check_ending(loss, ending, last):
    """A forward that ends in log_softmax (``ending``: where, else None) goes with a loss of several classes; a loss
    that reads log-probabilities (NLLLoss) needs one."""
    if ending is not None and loss.output.binary:
        raise UnsupportedModule(f"{ending}: log_softmax gives log-probabilities of several classes, but {loss.text} "
                                "reads one logit; use nn.NLLLoss() or nn.CrossEntropyLoss()")  # fmt: skip
    if ending is None and loss.reads == LOG_SOFTMAX:
        raise UnsupportedModule(f"{last}: {loss.text} reads log-probabilities, but the module ends in logits; end it "
                                "in F.log_softmax(x, dim=1), or use nn.CrossEntropyLoss()")  # fmt: skip


def _log_softmax_dim(dim, out_shape, where):
    """Refuse a log_softmax that is not over the classes (dim 1 of (N, K))."""
    if len(out_shape) != 2 or dim not in (1, -1):
        raise UnsupportedModule(f"{where} with dim={dim!r}: cnn-backprop supports a log_softmax over the classes of "
                                "the logits (N, K), dim=1")  # fmt: skip


def _kind_of_module(torch, child, last):
    """The kind whose torch_class ``child`` is: a layer's, or where it is ``last`` an output's (to refuse by name)."""
    return _chosen([kind for kind in KINDS.values()
                    if kind.torch_class and type(child) is getattr(torch.nn, kind.torch_class)], last)  # fmt: skip


def _chosen(kinds, last):
    """Of the kinds a module or call may be, a layer's; at the end an output's, which is refused by name (the loss
    adds it) rather than taken as a layer the module cannot end in."""
    return next((kind for kind in sorted(kinds, key=lambda kind: kind.is_output != last) if last or not kind.is_output),
                None)  # fmt: skip


def _module_layer(torch, child, where, loss, last):
    """The Layer a torch module is, as its kind reads it."""
    kind = _kind_of_module(torch, child, last)
    if kind is None:
        raise UnsupportedModule(f"{where}: not a layer cnn-backprop has; it takes {', '.join(supported_classes())}")
    _not_output(kind, where, loss)

    def refuse(option, supported):
        raise UnsupportedModule(f"{where} with {option}: cnn-backprop supports {supported}")

    return Layer(kind.name, **kind.from_torch(child, refuse))


def _not_output(kind, where, loss):
    """Refuse an output kind's module or call at the end: the loss adds it."""
    if kind.is_output:
        raise UnsupportedModule(f"{where}: the module must end in logits (the last Linear's z); drop it: "
                                f"{loss.text} adds the {loss.output.name}")  # fmt: skip


def _sequential_steps(torch, module, shape, loss):
    """(Steps, where a last LogSoftmax is) of a Sequential: its children in order, named by position and name."""
    children = list(module.named_children())
    wheres = [f"layer {position} ({name}): {type(child).__name__}" for position, (name, child) in
              enumerate(children, start=1)]  # fmt: skip
    ending = None
    if children and type(children[-1][1]) is torch.nn.LogSoftmax:
        ending = wheres.pop()
        _log_softmax_dim(children.pop()[1].dim, (None, None), ending)
    last = len(children) - 1
    steps = [Step(where, _module_layer(torch, child, where, loss, index == last), child)
             for index, ((_, child), where) in enumerate(zip(children, wheres))]  # fmt: skip
    return steps, ending


def _traced_steps(torch, module, shape, loss):
    """(Steps, where a last log_softmax is) of a module of your own, its forward traced by torch.fx and run once on
    zeros (a copy, so that no batch norm of yours moves) to know every shape."""
    from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

    name = type(module).__name__
    copy = deepcopy(module)
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    try:
        traced = torch.fx.GraphModule(copy, tracer.trace(copy))
    except Exception as error:  # torch.fx says why in many ways: control flow on a tensor's values, a custom call
        raise UnsupportedModule(f"{name}.forward cannot be traced by torch.fx ({_first_line(error)}); cnn-backprop "
                                "reads a forward that calls its layers one after another") from None  # fmt: skip
    dtype = next((p.dtype for p in copy.parameters() if p.is_floating_point()), torch.get_default_dtype())

    class Shapes(ShapeProp):  # notes the node it runs, to name the one that fails
        def run_node(self, node):
            self.at = node
            return super().run_node(node)

    shapes = Shapes(traced)
    try:
        with torch.no_grad():
            shapes.propagate(torch.zeros(2, *shape, dtype=dtype))
    except Exception as error:  # ShapeProp says which node in a RuntimeError of its own, the cause as its cause
        where = _where(torch, shapes.at, traced, name)
        raise UnsupportedModule(f"{where}: fails on images of {'x'.join(map(str, shape))} "
                                f"({_first_line(error.__cause__ or error)})") from None  # fmt: skip
    nodes = list(traced.graph.nodes)
    inputs = [node for node in nodes if node.op == "placeholder"]
    if len(inputs) != 1:
        raise UnsupportedModule(f"{name}.forward takes {', '.join(node.name for node in inputs)}; cnn-backprop reads "
                                "a forward of one input, the images")  # fmt: skip
    returned = next(node for node in nodes if node.op == "output").args[0]
    steps, ending, current, used = [], None, inputs[0], set()
    made = {inputs[0]: 0}  # {node: how many steps were read when it was made}: where a block's layers start
    aside = {}  # {node: (its Step, the node it reads)}: a shortcut's conv, on the side until its add
    for node in nodes:
        meta = node.meta.get("tensor_meta")
        if node.op in ("placeholder", "output") or not isinstance(meta, TensorMetadata):
            continue  # x.size(0): a number that a view reads
        where = _where(torch, node, traced, name)
        tensors = [arg for arg in node.all_input_nodes if isinstance(arg.meta.get("tensor_meta"), TensorMetadata)]
        if ending is not None:
            raise UnsupportedModule(f"{where}: comes after the log_softmax; the log_softmax gives what the loss reads, "
                                    "last")  # fmt: skip
        joining = _joining(node, tensors, current, made, aside)
        if joining is not None:
            kind, block_input, shortcut = joining
            added = shortcut if shortcut is not None else block_input
            sides = ["x".join(map(str, value.meta["tensor_meta"].shape[1:])) for value in (current, added)]
            if sides[0] != sides[1]:
                raise UnsupportedModule(f"{where}: adds {added.name} ({sides[1]}) to {current.name} ({sides[0]}); a "
                                        "residual block adds its input to its output of the same shape, through a "
                                        "1x1 conv where its layers change it, and no broadcasting")  # fmt: skip
            if shortcut is not None:
                steps.append(aside.pop(shortcut)[0])
            steps.append(Step(where, Layer(kind.name, span=made[current] - made[block_input],
                                           projection=shortcut is not None)))  # fmt: skip
            current = node
            made[node] = len(steps)
            continue
        if len(tensors) == 1 and tensors[0] in made and tensors[0] is not current and node.op == "call_module":
            aside[node] = (Step(where, _module_layer(torch, traced.get_submodule(node.target), where, loss, False),
                                _original(module, node.target)), tensors[0])  # fmt: skip
            continue
        if tensors != [current]:
            read = ", ".join(arg.name for arg in tensors) or "no input"
            raise UnsupportedModule(f"{where}: reads {read}, where cnn-backprop reads each layer taking the output of "
                                    f"the one before ({current.name}), and a residual block adding its input to its "
                                    "output, through a 1x1 conv or none")  # fmt: skip
        in_shape, out_shape = tuple(current.meta["tensor_meta"].shape), tuple(meta.shape)
        current = node
        if node.op == "call_module":
            child = traced.get_submodule(node.target)
            if type(child) is torch.nn.LogSoftmax:
                _log_softmax_dim(child.dim, out_shape, where)
                ending = where
                continue
            if node.target in used and any(True for _ in child.parameters()):
                raise UnsupportedModule(f"{where}: self.{node.target} is used a second time; cnn-backprop gives each "
                                        "layer parameters of its own: make a module for each use")  # fmt: skip
            used.add(node.target)
            layer = _module_layer(torch, child, where, loss, node is returned)
            steps.append(Step(where, layer, _original(module, node.target)))
            made[node] = len(steps)
            continue
        function = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        arguments = _arguments(torch, node, traced)
        if function == LOG_SOFTMAX:
            _log_softmax_dim(arguments.get("dim", node.args[1] if len(node.args) > 1 else None), out_shape, where)
            ending = where
            continue
        kind = _chosen([kind for kind in KINDS.values() if function in kind.torch_functions], node is returned)
        if kind is None:
            raise UnsupportedModule(f"{where}: not a layer cnn-backprop has; a forward may call "
                                    f"{', '.join(supported_functions())} and modules of "
                                    f"{', '.join(supported_classes())}")  # fmt: skip
        _not_output(kind, where, loss)
        if kind.reshapes and in_shape == out_shape:
            continue  # a view of what is already one vector an image

        def refuse(option, supported, where=where):
            raise UnsupportedModule(f"{where} with {option}: cnn-backprop supports {supported}")

        steps.append(Step(where, Layer(kind.name, **kind.from_torch_call(torch, arguments, (in_shape, out_shape),
                                                                        refuse))))  # fmt: skip
        if kind.gives == "map" and len(out_shape) == 2:  # a call that drops the 1x1 it leaves (x.mean((2, 3)))
            steps.append(Step(where, Layer(next(kind.name for kind in KINDS.values() if kind.reshapes))))
        made[node] = len(steps)
    if aside:
        where = _where(torch, next(iter(aside)), traced, name)
        raise UnsupportedModule(f"{where}: reads an earlier value, but is added to nothing; cnn-backprop reads a "
                                "branch only as a residual block's shortcut")  # fmt: skip
    if returned is not current:
        raise UnsupportedModule(f"{name}.forward returns {returned!s:.40}, not the output of its last layer "
                                f"({current.name})")  # fmt: skip
    return steps, ending


def _joining(node, tensors, current, made, aside):
    """(the kind, the block's input node, its shortcut conv's node or None) of a node that adds the current value to
    an earlier one (a residual block's add), or None for any other node."""
    function = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    kinds = [kind for kind in KINDS.values() if kind.joins and function in kind.torch_functions]
    if not kinds or len(tensors) != 2 or current not in tensors:
        return None
    other = tensors[1] if tensors[0] is current else tensors[0]
    if other in aside:
        return kinds[0], aside[other][1], other
    return (kinds[0], other, None) if other in made else None


def _check_shortcuts(arch, steps):
    """Refuse a shortcut other than the one cnn-backprop gives its block: the identity where the block keeps the
    shape, else a 1x1 conv at the stride that makes its size."""
    for index, step in enumerate(steps):
        ours = arch.layers[index] if index < len(arch.layers) else None
        if ours != step.layer:
            raise UnsupportedModule(f"{step.where}: a residual block's shortcut is the identity where its layers keep "
                                    "the shape, else a 1x1 conv at the stride that makes their size; cnn-backprop's "
                                    f"here is {ours}, this is {step.layer}")  # fmt: skip


def _original(module, target):
    """The user's own submodule at ``target`` (the traced copy's twin), whose parameters are theirs."""
    return module.get_submodule(target)


def _arguments(torch, node, traced):
    """A call's arguments by name besides its input: a function's as its signature names them, a tensor method's
    keywords (its positional ones under their position, from 1)."""
    normalized = None
    if node.op == "call_function":

        def types(values):  # a tensor's type where the call takes one, so that torch.tanh's schema is the tensor one
            return [torch.Tensor if isinstance(value, torch.fx.Node) else type(value) for value in values]

        kwarg_types = dict(zip(node.kwargs, types(node.kwargs.values())))
        normalized = node.normalized_arguments(
            traced, tuple(types(node.args)), kwarg_types, normalize_to_only_use_kwargs=True
        )
    if normalized is not None:
        # an empty list is how an ATen schema leaves a size out (avg_pool2d's stride=[]): the module's default then
        return {key: value for key, value in normalized.kwargs.items() if key != "input" and value != []}
    return {**{position: value for position, value in enumerate(node.args[1:], start=1)}, **node.kwargs}


TORCH_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)\n\s*(?P<code>[^\n]*)')


def _where(torch, node, traced, name):
    """How a refusal names a node: the forward's line that calls it, and the call (self.conv1 (Conv2d), F.relu)."""
    if node.op == "call_module":
        what = f"self.{node.target} ({type(traced.get_submodule(node.target)).__name__})"
    elif node.op == "call_method":
        what = f"x.{node.target}()"
    else:
        function = getattr(node.target, "__name__", str(node.target))
        where = next((prefix for prefix, space in (("F", torch.nn.functional), ("torch", torch))
                      if getattr(space, function, None) is node.target), None)  # fmt: skip
        what = f"{where or getattr(node.target, '__module__', None) or 'torch'}.{function}"
    library = Path(torch.__file__).parent
    frames = [frame for frame in TORCH_FRAME.finditer(node.stack_trace or "")
              if not Path(frame["file"]).is_relative_to(library)]  # fmt: skip
    if not frames:
        return f"{name}.forward, node {node.name}: {what}"
    frame = frames[-1]
    return f"{name}.forward line {frame['line']} ({frame['code'].strip()}): {what}"


def _first_line(error):
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:160]


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
