"""Marking a student's answers to one exercise instance, naming the mistake behind each wrong one.

An answer is one number at one place of the ``walkthrough --json`` layout: a
``quantity`` (``shapes.conv``, ``forward.conv_pre``, ``backward.conv_kernel``)
and an ``index`` into it.  Each answer is

- ``right``: within ``tolerance(decimals)`` of the key, or what the right rule
  gives from the student's own answers where those are all right (rounding as
  they go);
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

The marks (``credit``) follow one rule, in pass order: right and carried
answers earn, except that nothing earns that did not take work.

- A quantity answered with one number everywhere (all zeros, all ones) where
  the key's numbers differ earns nothing, and neither does a file whose every
  number is the same.
- A carried answer earns only if each earlier quantity its step read is the
  student's own work on this sheet: blank (the key stands in), or mostly right,
  carried or a named mistake (a slip in a single number whose own inputs are
  sound counts as work too).  So one genuine mistake costs little, while a
  chain of zeros, ones or another sheet's numbers, consistent with itself
  (relu(0) = 0, pool(0) = 0), earns nothing past its first step.

Each quantity of the sheet is worth its ``points`` (1 each by default, or as an
instructor sets them): earned in proportion to its entries that earn, so one
wrong quantity costs the same whether it has 4 or 400 numbers.
"""

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass, replace

import numpy as np

from . import walkthrough
from .kinds import KINDS
from .validate import InputError

# Mistakes any kind of layer can host; each kind declares its own (kinds/*.py, ``mistakes``).
GENERAL_MISTAKES = {
    "no-bias": "A bias was left out of a pre-activation; every conv output adds the conv bias, and z adds the FC bias.",
    "post-activation": "The value after the activation was given where the value before it was asked (e.g. "
    "sigmoid(z) for z, or max(0, conv_pre) for conv_pre).",
    "squared-error-gradient": "dL/dz was taken as (output - target) * output * (1 - output), the squared-error "
    "form; for cross-entropy after a sigmoid or a softmax the output's derivative cancels and dL/dz = output - target "
    "(target y, or onehot(y)).",
    "sign": "The magnitude is right but the sign is wrong; check the sign of dL/dz = output - y and of each product.",
    "transposed": "The matrix is transposed: row i, column j of the answer is row j, column i of the key; "
    "dL/dkernel[m, n] belongs to the kernel weight in row m, column n.",
}
# Each known mistake: its id and what a marker would write beside it, the wrong rule and the right one.
MISTAKES = {**{mistake: text for kind in KINDS.values() for mistake, text in kind.mistakes.items()}, **GENERAL_MISTAKES}
PARTS = ("shapes", "forward", "backward")
WHAT_SIZES = "(W - K + 2P) / S + 1 for each side of a conv or pooling layer's output."


def tolerance(decimals):
    """How far an answer may be from the key and still be right: one unit in its last decimal."""
    return 10.0**-decimals


# Why an answer that is right or carried by its value earns nothing (``Entry.void``), as a marker would say it.
VOID = {
    "constant": "One number everywhere is no work: the key's numbers here differ, so no entry of it earns.",
    "zero": "0 is what a blank would give: a 0 where the key has 0 earns only beside work in the same quantity, "
    "and here the rest of it is not.",
    "no-work": "Carried from earlier answers that are not work on this sheet (one number everywhere, or wrong with no "
    "known mistake behind them): credit is carried only from your own work.",
}


@dataclass(frozen=True)
class Entry:
    """One answer and its marking: its verdict, the mistake behind it, and whether it earns (``credit``); ``void``
    says why a right or carried answer earns nothing, ``step`` what a wrong one should have been computed from."""

    quantity: str
    index: tuple
    answer: object  # a float, or None for a blank
    expected: float
    verdict: str
    mistake: str | None = None
    void: str | None = None
    step: str | None = None

    @property
    def credit(self):
        return self.verdict in ("right", "carried") and self.void is None

    @property
    def explanation(self):
        if self.void:
            return VOID[self.void]
        if self.verdict == "carried":
            return "Wrong only because an earlier answer was: computed correctly from your own earlier values."
        if self.verdict == "wrong" and not self.mistake:
            return self.step or ""
        return MISTAKES.get(self.mistake, "")

    def to_dict(self):
        return {
            "quantity": self.quantity,
            "index": list(self.index),
            "answer": self.answer,
            "expected": self.expected,
            "verdict": self.verdict,
            "mistake": self.mistake,
            "credit": self.credit,
            "explanation": self.explanation,
        }


