"""The walkthrough as text a student can check by hand: answers 1-3, with ``explain`` the arithmetic.

Pure formatting of a ``walkthrough.run`` result, for any network: nothing is
computed here that the network did not already compute, except the products
that show how a number was made, and those are checked against it in the
tests.  ``sections`` gives the text as structured data, one ``Section`` per
part of the exercise (the report and the exercise sheets lay them out);
``format_walkthrough`` joins them.  ``value_arithmetic`` explains one value,
forward or backward, for a network too big to explain whole.
"""

import re
from dataclasses import dataclass

import numpy as np

from .walkthrough import architecture_of, classes_of, keep_axes, squeeze


def formatter(values, decimals):
    """A function that writes any of ``values`` with ``decimals`` useful digits, all alike.

    Whole numbers stay whole (hand exercises use integers); otherwise fixed point
    while the largest magnitude is at least 0.01, and below that scientific
    notation, since fixed point would show only zeros.  An exact zero among
    small numbers is a plain 0, so that the non-zero entries stand out.
    """
    values = np.asarray(values, dtype=float)
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if np.all(values == np.round(values)) and largest < 1e6:
        spec = ".0f"
    elif largest >= 0.01:
        spec = f".{decimals}f"
    else:
        spec = f".{max(decimals - 1, 0)}e"

    def write(value):
        if value == 0:
            return "0" if spec != f".{decimals}f" else f"{0.0:{spec}}"
        return f"{value:{spec}}"

    return write


def factor(write, value):
    """A number as a factor in a product: negatives in parentheses."""
    text = write(value)
    return f"({text})" if text.startswith("-") else text


def matrix(array, decimals, indent="    "):
    """A 2-D array as aligned rows of numbers."""
    write = formatter(array, decimals)
    cells = [[write(value) for value in row] for row in array]
    width = max(len(cell) for row in cells for cell in row)
    return "\n".join(indent + "[ " + "  ".join(cell.rjust(width) for cell in row) + " ]" for row in cells)


def vector(values, decimals):
    write = formatter(values, decimals)
    return "[" + ", ".join(write(value) for value in values) + "]"


def scalar(value, decimals):
    return formatter(value, decimals)(value)


def shown(value, decimals):
    """A number, a vector on the same line, or matrices (one per leading index) on the lines after."""
    value = np.asarray(value, dtype=float)
    if value.ndim == 0:
        return scalar(float(value), decimals)
    if value.ndim == 1:
        return vector(value, decimals)
    return None


def blocks(value, decimals):
    """Lines showing an array of two or more axes: a matrix, or one labelled matrix per leading index."""
    value = np.asarray(value, dtype=float)
    if value.ndim == 2:
        return [matrix(value, decimals)]
    write_all = formatter(value, decimals)  # one format for all the matrices, so they line up alike
    lines = []
    for index in np.ndindex(value.shape[:-2]):
        cells = [[write_all(v) for v in row] for row in value[index]]
        width = max(len(cell) for row in cells for cell in row)
        lines.append(f"    [{','.join(map(str, index))}]")
        lines += ["      [ " + "  ".join(cell.rjust(width) for cell in row) + " ]" for row in cells]
    return lines


def titled(title, value, decimals):
    """``title = value`` on one line for a number or vector, else ``title:`` and the matrices."""
    inline = shown(value, decimals)
    return [f"  {title} = {inline}"] if inline is not None else [f"  {title}:", *blocks(value, decimals)]


@dataclass(frozen=True)
class Section:
    """One part of the walkthrough: ``key`` (given, sizes, forward, backward), its heading, its lines."""

    key: str
    heading: str
    lines: tuple


