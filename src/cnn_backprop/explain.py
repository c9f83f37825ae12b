"""The walkthrough as text a student can check by hand: answers 1-3, with ``explain`` the arithmetic.

Pure formatting of a ``walkthrough.Pass``, for any network: nothing is
computed here that the network did not already compute, except the products
that show how a number was made, and those are checked against it in the
tests.  Each layer's lines come from its kind (``kinds/``); this module lays
them out.  ``sections`` gives the text as structured data, one ``Section`` per
part of the exercise (the report and the exercise sheets lay them out);
``format_walkthrough`` joins them.  ``value_arithmetic`` explains one value,
forward or backward, for a network too big to explain whole, and
``format_summary`` reads such a pass in a screenful.
"""

import copy
import re
from dataclasses import dataclass

import numpy as np

from .text import blocks, factor, formatter, matrix, scalar, shown, titled, top_level
from .validate import InputError, nearest
from .walkthrough import MODES, is_modal

__all__ = [
    "WHOLE_LIMIT",
    "Section",
    "Text",
    "count_numbers",
    "format_summary",
    "format_walkthrough",
    "matrix",
    "section_text",
    "sections",
    "terms",
    "value_arithmetic",
]

# The most numbers a walkthrough is printed whole with unasked: the digits network's pass has 57,266, some
# 20,000 lines, and a reader who did not ask for them wants its summary first.
WHOLE_LIMIT = 500


@dataclass(frozen=True)
class Section:
    """One part of the walkthrough: ``key`` (given, sizes, forward, backward), its heading, its lines."""

    key: str
    heading: str
    lines: tuple


class Text:
    """A pass as the text sees it: its arrays in full shape, how the JSON indexes them, and ``d`` decimals.

    The kinds' text methods take one of these as ``p``.
    """

    def __init__(self, pass_, decimals):
        self.pass_, self.d = pass_, decimals
        self.arch, self.given, self.label, self.classes = pass_.arch, pass_.given, pass_.label, pass_.classes
        self.mode = pass_.mode
        self.value, self.grad = pass_.values, pass_.grads
        self.shapes = {name: np.shape(value) for name, value in self.value.items()}
        self._making = {n.output: n for n in self.arch.named}
        self._reading = {}
        for n in reversed(self.arch.named):
            self._reading[n.input] = n

    def shown(self, name):
        """A forward value (or extra, or the loss) as the JSON layout writes it."""
        return self.pass_["forward"][name]

    def extra(self, name):
        """What a layer found besides its output (``bn_mean``), in full shape."""
        return self.pass_.extras[name]

    def shown_grad(self, name):
        return self.pass_["backward"][name]

    def via(self, reader, name):
        """This text with dL/d``name`` the part that ``reader`` passes back (``name`` feeds several layers): what
        that layer's own lines show."""
        if reader.name not in self.pass_.parts.get(name, {}):
            return self
        part = self.pass_.parts[name][reader.name]
        shown = self.pass_.parts and self.pass_["parts"][name][reader.name]
        path = copy.copy(self)
        path.grad = {**self.grad, name: part}
        path.shown_grad = lambda asked: shown if asked == name else self.shown_grad(asked)
        return path

    def readers(self, name):
        """The layers that read ``name``, in the order of the network."""
        return [n for n in self.arch.named if name in n.inputs]

    def fmt(self, values):
        """The writer of every number of ``values``, alike (``text.formatter``)."""
        return formatter(values, self.d)

    def titled(self, title, value):
        return titled(title, value, self.d)

    def written(self, name):
        """How many axes the JSON writes ``name`` with (so indices are written as it writes them)."""
        return np.ndim(self.pass_.shown(name))

    def at(self, name, index):
        """``name[i,j]`` as the JSON indexes it (its written axes only), or ``name`` for a number."""
        kept = index[len(index) - self.written(name) :] if self.written(name) else ()
        return f"{name}[{','.join(map(str, kept))}]" if kept else name

    def making(self, name):
        """The Named layer whose output ``name`` is, or None (the image)."""
        return self._making.get(name)

    def reading(self, name):
        """The Named layer that reads ``name``."""
        return self._reading.get(name)

    def following(self, named):
        index = self.arch.named.index(named)
        return self.arch.named[index + 1] if index + 1 < len(self.arch.named) else None

    def source_name(self, named):
        """The name of what a layer reads, the maps before a flatten where it reads a flatten."""
        source = self.making(named.input)
        return source.input if source is not None and source.kind_of.reshapes else named.input

    def gradient_line(self, name, index):
        """dL/d(name)[index] as the sum the chain rule makes of it, from the layer that owns or reads ``name``; where
        several layers read it, one line for what each passes back, then their sum (lines joined by newlines)."""
        owners = self.arch.owners()
        if name in owners:
            owner, key = owners[name]
            return owner.kind_of.param_gradient_line(self, owner, key, index)
        readers, at = self.readers(name), self.at(name, index)
        if name not in self.pass_.parts:
            return readers[0].kind_of.input_gradient_line(self, readers[0], f"dL/d{at}", index)
        paths = [self.arch.layer(layer) for layer in self.pass_.parts[name]]
        return "\n".join([
            r.kind_of.input_gradient_line(self.via(r, name), r, f"dL/d{at} via {r.name}", index) for r in paths
        ] + [self.sum_line(name, index)])  # fmt: skip

    def sum_line(self, name, index):
        """dL/d(name)[index] of a value that feeds several layers: the sum of what each passes back."""
        parts, at = self.pass_.parts[name], self.at(name, index)
        paths = " + ".join(f"dL/d{at} via {layer}" for layer in parts)
        values = " + ".join(factor(self.fmt(self.grad[name]), part[index]) for part in parts.values())
        return f"    dL/d{at} = {paths} = {values} = {scalar(self.grad[name][index], self.d)}"