def sheet_id(given):
    """A short fingerprint of an instance: the answer template carries it, so answers are marked against their own
    sheet only."""
    plain = json.loads(walkthrough.to_json({"given": given}))["given"]
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:10]


class Key:
    """One instance's key, and every step of its pass, to mark answers against.

    ``values`` and ``grads`` are the right forward values and gradients in full
    shape (a batch of one).  ``candidates`` gives, for one quantity, what its
    step yields from the student's own values: by the right rule ("carried")
    and by each mistaken rule of that step, which the layer's kind names.
    """

    def __init__(self, given):
        self.given = given
        self.pass_ = walkthrough.run(given)
        self.arch, self.labels, self.params = self.pass_.arch, np.array([self.pass_.label]), self.pass_.params
        # the pass's own numbers as a batch of one (parameters have no batch axis)
        batch = {**self.pass_.values, **self.pass_.extras}
        self.values = {name: value if name in self.params else value[None] for name, value in batch.items()}
        self.grads = {name: value if name in self.params else value[None] for name, value in self.pass_.grads.items()}
        self.keep = self.pass_.keep
        self.sheet_id = sheet_id(self.pass_.given)
        self.made_by = {n.output: n for n in self.arch.named}
        self.read_by = {n.input: n for n in self.arch.named}
        self.readers = {}  # {name: [(each layer that reads it, where among its inputs)]}: a block's input has two
        for n in self.arch.named:
            for position, source in enumerate(n.inputs):
                self.readers.setdefault(source, []).append((n, position))
        self.owner = self.arch.owners()

    def quantities(self):
        """Every (part, name) a sheet asks: sizes, values, gradients (not the input's size, what layers find
        besides their outputs such as a max pool's argmax, or dL/dimage).  ``answerable`` has those too."""
        return [
            (part, name)
            for part, name in self.answerable()
            if name not in self.pass_.extras and (part, name) not in (("backward", "image"), ("shapes", "input"))
        ]

    def answerable(self):
        """Every (part, name) of the ``walkthrough --json`` layout: each can be answered and marked."""
        return [(part, name) for part in PARTS for name in self.pass_[part]]

    def expected(self, part, name):
        return np.asarray(self.pass_[part][name], dtype=float)

    def layout(self, name, full):
        """A full-shape array as the JSON writes it."""
        full = np.asarray(full, dtype=float)
        if name in self.pass_.extras:
            return walkthrough.extra_layout(full[0])
        if name not in self.keep:  # the loss
            return full.reshape(())
        return np.asarray(walkthrough.squeeze(full if name in self.owner else full[0], self.keep[name]), dtype=float)

    def full(self, name, layout):
        """A JSON-layout array in full shape, or None where its size is not the network's."""
        shape = self.values[name].shape if name in self.values else self.grads[name].shape
        layout = np.asarray(layout, dtype=float)
        return layout.reshape(shape) if layout.size == int(np.prod(shape)) else None

    def _input(self, values, named):
        """What ``named`` reads, through the flatten before a dense layer (an add: what it adds)."""
        if len(named.inputs) > 1:
            return tuple(values[source] for source in named.inputs)
        read = self.reads(named)
        return values[read] if read == named.input else values[read].reshape(1, -1)

    def candidates(self, part, name, stores):
        """{"carried" or a mistake id: [values in the JSON layout]} for (part, name).

        "carried" is the right rule on each of ``stores`` [(values, grads)] (full shape: the student's where they
        answered, the key's, or the key's rounded, elsewhere); each mistaken rule is run on those and on the key's
        own values, since a student who rounds as they go may have made the mistake on either.
        """
        if part == "shapes":
            return {label: [value] for label, value in self._shape_step(name).items()}
        step = self._forward_step if part == "forward" else self._backward_step
        found = {}
        for inputs in (*stores, (self.values, self.grads)):
            for label, value in step(name, *inputs).items():  # a step may give a mistake's answer in two ways
                found.setdefault(label, []).extend(self.layout(name, v) for v in (value if isinstance(value, list)
                                                                                   else [value]))  # fmt: skip
        found["carried"] = found["carried"][: len(stores)]
        return found

    def reads(self, named):
        """The name of what layer ``named`` reads, through the flatten before a dense layer."""
        source = self.made_by.get(named.input)
        return source.input if source is not None and source.kind_of.reshapes else named.input

    def maker(self, part, name):
        """The layer whose step makes ``part.name`` (None for a size or the loss): its forward for a value, its
        backward for a parameter's gradient or for the gradient of what it reads."""
        if part == "shapes" or name == "loss":
            return None
        if part == "forward":
            return self.pass_.extra_owners[name][0] if name in self.pass_.extras else self.made_by[name]
        if name in self.owner:
            return self.owner[name][0]
        reader = self.readers[name][0][0]
        return self.read_by[reader.output] if reader.kind_of.reshapes else reader

    def inputs_of(self, part, name):
        """The answerable (part, name)s the step making ``part.name`` reads: a value's layer input, and for a
        gradient the upstream gradient too (none for a size: it follows from the network alone)."""
        named = self.maker(part, name)
        if named is None:
            read = [("forward", "output")] if name == "loss" else []
        elif part == "forward":
            read = (
                [("forward", source) for source in named.inputs]
                if len(named.inputs) > 1
                else [("forward", self.reads(named))]
            )
        elif named.kind_of.is_output:
            read = [("forward", "output")]
        else:
            read = [("forward", self.reads(named)), ("backward", named.output)]
            read += [("backward", n.output) for n, _ in self.readers.get(name, ()) if n is not named]
        asked = set(self.answerable())
        return [where for where in read if where in asked]

    def step_text(self, part, name):
        """What the step making ``part.name`` computes, and from which of the student's own answers."""
        read = " and ".join(f"{p}.{n}" for p, n in self.inputs_of(part, name)) or "the given values"
        named = self.maker(part, name)
        if part == "shapes":
            return f"The size follows from the network: {WHAT_SIZES}"
        if named is None:
            return f"The loss is -log p(label) from your {read}."
        step = "forward" if part == "forward" else "parameter gradient" if name in self.owner else "backward"
        return f"It is the {named.name} layer's {step} ({named.kind_of.write(named.layer)}) from your {read}."

    def _forward_step(self, name, values, grads):
        if name == "loss":
            y = int(self.labels[0])
            p = self.arch.output.probabilities(values["output"])[0, y]
            return {"carried": np.array([-np.log(p)]) if p > 0 else np.array([np.inf])}
        if name in self.pass_.extras:  # what a layer finds besides its output, from the student's input to it
            named, key = self.pass_.extra_owners[name]
            layer = walkthrough.layer_for(self.given, named, self.params)
            layer.forward(self._input(values, named))
            return {"carried": layer.extras[key]}
        named = self.made_by[name]
        x = self._input(values, named)
        found = {"carried": walkthrough.layer_for(self.given, named, self.params).forward(x)}
        if named.kind_of.is_output:
            return found
        found.update(named.kind_of.forward_mistakes(self, named, x, found["carried"]))
        following = self.read_by.get(name)
        post = None if following is None else following.kind_of.post_activation(following.layer, self.values[name])
        if post is not None:
            found["post-activation"] = post
        return found

    def _backward_step(self, name, values, grads):
        if name in self.owner:  # a parameter's gradient, from its layer's backward
            named, key = self.owner[name]
            layer, x = walkthrough.layer_for(self.given, named, self.params), self._input(values, named)
            layer.forward(x)
            layer.backward(grads[named.output])
            found = {"carried": layer.grads[key]}
            found.update(named.kind_of.param_mistakes(self, named, key, layer, x, grads[named.output]))
            return found
        reader = self.maker("backward", name)
        shape = values[name].shape
        if reader.kind_of.is_output:
            p = values["output"]
            target = reader.kind_of.target(p, self.labels)
            return {"carried": p - target, **reader.kind_of.logit_mistakes(p, target)}
        readers = self.readers[name] if len(self.readers[name]) > 1 else [(reader, 0)]
        parts = [self._backward_part(reader, position, values, grads, shape) for reader, position in readers]
        total = sum(part["carried"] for part in parts)
        found = {"carried": total}
        for part in parts:  # a mistake in one path, the others' parts right (where both paths can make it, either)
            for label, value in part.items():
                if label != "carried" and not np.array_equal(value, part["carried"]):
                    found.setdefault(label, []).append(total - part["carried"] + value)
        for (reader, position), part in zip(readers, parts):  # the shortcut's path left out
            onward = [(reader, position)] if reader.kind_of.joins else self.readers.get(reader.output, [])
            for join, _ in [(n, at) for n, at in onward if n.kind_of.joins and at > 0][: len(parts) - 1]:
                found.update(join.kind_of.branch_mistakes(total, part["carried"]))
        return found

    def _backward_part(self, reader, position, values, grads, shape):
        """{"carried" or a mistake: what ``reader``'s backward passes to its input at ``position``}, from the student's
        own values and the gradient of its output."""
        x = self._input(values, reader)
        layer = walkthrough.layer_for(self.given, reader, self.params)
        layer.forward(x)
        g = grads[reader.output]
        found = {"carried": layer.backward(g)}
        found.update(reader.kind_of.backward_mistakes(self, reader, layer, x, g))
        if len(reader.inputs) > 1:
            found = {label: value[position] for label, value in found.items()}
        return {label: value.reshape(shape) for label, value in found.items()}

    def _shape_step(self, name):
        named = next((n for n in self.arch.named if name in (n.name, n.output)), None)
        shapes = {} if named is None else named.kind_of.shape_mistakes(named)
        return {
            label: np.array(self.layout(named.output, np.zeros((1, *shape))).shape) for label, shape in shapes.items()
        }