class _Pass:
    """Everything the text needs about one result: full-shape arrays by name, and how each is indexed."""

    def __init__(self, result, decimals):
        self.result, self.d = result, decimals
        self.given = result["given"]
        self.arch = architecture_of(self.given)
        self.classes = classes_of(self.given)
        shapes = {"image": (self.arch.channels, self.arch.image_size, self.arch.image_size)}
        shapes.update({n.output: n.out_shape for n in self.arch.named})
        shapes.update(self.arch.param_shapes())
        self.shapes = shapes
        fwd, bwd = result["forward"], result["backward"]
        values = {"image": self.given["image"], **{k: self.given[k] for k in self.arch.param_shapes()}, **fwd}
        self.value = {name: self._full(name, v) for name, v in values.items() if name in shapes}
        self.grad = {name: self._full(name, v) for name, v in bwd.items() if name in shapes}
        flat = next((n for n in self.arch.named if n.kind == "flatten"), None)
        if flat is not None:  # the flatten's numbers are its input's, reshaped
            self.value[flat.output] = self.value[flat.input].reshape(-1)
            self.grad[flat.output] = self.grad[flat.input].reshape(-1)
        self.by_output = {n.output: n for n in self.arch.named}
        keep = keep_axes(self.arch)
        self.axes = {name: np.ndim(squeeze(np.zeros(shape), keep[name])) for name, shape in shapes.items()}

    def _full(self, name, value):
        return np.asarray(value, dtype=float).reshape(self.shapes[name])

    def written(self, name):
        """How many axes the JSON writes ``name`` with (so indices are written as it writes them)."""
        return self.axes[name]

    def at(self, name, index):
        """``name[i,j]`` as the JSON indexes it (its written axes only), or ``name`` for a number."""
        kept = index[len(index) - self.written(name) :] if self.written(name) else ()
        return f"{name}[{','.join(map(str, kept))}]" if kept else name


def kernel_label(name):
    """The seed's single conv layer's kernel is just "kernel" in the text; numbered layers say whose."""
    return "kernel" if name == "conv" else f"{name}_kernel"


def _z(p, named):
    """What the text calls a dense layer's output: z for the last one, else its name."""
    return "z" if named is p.arch.named[-2] else named.output


def _dense_input(p, named):
    """The name of what a dense layer reads, the map before the flatten where there is one."""
    source = p.by_output.get(named.input)
    return source.input if source is not None and source.kind == "flatten" else named.input


def _given(p):
    d, g = p.d, p.given
    image = np.asarray(g["image"])
    side = "x".join(map(str, image.shape))
    y = g["label"]
    lines = [f"  image X ({side}), class {y} = {p.classes[y]}:", *blocks(image, d)]
    for named in p.arch.named:
        layer, name = named.layer, named.name
        if layer.kind == "conv":
            kernel, bias = np.asarray(g[f"{name}_kernel"]), g[f"{name}_bias"]
            lines += [
                f"  {name} kernel ({'x'.join(map(str, kernel.shape))}), {name} bias {shown(bias, d)}, "
                f"stride {layer.stride}, padding {layer.padding}:",
                *blocks(kernel, d),
            ]
        elif layer.kind in ("maxpool", "avgpool"):
            what = "max" if layer.kind == "maxpool" else "average"
            lines.append(f"  {what} pooling {layer.size}x{layer.size}, stride {layer.stride}")
        elif layer.kind == "dense":
            weights, bias = np.asarray(g[f"{name}_weights"]), g[f"{name}_bias"]
            if weights.ndim == 1:
                lines.append(f"  {name} weights {vector(weights, d)}, {name} bias {shown(bias, d)}")
            else:
                lines += [f"  {name} weights ({'x'.join(map(str, weights.shape))}), {name} bias {shown(bias, d)}:",
                          *blocks(weights, d)]  # fmt: skip
    return lines


