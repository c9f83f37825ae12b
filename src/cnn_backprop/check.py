"""Marking a student's answers to one exercise instance, naming the mistake behind each wrong one.

An answer is one number at one place of the ``walkthrough --json`` layout: a
``quantity`` (``shapes.conv``, ``forward.conv_pre``, ``backward.conv_kernel``)
and an ``index`` into it.  Each answer is

- ``right``: within ``tolerance(decimals)`` of the key;
- ``carried``: wrong, but exactly what the right rule gives from the student's
  own earlier (wrong) answers, as a fair marker gives credit for method;
- ``wrong`` with a ``mistake``: what one of the known mistakes (``MISTAKES``)
  gives, from the student's own earlier answers or from the right ones;
- ``wrong``, or ``blank``.

Every value is recomputed one step at a time along the pass: the step that
makes a quantity (a layer's forward, or its backward for a gradient) is run on
the student's answers for its inputs where they gave them, with the right rule
and with each mistaken rule of that step, so mistakes compose: a ReLU mask left
out upstream and a right kernel-gradient rule downstream give ``no-relu-mask``
on dL/dconv_pre and ``carried`` on dL/dkernel.
"""

import csv
import io
from dataclasses import dataclass

import numpy as np

from . import walkthrough
from .layers import Conv2D, scatter_add
from .validate import InputError

# Each known mistake: its id and what a marker would write beside it, the wrong rule and the right one.
MISTAKES = {
    "pool-overwrite": "A conv position that is the maximum of several pooling windows kept only the last window's "
    "gradient (the notebook's dP[i, j] = dw); the chain rule adds the gradients of every window it wins.",
    "pool-to-all": "Each pooling window's gradient went to every entry of the window; max pooling sends it only to "
    "the window's maximum, the one entry that moved the output.",
    "pool-average": "Each pooling window's gradient was split equally over its entries, average pooling's rule; max "
    "pooling sends all of it to the window's maximum.",
    "no-relu-mask": "dL/dconv_pre was taken equal to dL/dconv_relu; the ReLU passes the gradient only where its input "
    "was positive (multiply by [conv_pre > 0]).",
    "fc-weight-grad": "dL/dw_fc was sent back into the pooling layer (the notebook's bug); the pooled values enter z "
    "multiplied by the weights, so dL/dpool = dL/dz * w_fc.",
    "flipped-kernel": "The kernel was rotated by 180 degrees (true convolution); the network computes "
    "cross-correlation: conv_pre[i, j] = sum X[i + m, j + n] * kernel[m, n], and dL/dkernel[m, n] pairs the same way.",
    "no-bias": "A bias was left out of a pre-activation; every conv output adds the conv bias, and z adds the FC bias.",
    "pool-stride-2": "Pooling was done at stride 2 where the sheet says stride 1 (the notebook's 'Given'); with stride "
    "1 the 2x2 windows overlap and a 3x3 map pools to 2x2.",
    "squared-error-gradient": "dL/dz was taken as (output - y) * output * (1 - output), the squared-error form; for "
    "cross-entropy after a sigmoid the output's derivative cancels and dL/dz = output - y.",
    "post-activation": "The value after the activation was given where the value before it was asked (e.g. "
    "sigmoid(z) for z, or max(0, conv_pre) for conv_pre).",
    "sign": "The magnitude is right but the sign is wrong; check the sign of dL/dz = output - y and of each product.",
    "transposed": "The matrix is transposed: row i, column j of the answer is row j, column i of the key; "
    "dL/dkernel[m, n] belongs to the kernel weight in row m, column n.",
}
VERDICTS = ("right", "carried", "wrong", "blank")
PARTS = ("shapes", "forward", "backward")


def tolerance(decimals):
    """How far an answer may be from the key and still be right: one unit in its last decimal."""
    return 10.0**-decimals


@dataclass(frozen=True)
class Entry:
    """One answer and its marking."""

    quantity: str
    index: tuple
    answer: object  # a float, or None for a blank
    expected: float
    verdict: str
    mistake: str | None = None

    @property
    def explanation(self):
        if self.verdict == "carried":
            return "Wrong only because an earlier answer was: computed correctly from your own earlier values."
        return MISTAKES.get(self.mistake, "")

    def to_dict(self):
        return {
            "quantity": self.quantity,
            "index": list(self.index),
            "answer": self.answer,
            "expected": self.expected,
            "verdict": self.verdict,
            "mistake": self.mistake,
            "explanation": self.explanation,
        }