def _given(p):
    d = p.d
    image = np.asarray(p.given["image"])
    side = "x".join(map(str, image.shape))
    y = p.label
    lines = [f"  mode: {p.mode} ({MODES[p.mode]})"] if p.mode != "train" or is_modal(p.arch) else []
    lines += [f"  image X ({side}), class {y} = {p.classes[y]}:", *blocks(image, d)]
    for named in p.arch.named:
        lines += named.kind_of.given_lines(p, named)
    return lines


def _sizes(p):
    return [line for named in p.arch.named for line in named.kind_of.size_lines(p, named)]


def _forward(p, explain):
    return [line for named in p.arch.named for line in named.kind_of.forward_lines(p, named, explain)]


def _backward(p, explain):
    lines = []
    for named in reversed(p.arch.named):
        for name in [n for n in named.inputs if n in p.pass_.parts]:  # its own part, named as such
            own = named.kind_of.backward_lines(p.via(named, name), named, explain)
            lines += [line.replace(f"dL/d{name} ", f"dL/d{name} via {named.name} ", 1) for line in own]
            if p.readers(name)[0] is named:  # the last to pass back: the gradient is whole
                lines += titled(f"dL/d{name} = {' + '.join(f'(via {r})' for r in p.pass_.parts[name])} ({name} "
                                "feeds several layers: the chain rule adds what each passes back)",
                                p.shown_grad(name), p.d)  # fmt: skip
            break
        else:
            lines += named.kind_of.backward_lines(p, named, explain)
    return lines


def sections(pass_, explain=False, decimals=4):
    """The walkthrough as four Sections: the given values, then answers 1-3 of the exercise."""
    p = Text(pass_, decimals)
    return [
        Section("given", "GIVEN", tuple(_given(p))),
        Section("sizes", "1. OUTPUT SIZES", tuple(_sizes(p))),
        Section("forward", "2. FORWARD PASS (each layer's output before its activation)", tuple(_forward(p, explain))),
        Section("backward", "3. BACKWARD PASS (every entry is dL/d(that quantity))", tuple(_backward(p, explain))),
    ]


def section_text(section):
    """A section's lines as text (without its heading)."""
    return "\n".join(section.lines)


def format_walkthrough(pass_, explain=False, decimals=4):
    """The walkthrough as text: given values, then answers 1-3 of the exercise."""
    return "\n\n".join(f"{s.heading}\n{section_text(s)}" for s in sections(pass_, explain, decimals))


def count_numbers(pass_):
    """How many numbers the whole walkthrough of ``pass_`` shows: every value and every gradient."""
    return sum(np.size(v) for v in pass_.values.values()) + sum(np.size(v) for v in pass_.grads.values())


def format_summary(pass_, decimals=4):
    """A pass too big to read whole, in a screenful: what was given (shapes), answer 1 in full, each value's
    shape and its values or range, the loss, and each gradient's shape and largest magnitude.  Shapes are
    those of the ``--json`` layout, which ``--explain NAME[i,j,...]`` indexes."""
    p = Text(pass_, decimals)
    params = p.arch.param_shapes()
    width = max(len(name) for name in pass_.grads) + len("dL/d")

    def row(name, value, described):
        side = "x".join(map(str, np.shape(value))) or "1"
        return f"  {name:<{width}} {side:<10} {described}"

    given = [row("image", pass_.shown("image"), f"class {p.label} = {p.classes[p.label]}")]
    given += [row(name, pass_.shown(name), "").rstrip() for name in params]
    forward = []
    for name in pass_.values:
        if name in params or name == "image":
            continue
        value = pass_.shown(name)
        write = p.fmt(value)
        inline = shown(value, decimals) if np.size(value) <= 10 else None
        forward.append(row(name, value, f"= {inline}" if inline else f"from {write(np.min(value))} to "
                           f"{write(np.max(value))}"))  # fmt: skip
    forward.append(row("loss", pass_.loss, f"= {scalar(pass_.loss, decimals)}"))
    backward = [
        row(f"dL/d{name}", pass_.shown(name, grad=True), f"largest |entry| {scalar(np.max(np.abs(grad)), decimals)}")
        for name, grad in pass_.grads.items()
    ]
    parts = [
        ("GIVEN (shapes)", given),
        ("1. OUTPUT SIZES", _sizes(p)),
        ("2. FORWARD PASS (each layer's output: its shape, and its values or their range)", forward),
        ("3. BACKWARD PASS (each gradient: its shape and largest magnitude)", backward),
    ]
    return "\n\n".join(heading + "\n" + "\n".join(lines) for heading, lines in parts)