def _sizes(p):
    lines = []
    for named in p.arch.named:
        layer = named.layer
        if layer.kind in ("conv", "maxpool", "avgpool"):
            w, out = named.in_shape[1], named.out_shape[1]
            k, s, pad = layer.size, layer.stride, layer.padding
            channels = f", {named.out_shape[0]} channels" if named.out_shape[0] > 1 else ""
            lines.append(f"    {named.name}: (W - K + 2P) / S + 1 = ({w} - {k} + 2*{pad}) / {s} + 1 = {out}  ->  "
                         f"{out}x{out}{channels}")  # fmt: skip
        elif layer.kind == "flatten" and len(named.in_shape) == 3:
            c, side = named.in_shape[0], named.in_shape[1]
            source = p.by_output.get(named.input)
            what = (
                "pooled map" if source is not None and source.kind in ("maxpool", "avgpool") else f"{named.input} map"
            )
            maps = f"{side}x{side} {what}" if c == 1 else f"{c} {side}x{side} {what}s"
            lines.append(f"    {named.output.replace('_', ' ')}: the {maps} flattened -> {named.out_shape[0]} values")
    return lines


def _source_conv(p, named):
    """The conv layer whose map a pooling layer reads (through a ReLU), for "argmax in the conv map"."""
    before = [n for n in p.arch.named[: p.arch.named.index(named)] if n.kind == "conv"]
    return before[-1].name if before else "input"


def _forward(p, explain):
    d, fwd = p.d, p.result["forward"]
    y = p.given["label"]
    lines = []
    named_list = p.arch.named
    for position, named in enumerate(named_list):
        kind, out = named.kind, named.output
        if kind == "conv":
            relu_next = position + 1 < len(named_list) and named_list[position + 1].kind == "relu"
            lines += titled(f"{out} (before ReLU)" if relu_next else out, fwd[out], d)
            if explain:
                lines += conv_header(p, named) + [conv_line(p, named, i) for i in np.ndindex(named.out_shape)]
        elif kind == "relu":
            lines += titled(f"{out} = max(0, {named.input})", fwd[out], d)
        elif kind == "maxpool":
            lines += titled(f"{out} (max of each window; argmax [row, col] in the {_source_conv(p, named)} map)",
                            fwd[out], d)  # fmt: skip
            lines.append("    argmax: " + ", ".join(f"[{r},{c}]" for r, c in fwd[f"{named.name}_argmax"]))
            if explain:
                lines += [pool_line(p, named, i) for i in np.ndindex(named.out_shape)]
        elif kind == "avgpool":
            lines += titled(f"{out} (mean of each window)", fwd[out], d)
            if explain:
                lines += [pool_line(p, named, i) for i in np.ndindex(named.out_shape)]
        elif kind == "dense":
            z = _z(p, named)
            product = f"{named.name}_weights . {_dense_input(p, named)} + {named.name}_bias"
            title = f"{'z = ' if z == 'z' else ''}{out} = {product}"
            lines += titled(title, fwd[out], d)
            if explain:
                lines += [dense_line(p, named, i) for i in np.ndindex(named.out_shape)]
        elif kind == "sigmoid":
            lines += [
                f"  output = sigmoid(z) = 1 / (1 + e^-z) = {fwd['output']:.{d}f}   (P({p.classes[1]}))",
                f"  loss = -[y log(output) + (1 - y) log(1 - output)] = {scalar(fwd['loss'], d)}   (y = {y})",
            ]
        elif kind == "softmax":
            lines += [
                f"  output = softmax(z) = e^z / sum e^z = {vector(fwd['output'], d)}   (P of each class)",
                f"  loss = -log(output[y]) = -log({scalar(fwd['output'][y], d)}) = {scalar(fwd['loss'], d)}   "
                f"(y = {y} = {p.classes[y]})",
            ]
    return lines