class Key:
    """One instance's key, and every step of its pass, to mark answers against.

    ``values`` and ``grads`` are the right forward values and gradients in full
    shape (a batch of one).  ``candidates`` gives, for one quantity, what its
    step yields from the student's own values: by the right rule ("carried")
    and by each mistaken rule of that step.
    """

    def __init__(self, given):
        self.result = walkthrough.run(given)
        self.network, image, self.labels = walkthrough.network_for(given)
        self.arch = self.network.arch
        self.values = {"image": image, **self.network.forward(image, self.labels), **self.network.params}
        self.grads = self.network.backward()
        self.keep = walkthrough.keep_axes(self.arch)
        self.made_by = {n.output: n for n in self.arch.named}
        self.read_by = {n.input: n for n in self.arch.named}
        self.owner = {key: n for n in self.arch.named for key in n.param_shapes}

    def quantities(self):
        """Every (part, name) a student can answer: the sizes, each value, each gradient (not the argmax or the image's)."""
        return [
            (part, name)
            for part in PARTS
            for name in self.result[part]
            if not name.endswith("_argmax") and (part, name) != ("backward", "image")
        ]

    def expected(self, part, name):
        return np.asarray(self.result[part][name], dtype=float)

    def layout(self, name, full):
        """A full-shape array as the JSON writes it."""
        full = np.asarray(full, dtype=float)
        if name not in self.keep:  # the loss
            return full.reshape(())
        return np.asarray(walkthrough.squeeze(full if name in self.owner else full[0], self.keep[name]), dtype=float)

    def full(self, name, layout):
        """A JSON-layout array in full shape, or None where its size is not the network's."""
        shape = self.values[name].shape if name in self.values else self.grads[name].shape
        layout = np.asarray(layout, dtype=float)
        return layout.reshape(shape) if layout.size == int(np.prod(shape)) else None

    def _input(self, values, named):
        """What ``named`` reads, through the flatten before a dense layer."""
        source = self.made_by.get(named.input)
        if source is not None and source.kind == "flatten":
            return values[source.input].reshape(1, -1)
        return values[named.input]

    def _layer(self, named, **changes):
        from dataclasses import replace

        from .network import build_layer

        named = replace(named, layer=replace(named.layer, **changes)) if changes else named
        return build_layer(named, self.network.params)

    def candidates(self, part, name, values, grads):
        """{"carried" or a mistake id: the value in the JSON layout} for (part, name), from the student's
        ``values`` and ``grads`` (full shape, theirs where they answered, the key's elsewhere)."""
        if part == "shapes":
            return self._shape_step(name)
        step = self._forward_step if part == "forward" else self._backward_step
        return {label: self.layout(name, value) for label, value in step(name, values, grads).items()}

    def _forward_step(self, name, values, grads):
        if name == "loss":
            y = int(self.labels[0])
            p = values["output"][0]
            p = p[y] if len(p) > 1 else (p[0] if y == 1 else 1 - p[0])
            return {"carried": np.array([-np.log(p)]) if p > 0 else np.array([np.inf])}
        named = self.made_by[name]
        x = self._input(values, named)
        if named.kind in ("sigmoid", "softmax"):
            return {"carried": self._layer(named).forward(x)}
        found = {"carried": self._layer(named).forward(x)}
        if named.kind == "conv":
            kernel, bias = self.network.params[f"{named.name}_kernel"], self.network.params[f"{named.name}_bias"]
            found["flipped-kernel"] = Conv2D(kernel[..., ::-1, ::-1], bias, named.layer.stride, named.layer.padding).forward(x)
            found["no-bias"] = found["carried"] - bias.reshape(1, -1, 1, 1)
        elif named.kind == "dense":
            found["no-bias"] = found["carried"] - self.network.params[f"{named.name}_bias"]
        elif named.kind == "maxpool" and named.layer.stride != 2:
            found["pool-stride-2"] = self._layer(named, stride=2).forward(x)
        following = self.read_by.get(name)
        if following is not None and following.kind == "relu":
            found["post-activation"] = np.maximum(self.values[name], 0)
        elif following is not None and following.kind in ("sigmoid", "softmax"):
            found["post-activation"] = self.values["output"]
        return found

    def _backward_step(self, name, values, grads):
        if name in self.owner:  # a parameter's gradient, from its layer's backward
            named = self.owner[name]
            layer = self._layer(named)
            layer.forward(self._input(values, named))
            layer.backward(grads[named.output])
            grad = layer.grads[name[len(named.name) + 1 :]]
            found = {"carried": grad}
            if name.endswith("_kernel"):
                found["flipped-kernel"] = grad[..., ::-1, ::-1]
            return found
        reader = self.read_by[name]
        if reader.kind == "flatten":
            reader = self.read_by[reader.output]
        x = self._input(values, reader)
        shape = values[name].shape
        if reader.kind in ("sigmoid", "softmax"):
            p = values["output"]
            target = np.eye(p.shape[1])[self.labels] if reader.kind == "softmax" else self.labels.reshape(p.shape)
            found = {"carried": p - target}
            if reader.kind == "sigmoid":
                found["squared-error-gradient"] = (p - target) * p * (1 - p)
            return found
        layer = self._layer(reader)
        layer.forward(x)
        g = grads[reader.output]
        found = {"carried": layer.backward(g).reshape(shape)}
        if reader.kind == "relu":
            found["no-relu-mask"] = g
        elif reader.kind == "dense" and g.shape[1] == 1:
            found["fc-weight-grad"] = (g * x).reshape(shape)  # dL/dweights, as the notebook sent back
        elif reader.kind == "maxpool":
            found.update(_pool_mistakes(layer, g))
        return found

    def _shape_step(self, name):
        shapes = {}
        named = next((n for n in self.arch.named if name in (n.name, n.output)), None)
        if named is not None and named.kind == "maxpool" and named.layer.stride != 2:
            side = (named.in_shape[1] - named.layer.size) // 2 + 1
            shapes["pool-stride-2"] = np.zeros((1, named.out_shape[0], side, side))
        return {label: np.array(self.layout(named.output, value).shape) for label, value in shapes.items()}