PATTERN = re.compile(r"^(dL/d)?([A-Za-z_][A-Za-z0-9_]*)(?:\[([\d\s,]*)\])?$")


def _named_by_its_end(name, names):
    """The quantity the text calls ``name`` (it writes dL/dkernel for the seed's one conv_kernel): the one
    quantity whose name ends in _``name``; several or none raise InputError naming the candidates."""
    ending = [full for full in names if full.endswith(f"_{name}")]
    if len(ending) == 1:
        return ending[0]
    if ending:
        raise InputError(f"--explain: {name!r} is one of {', '.join(ending)}; name which")
    raise InputError(f"--explain: no quantity {name!r}{nearest(name, names)}; quantities: {', '.join(names)}")


def value_arithmetic(pass_, which, decimals=4):
    """The arithmetic of one value, e.g. ``conv2_kernel[3,0,1,2]`` or ``dL/dpool[0,1]``, as lines.

    A layer output (``conv_pre[0,1]``) gets its forward sum and its gradient's;
    a parameter its gradient's (its value is given); ``dL/dNAME[...]`` the
    gradient's alone.  Indices are those of the ``--json`` layout.  Raises
    InputError with a message saying what exists.
    """
    p = Text(pass_, decimals)
    match = PATTERN.match(which.replace(" ", ""))
    drawn = [name for name in pass_.extras if name in p.given]  # what a layer drew in training mode (a mask), given
    names = [*(n.output for n in p.arch.named), *p.arch.param_shapes(), "image", *drawn]
    if not match:
        raise InputError(f"--explain {which!r}: write NAME[i,j,...], e.g. {names[0]}[0,0], or dL/dNAME[...]")
    gradient_only, name, text = match.group(1), match.group(2), match.group(3)
    if name not in p.value and name != "loss" and name not in drawn:
        name = _named_by_its_end(name, names)
    if name == "loss":
        return [f"    loss = {scalar(pass_.loss, decimals)}"]
    kept = tuple(int(v) for v in text.split(",") if v.strip()) if text else ()
    shape = np.shape(p.given[name]) if name in drawn else p.shapes[name]  # a mask indexed as its given writes it
    written = len(shape) if name in drawn else p.written(name)
    if len(kept) != written or any(not 0 <= v < n for v, n in zip(kept, shape[len(shape) - written :])):
        sides = "x".join(map(str, shape[len(shape) - written :])) or "a single number"
        raise InputError(f"--explain {which}: {name} is {sides}; give {written} indices within it")
    index = (0,) * (len(shape) - written) + kept
    if name in drawn:
        if gradient_only:
            raise InputError(f"--explain {which}: {name} is given (drawn in training mode); it has no gradient")
        value = np.asarray(p.given[name], dtype=float)[index]
        return [f"    {name}[{','.join(map(str, kept))}] is given (drawn in training mode): {scalar(value, decimals)}"]
    params = p.arch.param_shapes()
    lines = []
    if not gradient_only and name not in params and name != "image":
        named = p.making(name)
        lines.append(named.kind_of.value_line(p, named, index))
    if name in p.grad and name != "output":
        lines += p.gradient_line(name, index).splitlines()
    return lines


def terms(line):
    """(the quantity, [(term, its value or None)], the result) of one line of ``value_arithmetic`` whose numbers
    add up terms, e.g. ``dL/dkernel[0,0] = 0.5*0.2 + (-1.0000)*0.3 = -0.2000``; None for a line that adds nothing
    up (a maximum, one product).  A term's value is its factors' product where each factor is a number."""
    parts = line.strip().split(" = ")
    if len(parts) < 3:
        return None
    added = top_level(parts[-2], " + ")
    if len(added) < 2:
        return None

    def value(term):
        product = 1.0
        for written in top_level(term.strip(), "*"):
            try:
                product *= float(written.strip().removeprefix("(").removesuffix(")"))
            except ValueError:
                return None
        return product

    return parts[0], [(term.strip(), value(term)) for term in added], parts[-1]