def _backward(p, explain):
    d, fwd, bwd = p.d, p.result["forward"], p.result["backward"]
    y = p.given["label"]
    lines = []
    for named in reversed(p.arch.named):
        kind, name, grad_in = named.kind, named.name, named.input
        source = p.by_output.get(grad_in)
        if source is not None and source.kind == "flatten":
            grad_in = source.input  # dL/dpool: dL/dfc_input reshaped to the pooled maps
        if kind == "sigmoid":
            lines.append(f"  dL/dz = sigmoid(z) - y = {fwd['output']:.{d}f} - {y} = {scalar(bwd[named.input], d)}")
        elif kind == "softmax":
            lines += titled("dL/dz = softmax(z) - onehot(y)", bwd[named.input], d)
        elif kind == "dense":
            z, reads = _z(p, named), _dense_input(p, named)
            single = np.ndim(bwd[named.output]) == 0
            product = f"dL/d{z} * {reads}" if single else f"outer(dL/d{z}, {reads})"
            lines += titled(f"dL/d{name}_weights = {product}", bwd[f"{name}_weights"], d)
            lines += titled(f"dL/d{name}_bias = dL/d{z}", bwd[f"{name}_bias"], d)
            if grad_in != "image":
                rule = f"dL/d{z} * {name}_weights" if single else f"{name}_weights^T . dL/d{z}"
                lines += titled(f"dL/d{grad_in} = {rule}", bwd[grad_in], d)
        elif kind == "maxpool":
            rule = "each window's gradient sent to its argmax; shared maxima add up"
            lines += titled(f"dL/d{grad_in} ({rule})", bwd[grad_in], d)
        elif kind == "avgpool":
            rule = f"each window's gradient split equally over its {named.layer.size**2} entries; overlaps add up"
            lines += titled(f"dL/d{grad_in} ({rule})", bwd[grad_in], d)
        elif kind == "relu":
            lines += titled(f"dL/d{grad_in} = dL/d{named.output} * [{grad_in} > 0]", bwd[grad_in], d)
        elif kind == "conv":
            lines += [f"  dL/d{kernel_label(name)}:", *blocks(bwd[f"{name}_kernel"], d)]
            if explain:
                lines += kernel_gradient_header(p, named)
                lines += [kernel_gradient_line(p, named, i) for i in np.ndindex(p.shapes[f"{name}_kernel"])]
            lines += titled(f"dL/d{name}_bias = sum of dL/d{named.output}", bwd[f"{name}_bias"], d)
            if grad_in != "image":
                rule = "each window entry's gradient, dL/d{0} times the kernel, sent back; overlaps add up"
                lines += titled(f"dL/d{grad_in} ({rule.format(named.output)})", bwd[grad_in], d)
    return lines


def sections(result, explain=False, decimals=4):
    """The walkthrough as four Sections: the given values, then answers 1-3 of the exercise."""
    p = _Pass(result, decimals)
    return [
        Section("given", "GIVEN", tuple(_given(p))),
        Section("sizes", "1. OUTPUT SIZES", tuple(_sizes(p))),
        Section("forward", "2. FORWARD PASS (each layer's output before its activation)", tuple(_forward(p, explain))),
        Section("backward", "3. BACKWARD PASS (every entry is dL/d(that quantity))", tuple(_backward(p, explain))),
    ]


def section_text(section):
    """A section's lines as text (without its heading)."""
    return "\n".join(section.lines)


def format_walkthrough(result, explain=False, decimals=4):
    """The walkthrough as text: given values, then answers 1-3 of the exercise."""
    return "\n\n".join(f"{s.heading}\n{section_text(s)}" for s in sections(result, explain, decimals))


# The arithmetic of single values.  Each ``*_line`` writes one value as the sum it is, every term
# shown; ``index`` is the value's full index without the batch axis.


def _pixel(p, name, c, row, col):
    """name[c, row, col], or 0 where (row, col) falls in the zero padding."""
    value = p.value[name]
    inside = 0 <= row < value.shape[1] and 0 <= col < value.shape[2]
    return value[c, row, col] if inside else 0.0


def _x_name(named):
    return "X" if named.input == "image" else named.input