def _pool_mistakes(layer, grad):
    """dL/d(pool input) by the three wrong rules for max pooling, after ``layer.forward``."""
    index = layer._index  # (size*size, C*H'*W'): where each window entry lies in one image
    n, shape = len(grad), layer._x_shape
    flat = grad.reshape(n, -1)
    offset = layer._offset.reshape(n, -1)
    maxima = index[offset, np.arange(offset.shape[1])]  # (N, C*H'*W')
    overwrite = np.zeros((n, int(np.prod(shape[1:]))))
    for window in range(flat.shape[1]):  # row-major, so a later window overwrites an earlier one
        overwrite[0, maxima[0, window]] = flat[0, window]
    to_all = scatter_add(index[None], np.broadcast_to(flat[:, None, :], (n, *index.shape)), shape)
    return {"pool-overwrite": overwrite.reshape(shape), "pool-to-all": to_all, "pool-average": to_all / layer.size**2}


def mark(given, answers, decimals=4):
    """Every answer marked: ``answers`` maps (part, name) to an array in the JSON layout, NaN where blank."""
    key = Key(given)
    values, grads = dict(key.values), dict(key.grads)
    for (part, name), answer in answers.items():
        store = {"forward": values, "backward": grads}.get(part)
        full = key.full(name, answer) if store is not None and name != "loss" else None
        if full is not None:
            store[name] = np.where(np.isnan(full), store[name], full)
    entries = []
    for (part, name), answer in answers.items():
        candidates = key.candidates(part, name, values, grads)
        entries += _mark_one(f"{part}.{name}", np.asarray(answer, dtype=float), key.expected(part, name), candidates,
                             tolerance(decimals))  # fmt: skip
    return entries


def _close(a, b, tol):
    return bool(np.isfinite(b)) and abs(a - b) <= tol + 1e-12


def _mark_one(quantity, answer, expected, candidates, tol):
    """The entries of one answered quantity."""
    if answer.shape != expected.shape:
        # A whole answer of another shape can only be a mistake that changes the shape (pool stride 2).
        for label, value in candidates.items():
            answered = ~np.isnan(answer)
            if value.shape == answer.shape and answered.any() and np.all(np.abs(answer - value)[answered] <= tol + 1e-12):
                return [Entry(quantity, index, _number(answer[index]), None, "wrong", label)
                        for index in np.ndindex(answer.shape)]  # fmt: skip
        return [Entry(quantity, index, _number(answer[index]), None, "blank" if np.isnan(answer[index]) else "wrong")
                for index in np.ndindex(answer.shape)]  # fmt: skip
    entries = []
    for index in np.ndindex(answer.shape):
        a, e = float(answer[index]), float(expected[index])
        if np.isnan(a):
            entries.append(Entry(quantity, index, None, e, "blank"))
            continue
        if _close(a, e, tol):
            entries.append(Entry(quantity, index, a, e, "right"))
            continue
        fits = [label for label, value in candidates.items() if value.shape == answer.shape and _close(a, value[index], tol)]
        if "carried" in fits:
            entries.append(Entry(quantity, index, a, e, "carried"))
            continue
        if not fits and abs(e) > tol and _close(a, -e, tol):
            fits = ["sign"]
        if not fits and answer.ndim == 2 and answer.shape[0] == answer.shape[1]:
            flipped = expected.T[index]
            if _close(a, flipped, tol) and not _close(flipped, e, tol):
                fits = ["transposed"]
        entries.append(Entry(quantity, index, a, e, "wrong", fits[0] if fits else None))
    return entries


def _number(value):
    return None if np.isnan(value) else float(value)