@dataclass(frozen=True)
class Marking:
    """One sheet marked: every answer (``entries``, in the order answered) and each asked quantity's
    (earned, points) in ``points``, in the order of the sheet."""

    entries: list
    points: dict

    @property
    def score(self):
        return sum(earned for earned, _ in self.points.values())

    @property
    def total(self):
        return sum(points for _, points in self.points.values())

    def of(self, part):
        """The same marking for one question (a part: shapes, forward, backward)."""
        prefix = part + "."
        return Marking([e for e in self.entries if e.quantity.startswith(prefix)],
                       {q: p for q, p in self.points.items() if q.startswith(prefix)})  # fmt: skip


def mark(given, answers, decimals=4, points=None):
    """Every answer marked, as a ``Marking`` (``given`` an instance or its ``Key``): ``answers`` maps (part, name)
    to an array in the JSON layout, NaN where blank; ``points`` {quantity or part: points} as ``points_of`` reads
    them (default 1 a quantity)."""
    key = given if isinstance(given, Key) else Key(given)
    tol = tolerance(decimals)
    values, grads = dict(key.values), dict(key.grads)
    # the student who rounds as they go: their answers where given, the key rounded to the marking's decimals else
    asked = {name for part, name in key.answerable() if part == "forward"}
    rounded_values = {name: np.round(v, decimals) if name in asked else v for name, v in values.items()}
    rounded_grads = {name: np.round(v, decimals) for name, v in grads.items()}
    for (part, name), answer in answers.items():
        full = key.full(name, answer) if part in ("forward", "backward") and name != "loss" else None
        if full is None:
            continue
        for store in (values, rounded_values) if part == "forward" else (grads, rounded_grads):
            store[name] = np.where(np.isnan(full), store[name], full)
    stores = [(values, grads), (rounded_values, rounded_grads)]
    marked = {}
    for (part, name), answer in answers.items():
        candidates = key.candidates(part, name, stores)
        marked[(part, name)] = _mark_one(f"{part}.{name}", np.asarray(answer, dtype=float),
                                         key.expected(part, name), candidates, tol)  # fmt: skip
    marked = credit(key, marked, answers, tol)
    entries = [entry for (part, name) in answers for entry in marked[(part, name)]]
    shares = points_of(key, points)
    earned = {}
    for (part, name), worth in shares.items():
        rows = marked.get((part, name), [])
        earned[f"{part}.{name}"] = (worth * sum(e.credit for e in rows) / len(rows) if rows else 0.0, worth)
    return Marking(entries, earned)