def conv_header(p, named):
    k = f"{kernel_label(named.name)}"
    padded = "  (X zero-padded)" if named.layer.padding else ""
    if p.written(named.output) == 2 and named.in_shape[0] == 1:
        return [f"    {named.output}[i, j] = {named.name}_bias + sum_m sum_n {_x_name(named)}[S*i + m, S*j + n] * "
                f"{k}[m, n]{padded}"]  # fmt: skip
    return [f"    {named.output}[f, i, j] = {named.name}_bias[f] + sum_c sum_m sum_n {_x_name(named)}[c, S*i + m, "
            f"S*j + n] * {named.name}_kernel[f, c, m, n]{padded}"]  # fmt: skip


def conv_line(p, named, index):
    f, i, j = index
    layer, d = named.layer, p.d
    kernel, bias = p.value[f"{named.name}_kernel"], p.value[f"{named.name}_bias"]
    s, pad, k = layer.stride, layer.padding, layer.size
    x_, k_ = formatter(p.value[named.input], d), formatter(kernel, d)
    terms = [
        f"{factor(x_, _pixel(p, named.input, c, s * i + m - pad, s * j + n - pad))}*{factor(k_, kernel[f, c, m, n])}"
        for c in range(named.in_shape[0])
        for m in range(k)
        for n in range(k)
    ]
    value = formatter(p.value[named.output], d)(p.value[named.output][index])
    return f"    {p.at(named.output, index)} = {formatter(bias, d)(bias[f])} + " + " + ".join(terms) + f" = {value}"


def pool_line(p, named, index):
    c, i, j = index
    layer, d = named.layer, p.d
    write = formatter(p.value[named.input], d)
    window = [
        write(p.value[named.input][c, layer.stride * i + m, layer.stride * j + n])
        for m in range(layer.size)
        for n in range(layer.size)
    ]
    out = write(p.value[named.output][index])
    if layer.kind == "avgpool":
        return f"    {p.at(named.output, index)} = mean({', '.join(window)}) = {out}"
    argmax = p.result["forward"][f"{named.name}_argmax"][int(np.ravel_multi_index(index, named.out_shape))]
    where = f"{_source_conv(p, named)} [{argmax[0]},{argmax[1]}]"
    return f"    {p.at(named.output, index)} = max({', '.join(window)}) = {out}  at {where}"


def dense_line(p, named, index, name=None):
    """One output of a dense layer as its sum; written as z (the walkthrough's name) unless ``name`` is given."""
    (o,) = index
    d = p.d
    inputs, weights, bias = p.value[named.input], p.value[f"{named.name}_weights"], p.value[f"{named.name}_bias"]
    x_, w_ = formatter(inputs, d), formatter(weights, d)
    terms = " + ".join(f"{factor(x_, x)}*{factor(w_, w)}" for x, w in zip(inputs, weights[o]))
    z = name or _z(p, named)
    target = z if p.written(named.output) == 0 else f"{z}[{o}]"
    return f"    {target} = {terms} + {factor(formatter(bias, d), bias[o])} = {scalar(p.value[named.output][o], d)}"


def kernel_gradient_header(p, named):
    x = _x_name(named)
    if p.written(f"{named.name}_kernel") == 2:
        return [
            f"    dL/d{kernel_label(named.name)}[m, n] = sum_i sum_j dL/d{named.output}[i, j] * {x}[S*i + m, S*j + n]"
        ]
    return [
        f"    dL/d{named.name}_kernel[f, c, m, n] = sum_i sum_j dL/d{named.output}[f, i, j] * {x}[c, S*i + m, S*j + n]"
    ]


def kernel_gradient_line(p, named, index):
    f, c, m, n = index
    layer, d = named.layer, p.d
    grad = p.grad[named.output]
    s, pad = layer.stride, layer.padding
    g_, x_ = formatter(grad, d), formatter(p.value[named.input], d)
    out_h, out_w = named.out_shape[1:]
    terms = [
        f"{factor(g_, grad[f, i, j])}*{factor(x_, _pixel(p, named.input, c, s * i + m - pad, s * j + n - pad))}"
        for i in range(out_h)
        for j in range(out_w)
    ]
    kernel = f"{named.name}_kernel"
    target = p.at(kernel, index).replace(kernel, kernel_label(named.name), 1)
    return f"    dL/d{target} = " + " + ".join(terms) + f" = {formatter(p.grad[kernel], d)(p.grad[kernel][index])}"


