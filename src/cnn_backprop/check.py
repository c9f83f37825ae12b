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
import json
from dataclasses import dataclass

import numpy as np

from . import walkthrough
from .kinds import KINDS
from .validate import InputError

# Mistakes any kind of layer can host; each kind declares its own (kinds/*.py, ``mistakes``).
GENERAL_MISTAKES = {
    "no-bias": "A bias was left out of a pre-activation; every conv output adds the conv bias, and z adds the FC bias.",
    "post-activation": "The value after the activation was given where the value before it was asked (e.g. "
    "sigmoid(z) for z, or max(0, conv_pre) for conv_pre).",
    "sign": "The magnitude is right but the sign is wrong; check the sign of dL/dz = output - y and of each product.",
    "transposed": "The matrix is transposed: row i, column j of the answer is row j, column i of the key; "
    "dL/dkernel[m, n] belongs to the kernel weight in row m, column n.",
}
# Each known mistake: its id and what a marker would write beside it, the wrong rule and the right one.
MISTAKES = {**{mistake: text for kind in KINDS.values() for mistake, text in kind.mistakes.items()}, **GENERAL_MISTAKES}
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
        self.made_by = {n.output: n for n in self.arch.named}
        self.read_by = {n.input: n for n in self.arch.named}
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
        """What ``named`` reads, through the flatten before a dense layer."""
        source = self.made_by.get(named.input)
        if source is not None and source.kind_of.reshapes:
            return values[source.input].reshape(1, -1)
        return values[named.input]

    def candidates(self, part, name, values, grads):
        """{"carried" or a mistake id: [values in the JSON layout]} for (part, name).

        "carried" is the right rule on the student's ``values`` and ``grads`` (full
        shape, theirs where they answered, the key's elsewhere); each mistaken rule
        is run on those and on the key's own values, since a student who rounds as
        they go may have made the mistake on either.
        """
        if part == "shapes":
            return {label: [value] for label, value in self._shape_step(name).items()}
        step = self._forward_step if part == "forward" else self._backward_step
        found = {}
        for inputs in ((values, grads), (self.values, self.grads)):
            for label, value in step(name, *inputs).items():
                found.setdefault(label, []).append(self.layout(name, value))
        found["carried"] = found["carried"][:1]
        return found

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
        reader = self.read_by[name]
        if reader.kind_of.reshapes:
            reader = self.read_by[reader.output]
        x = self._input(values, reader)
        shape = values[name].shape
        if reader.kind_of.is_output:
            p = values["output"]
            target = reader.kind_of.target(p, self.labels)
            return {"carried": p - target, **reader.kind_of.logit_mistakes(p, target)}
        layer = walkthrough.layer_for(self.given, reader, self.params)
        layer.forward(x)
        g = grads[reader.output]
        found = {"carried": layer.backward(g)}
        found.update(reader.kind_of.backward_mistakes(self, reader, layer, x, g))
        return {label: value.reshape(shape) for label, value in found.items()}

    def _shape_step(self, name):
        named = next((n for n in self.arch.named if name in (n.name, n.output)), None)
        shapes = {} if named is None else named.kind_of.shape_mistakes(named)
        return {
            label: np.array(self.layout(named.output, np.zeros((1, *shape))).shape) for label, shape in shapes.items()
        }


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
    """The entries of one answered quantity; ``candidates`` is {label: [values]}."""
    answered = ~np.isnan(answer)
    whole = {**candidates, "sign": [-expected]}
    if expected.ndim == 2:
        whole["transposed"] = [expected.T]
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
        """The labels whose value is this answer and not the key's."""
        return [
            label
            for label, values in whole.items()
            if any(
                v.shape == answer.shape and _close(a, v[index], tol) and not _close(v[index], e, tol) for v in values
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
IGNORED = ("given", "torch")  # what a full `walkthrough --json` also holds: read past, never marked


def template(key):
    """Every answerable quantity, blank: {part: {name: nested lists of None}}, in the JSON layout."""
    blank = {part: {} for part in PARTS}
    for part, name in key.quantities():
        blank[part][name] = (
            np.full(key.expected(part, name).shape, None).tolist() if key.expected(part, name).ndim else None
        )
    return blank


def template_csv(key):
    """The same blanks as CSV rows: quantity,index,answer."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["quantity", "index", "answer"])
    for part, name in key.quantities():
        for index in np.ndindex(key.expected(part, name).shape):
            writer.writerow([f"{part}.{name}", ",".join(map(str, index)), ""])
    return out.getvalue()


def _check_given(path, given, key):
    """A ``given`` beside the answers (a whole ``walkthrough --json``) must be the sheet's instance."""
    if given is None:
        return
    sheet = json.loads(walkthrough.to_json({"given": key.pass_.given}))["given"]
    if not isinstance(given, dict):
        raise InputError(f"{path}: given must be the sheet's instance (an object), got {type(given).__name__}")
    differ = [k for k in sheet.keys() | given.keys() if sheet.get(k) != given.get(k)]
    if differ:
        raise InputError(f"{path}: these answers are for another instance: its given differs from the sheet's in "
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
    for part, names in value.items():
        if part in IGNORED:
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


def _read_csv(path, key, text):
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [cell.strip() for cell in rows[0]] != ["quantity", "index", "answer"]:
        raise InputError(f"{path}: the first line must be the header quantity,index,answer")
    asked = set(key.answerable())
    answers, seen = {}, set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InputError(f"{path}: line {number}: expected quantity,index,answer, got {len(row)} cells")
        quantity, index_text, answer = (cell.strip() for cell in row)
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


def score(entries):
    """(score, total): right and carried answers earn their mark; blanks and wrong ones do not."""
    return sum(e.verdict in ("right", "carried") for e in entries), len(entries)


def report(entries, decimals):
    """The marking as data for a view: per question its rows, then the mistakes met and the score."""
    questions = {}
    for entry in entries:
        questions.setdefault(QUESTION[entry.quantity.split(".")[0]], []).append(entry)
    got, total = score(entries)
    mistakes = {}
    for entry in entries:
        if entry.mistake:
            mistakes[entry.mistake] = mistakes.get(entry.mistake, 0) + 1
    return {"questions": questions, "mistakes": mistakes, "score": got, "total": total, "decimals": decimals}


def grade_class(submissions, keys, decimals=4):
    """Mark every (student, sheet number, answers path) against ``keys`` {number: (given, Key)}.

    Returns (rows, mistakes): one dict per submission with the score per question
    (q1..q3, right and carried answers) and in all, its entries, and {mistake: (answers, students)}.
    """
    rows, mistakes = [], {}
    for student, number, path in submissions:
        given, key = keys[number]
        entries = mark(given, read_answers(path, key), decimals)
        row = {"student": student, "sheet": number}
        for question, part in enumerate(PARTS, start=1):
            mine = [e for e in entries if e.quantity.startswith(part + ".")]
            row[f"q{question}"], row[f"q{question}_total"] = score(mine)
        row["score"], row["total"] = score(entries)
        found = sorted({e.mistake for e in entries if e.mistake})
        row["mistakes"] = " ".join(found)
        row["entries"] = entries  # for the platforms' results and the feedback pages; the CSV leaves them out
        for entry in entries:
            if entry.mistake:
                count, students = mistakes.get(entry.mistake, (0, set()))
                mistakes[entry.mistake] = (count + 1, students | {student})
        rows.append(row)
    return rows, mistakes