def _constant(array, tol=0.0):
    """Whether every number of ``array`` (NaN for blanks, ignored) is the same to ``tol``, two or more of them."""
    answered = array[~np.isnan(array)]
    return answered.size > 1 and bool(np.ptp(answered) <= tol)


def _zero(entry, tol):
    return entry.expected is not None and abs(entry.expected) <= tol and abs(entry.answer) <= tol


def credit(key, marked, answers, tol):
    """``marked`` {(part, name): entries} with the answers that took no work voided (the rule in this module's
    docstring), in pass order: a quantity's carried answers earn only where what its step read is sound."""
    numbers = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in answers.values()] or [np.zeros(0)])
    all_one = _constant(numbers)
    sound, out = {}, {}
    for part, name in key.answerable():
        if (part, name) not in marked:
            continue
        rows, answer = marked[(part, name)], np.asarray(answers[(part, name)], dtype=float)
        expected = key.expected(part, name)
        read = key.inputs_of(part, name)
        unsound = [where for where in read if not sound.get(where, True)]
        # one number everywhere is work only where the right rule gives it from sound inputs (a max pool whose
        # windows share one maximum)
        explained = not unsound and all(e.verdict in ("right", "carried", "blank") for e in rows)
        constant = all_one or (
            _constant(answer) and answer.shape == expected.shape and not _constant(expected, tol) and not explained
        )
        all_right = all(e.verdict in ("right", "blank") for where in read for e in marked.get(where, []))
        step = key.step_text(part, name)
        mended = []
        for e in rows:
            verdict = e.verdict
            if verdict == "carried" and all_right:
                verdict = "right"  # from the student's own right (rounded) answers: rounding as they go
            void = None
            if verdict in ("right", "carried") and constant:
                void = "constant"
            elif verdict == "carried" and unsound:
                void = "no-work"
            mended.append(Entry(e.quantity, e.index, e.answer, e.expected, verdict, e.mistake, void,
                                step if verdict == "wrong" and not e.mistake else None))  # fmt: skip
        # a mistake is made over a whole quantity: one that explains a few entries by chance is no sign of work
        wrong = [e.mistake for e in mended if e.verdict == "wrong"]
        made = {m for m in wrong if m is not None and 2 * wrong.count(m) >= len(wrong)}
        # a 0 is what a blank gives (and what many rules give from zeros): right, carried or a mistake's, it is no
        # sign of work, and where the key has 0 it earns only beside work
        fits = [e.credit or e.mistake in made for e in mended]
        good = sum(fit and abs(e.answer or 0.0) > tol for e, fit in zip(mended, fits))
        bad = sum(e.verdict != "blank" and not fit for e, fit in zip(mended, fits))
        slip = len(mended) == 1 and not unsound  # one number wrong from sound inputs: a slip, still their work
        sound[(part, name)] = not constant and (slip or (good >= bad and (good > 0 or bad == 0)))
        if good < bad or (good == 0 and bad > 0):
            mended = [replace(e, void="zero") if e.credit and _zero(e, tol) else e for e in mended]
        out[(part, name)] = mended
    return out