def _gradient_line(p, name, index):
    """dL/d(name)[index] as the sum the chain rule makes of it, from the layer that reads ``name``."""
    d = p.d
    value = p.grad[name][index]
    target = f"dL/d{p.at(name, index)}"
    named_params = {key: n for n in p.arch.named for key in n.param_shapes}
    if name in named_params:
        owner = named_params[name]
        if name.endswith("_kernel"):
            return kernel_gradient_line(p, owner, index)
        grad = p.grad[owner.output]
        if owner.kind == "conv":
            terms = " + ".join(factor(formatter(grad, d), g) for g in grad[index[0]].ravel())
            return f"    {target} = sum of dL/d{owner.output}[{index[0]}] = {terms} = {scalar(value, d)}"
        if name.endswith("_bias"):
            return f"    {target} = dL/d{p.at(owner.output, index)} = {scalar(value, d)}"
        o, i = index
        x = p.value[owner.input]
        rule = f"dL/d{p.at(owner.output, (o,))} * {p.at(owner.input, (i,))}"
        product = f"{factor(formatter(grad, d), grad[o])}*{factor(formatter(x, d), x[i])}"
        return f"    {target} = {rule} = {product} = {scalar(value, d)}"
    reader = next(n for n in p.arch.named if n.input == name)
    if reader.kind == "flatten":
        flat = int(np.ravel_multi_index(index, reader.in_shape))
        return _gradient_line(p, reader.output, (flat,)).replace(
            f"dL/d{p.at(reader.output, (flat,))} =", f"{target} =", 1
        )
    up = p.grad.get(reader.output)
    if reader.kind in ("sigmoid", "softmax"):
        out = p.value["output"]
        y = p.given["label"]
        onehot = float(index[0] == y) if reader.kind == "softmax" else float(y)
        rule = "sigmoid(z) - y" if reader.kind == "sigmoid" else f"softmax(z)[{index[0]}] - [{index[0]} == y]"
        return f"    {target} = {rule} = {out[index]:.{d}f} - {onehot:g} = {scalar(value, d)}"
    if reader.kind == "relu":
        on = int(p.value[name][index] > 0)
        return (f"    {target} = dL/d{p.at(reader.output, index)} * [{p.at(name, index)} > 0] = "
                f"{factor(formatter(up, d), up[index])}*{on} = {scalar(value, d)}")  # fmt: skip
    if reader.kind == "dense":
        weights = p.value[f"{reader.name}_weights"]
        terms = " + ".join(f"{factor(formatter(up, d), up[o])}*{factor(formatter(weights, d), weights[o, index[0]])}"
                           for o in range(len(up)))  # fmt: skip
        rule = f"sum_o dL/d{reader.output}[o] * {reader.name}_weights[o, {index[0]}]"
        return f"    {target} = {rule} = {terms} = {scalar(value, d)}"
    if reader.kind in ("maxpool", "avgpool"):
        layer = reader.layer
        c, row, col = index
        terms = []
        for i, j in np.ndindex(reader.out_shape[1:]):
            inside = 0 <= row - layer.stride * i < layer.size and 0 <= col - layer.stride * j < layer.size
            if not inside:
                continue
            if reader.kind == "maxpool":
                flat = int(np.ravel_multi_index((c, i, j), reader.out_shape))
                if tuple(p.result["forward"][f"{reader.name}_argmax"][flat]) == (row, col):
                    terms.append(formatter(up, d)(up[c, i, j]))
            else:
                terms.append(f"{factor(formatter(up, d), up[c, i, j])}/{layer.size**2}")
        rule = "the windows whose maximum it is" if reader.kind == "maxpool" else "a share of every window it is in"
        return f"    {target} = ({rule}) {' + '.join(terms) or '0'} = {scalar(value, d)}"
    # a conv layer reads it: every window entry that saw this pixel sends back its gradient times the kernel weight
    layer = reader.layer
    kernel = p.value[f"{reader.name}_kernel"]
    c, row, col = index
    terms = []
    for f, i, j in np.ndindex(reader.out_shape):
        m, n = row + layer.padding - layer.stride * i, col + layer.padding - layer.stride * j
        if 0 <= m < layer.size and 0 <= n < layer.size:
            terms.append(f"{factor(formatter(up, d), up[f, i, j])}*{factor(formatter(kernel, d), kernel[f, c, m, n])}")
    return f"    {target} = {' + '.join(terms) or '0'} = {scalar(value, d)}"