def points_of(key, points=None):
    """{(part, name): points} of every asked quantity: ``points`` maps a quantity ("forward.conv_pre") or a part
    ("backward") to points; a part's are shared equally by its quantities not named; any other, 1."""
    points = points or {}
    asked = key.quantities()
    known = {f"{part}.{name}" for part, name in asked} | set(PARTS)
    unknown = sorted(set(points) - known)
    if unknown:
        raise InputError(f"points for {', '.join(unknown)}: not a quantity or part of this sheet; they are "
                         f"{', '.join(sorted(known))}")  # fmt: skip
    shares = {}
    for part in PARTS:
        mine = [(p, n) for p, n in asked if p == part]
        named = {where: float(points[f"{part}.{name}"]) for where in mine if (name := where[1]) and
                 f"{part}.{name}" in points}  # fmt: skip
        rest = [where for where in mine if where not in named]
        left = float(points[part]) - sum(named.values()) if part in points else None
        if left is not None and (left < 0 or (left > 0 and not rest)):
            raise InputError(f"points: {part} is {points[part]:g}, but its quantities named add up to "
                             f"{sum(named.values()):g}")  # fmt: skip
        for where in mine:
            shares[where] = named.get(where, 1.0 if left is None else left / len(rest) if rest else 0.0)
    return shares


def _close(a, b, tol):
    return bool(np.isfinite(b)) and abs(a - b) <= tol + 1e-12


def _mark_one(quantity, answer, expected, candidates, tol):
    """The entries of one answered quantity; ``candidates`` is {label: [values]}."""
    answered = ~np.isnan(answer)
    carried = candidates.get("carried", [])
    # the general mistakes, on the key and on what the student's own earlier answers give
    whole = {**candidates, "sign": [-expected, *(-v for v in carried)]}
    if expected.ndim == 2:
        whole["transposed"] = [expected.T, *(v.T for v in carried if v.ndim == 2)]
    if answer.shape != expected.shape:
        # A whole answer of another shape can only be a mistake that changes the shape (pool stride 2, a
        # matrix of weights transposed).
        for label, values in whole.items():
            for value in values:
                if value.shape == answer.shape and answered.any() and np.all(np.abs(answer - value)[answered] <= tol):
                    return [Entry(quantity, index, _number(answer[index]), None, "wrong", label)
                            for index in np.ndindex(answer.shape)]  # fmt: skip
        return [Entry(quantity, index, _number(answer[index]), None, "blank" if np.isnan(answer[index]) else "wrong")
                for index in np.ndindex(answer.shape)]  # fmt: skip

    def labels_for(a, e, index):
        """The labels whose value is this answer: a mistake's only where it is not the key's, while the right rule
        on the student's own answers may be within rounding of the key too."""
        return [
            label
            for label, values in whole.items()
            if any(
                v.shape == answer.shape
                and _close(a, v[index], tol)
                and (label == "carried" or not _close(v[index], e, tol))
                for v in values
            )
        ]

    fits = {
        index: labels_for(float(answer[index]), float(expected[index]), index)
        for index in np.ndindex(answer.shape)
        if answered[index] and not _close(float(answer[index]), float(expected[index]), tol)
    }
    # A mistake is made over a whole array: where an entry fits several, take the one that explains most entries.
    explains = {label: sum(label in found for found in fits.values()) for label in whole}
    entries = []
    for index in np.ndindex(answer.shape):
        a, e = float(answer[index]), float(expected[index])
        if np.isnan(a):
            entries.append(Entry(quantity, index, None, e, "blank"))
        elif index not in fits:
            entries.append(Entry(quantity, index, a, e, "right"))
        elif "carried" in fits[index]:
            entries.append(Entry(quantity, index, a, e, "carried"))
        else:
            best = max(fits[index], key=lambda label: explains[label], default=None)
            entries.append(Entry(quantity, index, a, e, "wrong", best))
    return entries


def _number(value):
    return None if np.isnan(value) else float(value)


QUESTION = {"shapes": "1. Output sizes", "forward": "2. Forward pass", "backward": "3. Backward pass"}
IGNORED = ("given", "torch", "parts")  # what a full `walkthrough --json` also holds: read past, never marked


SHEET = re.compile(r"(\d+)-([0-9a-f]{10})")  # the template's "sheet": its number and the instance's sheet_id


def template(key, number=None):
    """Every answerable quantity, blank: {part: {name: nested lists of None}}, in the JSON layout; with the sheet's
    ``number``, its ``sheet`` field first ("N-id"), which ties the answers to the sheet."""
    blank = {"sheet": f"{number}-{key.sheet_id}"} if number is not None else {}
    blank.update({part: {} for part in PARTS})
    for part, name in key.quantities():
        blank[part][name] = (
            np.full(key.expected(part, name).shape, None).tolist() if key.expected(part, name).ndim else None
        )
    return blank