def _forward_line(p, name, index):
    named = p.by_output[name]
    kind, d = named.kind, p.d
    if kind == "conv":
        return conv_line(p, named, index)
    if kind in ("maxpool", "avgpool"):
        return pool_line(p, named, index)
    if kind == "dense":
        return dense_line(p, named, index, name)
    if kind == "relu":
        x = p.value[named.input][index]
        return f"    {p.at(name, index)} = max(0, {scalar(x, d)}) = {scalar(p.value[name][index], d)}"
    if kind == "flatten":
        source = p.at(named.input, np.unravel_index(index[0], named.in_shape))
        return f"    {p.at(name, index)} = {source} = {scalar(p.value[name][index], d)}"
    z = p.value[named.input]
    if kind == "sigmoid":
        return f"    output = sigmoid({scalar(z[0], d)}) = 1 / (1 + e^-z) = {p.value['output'][0]:.{d}f}"
    terms = " + ".join(f"e^{factor(formatter(z, d), v)}" for v in z)
    top = f"e^{factor(formatter(z, d), z[index])}"
    return f"    {p.at('output', index)} = {top} / ({terms}) = {p.value['output'][index]:.{d}f}"


PATTERN = re.compile(r"^(dL/d)?([A-Za-z_][A-Za-z0-9_]*)(?:\[([\d\s,]*)\])?$")


def value_arithmetic(result, which, decimals=4):
    """The arithmetic of one value, e.g. ``conv2_kernel[3,0,1,2]`` or ``dL/dpool[0,1]``, as lines.

    A layer output (``conv_pre[0,1]``) gets its forward sum and its gradient's;
    a parameter its gradient's (its value is given); ``dL/dNAME[...]`` the
    gradient's alone.  Indices are those of the ``--json`` layout.  Raises
    ValueError with a message saying what exists.
    """
    from .validate import InputError, nearest

    p = _Pass(result, decimals)
    match = PATTERN.match(which.replace(" ", ""))
    names = [*p.by_output, *p.arch.param_shapes(), "image"]
    if not match:
        raise InputError(f"--explain {which!r}: write NAME[i,j,...], e.g. {names[0]}[0,0], or dL/dNAME[...]")
    gradient_only, name, text = match.group(1), match.group(2), match.group(3)
    if name not in p.value and name != "loss":
        raise InputError(f"--explain: no quantity {name!r}{nearest(name, names)}; quantities: {', '.join(names)}")
    if name == "loss":
        return [f"    loss = {scalar(p.result['forward']['loss'], decimals)}"]
    kept = tuple(int(v) for v in text.split(",") if v.strip()) if text else ()
    written = p.written(name)
    shape = p.shapes[name]
    if len(kept) != written or any(not 0 <= v < n for v, n in zip(kept, shape[len(shape) - written :])):
        sides = "x".join(map(str, shape[len(shape) - written :])) or "a single number"
        raise InputError(f"--explain {which}: {name} is {sides}; give {written} indices within it")
    index = (0,) * (len(shape) - written) + kept
    params = p.arch.param_shapes()
    lines = []
    if not gradient_only and name not in params and name != "image":
        lines.append(_forward_line(p, name, index))
    if name in p.grad and name != "output":
        lines.append(_gradient_line(p, name, index))
    return lines