def template_csv(key, number=None):
    """The same blanks as CSV rows: quantity,index,answer (the sheet's row first, as ``template``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["quantity", "index", "answer"])
    if number is not None:
        writer.writerow(["sheet", "", f"{number}-{key.sheet_id}"])
    for part, name in key.quantities():
        for index in np.ndindex(key.expected(part, name).shape):
            writer.writerow([f"{part}.{name}", ",".join(map(str, index)), ""])
    return out.getvalue()


def _check_sheet(path, sheet, key):
    """The template's ``sheet`` must be this sheet's: another sheet's answers are not marked here."""
    found = SHEET.fullmatch(sheet.strip()) if isinstance(sheet, str) else None
    if found is None:
        raise InputError(f'{path}: sheet must be the answer template\'s "N-id" as it was written, got {sheet!r:.40}')
    if found.group(2) != key.sheet_id:
        raise ForeignSheet(f"{path}: these answers are for sheet {found.group(1)} (sheet {sheet.strip()}), not "
                           "this one; mark them against their own sheet, or answer this sheet's template")  # fmt: skip


class ForeignSheet(InputError):
    """Answers for another sheet than the one they are marked against: they score 0."""


def _check_given(path, given, key):
    """A ``given`` beside the answers (a whole ``walkthrough --json``) must be the sheet's instance."""
    if given is None:
        return
    sheet = json.loads(walkthrough.to_json({"given": key.pass_.given}))["given"]
    if not isinstance(given, dict):
        raise InputError(f"{path}: given must be the sheet's instance (an object), got {type(given).__name__}")
    differ = [k for k in sheet.keys() | given.keys() if sheet.get(k) != given.get(k)]
    if differ:
        raise ForeignSheet(f"{path}: these answers are for another instance: its given differs from the sheet's in "
                         f"{', '.join(sorted(differ))}")  # fmt: skip


def _where(path, key, part, name):
    valid = [f"{p}.{n}" for p, n in key.answerable()]
    from .validate import nearest

    return f"{path}: unknown quantity {part}.{name!s}{nearest(f'{part}.{name}', valid)}; quantities: {', '.join(valid)}"


def read_answers(path, key):
    """{(part, name): array in the JSON layout, NaN where blank} from an answers file (.json or .csv), checked."""
    from pathlib import Path

    from . import files

    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, key, files.read_text(path))
    if path.suffix.lower() != ".json":
        raise InputError(f"{path}: answers are a .json or a .csv file, got '{path.suffix}'")
    value = files.read_json(path)
    if not isinstance(value, dict):
        raise InputError(f"{path}: answers must be a JSON object with any of {', '.join(PARTS)}")
    answers = {}
    asked = set(key.answerable())
    _check_given(path, value.get("given"), key)
    if "sheet" in value:
        _check_sheet(path, value["sheet"], key)
    for part, names in value.items():
        if part in IGNORED or part == "sheet":
            continue
        if part not in PARTS:
            raise InputError(f"{path}: unknown part {part!r}; answers have {', '.join(PARTS)}")
        if not isinstance(names, dict):
            raise InputError(f"{path}: {part} must be an object of quantities")
        for name, answer in names.items():
            if (part, name) not in asked:
                raise InputError(_where(path, key, part, name))
            answers[(part, name)] = _numbers(answer, f"{path}: {part}.{name}")
    return answers


def _numbers(value, where):
    """Nested lists of numbers and nulls as a float array with NaN for the nulls, rectangular."""

    def walk(item):
        if isinstance(item, list):
            if not item:
                raise InputError(f"{where}: an empty list")
            inner = [walk(sub) for sub in item]
            if len({np.shape(sub) for sub in inner}) > 1:
                lengths = sorted({len(sub) for sub in item if isinstance(sub, list)})
                raise InputError(f"{where} is ragged: lists of lengths {lengths} side by side")
            return inner
        if item is None:
            return float("nan")
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InputError(f"{where} must hold numbers (or null for a blank), got {item!r:.40}")
        if not np.isfinite(item):
            raise InputError(f"{where} must hold finite numbers, got {item!r}")
        return float(item)

    return np.array(walk(value), dtype=float)


HEADER = ["quantity", "index", "answer"]


def _read_csv(path, key, text):
    first = text.split("\n", 1)[0]
    # Excel saves with ';' between cells where ',' is the decimal comma of the locale
    delimiter = ";" if [c.strip().strip('"') for c in first.split(";")] == HEADER else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows or [cell.strip() for cell in rows[0]] != HEADER:
        raise InputError(f"{path}: the first line must be the header quantity,index,answer")
    asked = set(key.answerable())
    answers, seen = {}, set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InputError(f"{path}: line {number}: expected quantity,index,answer, got {len(row)} cells")
        quantity, index_text, answer = (cell.strip() for cell in row)
        if quantity == "sheet":
            _check_sheet(f"{path}: line {number}", answer, key)
            continue
        part, _, name = quantity.partition(".")
        if (part, name) not in asked:
            raise InputError(f"{path}: line {number}: " + _where(path, key, part, name).split(": ", 1)[1])
        shape = key.expected(part, name).shape
        try:
            index = tuple(int(v) for v in index_text.split(",")) if index_text else ()
        except ValueError:
            raise InputError(
                f"{path}: line {number}: index {index_text!r} must be whole numbers separated by commas"
            ) from None
        if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
            sides = "x".join(map(str, shape)) or "a single number (no index)"
            raise InputError(f"{path}: line {number}: index {index_text!r} is out of range: {quantity} is {sides}")
        if (part, name, index) in seen:
            raise InputError(f"{path}: line {number}: {quantity}[{index_text}] is answered twice")
        seen.add((part, name, index))
        try:
            value = float(answer) if answer else float("nan")
        except ValueError:
            raise InputError(f"{path}: line {number}: answer {answer!r} is not a number") from None
        if answer and not np.isfinite(value):
            raise InputError(f"{path}: line {number}: answer {answer!r} must be a finite number")
        answers.setdefault((part, name), np.full(shape, np.nan))[index] = value
    return answers


def score(marking):
    """(points earned, points in all) of a ``Marking``."""
    return marking.score, marking.total


def report(marking, decimals):
    """The marking as data for a view: per question its rows and points, then the mistakes met and the score."""
    questions = {}
    for entry in marking.entries:
        questions.setdefault(QUESTION[entry.quantity.split(".")[0]], []).append(entry)
    mistakes = {}
    for entry in marking.entries:
        if entry.mistake:
            mistakes[entry.mistake] = mistakes.get(entry.mistake, 0) + 1
    return {"questions": questions, "points": marking.points, "mistakes": mistakes, "score": marking.score,
            "total": marking.total, "decimals": decimals}  # fmt: skip


def grade_class(submissions, keys, decimals=4, points=None):
    """Mark every (student, sheet number, answers path) against ``keys`` {number: (given, Key)}; a file that cannot
    be marked (unreadable, another sheet's) scores 0 with its ``problem`` said, and the others are marked all the same.

    Returns (rows, mistakes): one dict per submission with the points per question (q1..q3) and in all, its
    ``marking`` (or None) and ``problem`` (or ""), and {mistake: (answers, students)}.
    """
    rows, mistakes = [], {}
    for student, number, path in submissions:
        row = {"student": student, "sheet": number, "problem": ""}
        key = keys[number][1]
        try:
            marking = mark(key, read_answers(path, key), decimals, points)
        except InputError as error:
            marking, row["problem"] = mark(key, {}, decimals, points), str(error)
        for question, part in enumerate(PARTS, start=1):
            row[f"q{question}"], row[f"q{question}_total"] = score(marking.of(part))
        row["score"], row["total"] = score(marking)
        row["mistakes"] = " ".join(sorted({e.mistake for e in marking.entries if e.mistake}))
        row["marking"] = marking  # for the platforms' results and the feedback pages; the CSV leaves it out
        for entry in marking.entries:
            if entry.mistake:
                count, students = mistakes.get(entry.mistake, (0, set()))
                mistakes[entry.mistake] = (count + 1, students | {student})
        rows.append(row)
    return rows, mistakes
