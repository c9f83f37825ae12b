"""The walkthrough as text a student can check by hand: answers 1-3, with ``explain`` the arithmetic.

Pure formatting of a ``walkthrough.run`` result; nothing is computed here that
the network did not already compute, except the products that show how a
number was made, and those are checked against it in the tests.
"""

import numpy as np

from .data import CLASSES


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


def _size_line(name, w, k, p, s, out):
    return f"    {name}: (W - K + 2P) / S + 1 = ({w} - {k} + 2*{p}) / {s} + 1 = {out}  ->  {out}x{out}"


def _pixel(image, row, col):
    """X[row, col], or 0 where (row, col) falls in the zero padding."""
    inside = 0 <= row < len(image) and 0 <= col < len(image)
    return image[row][col] if inside else 0.0


def _conv_arithmetic(given, forward, d):
    image, kernel = given["image"], given["conv_kernel"]
    k, s, p = len(kernel), given["conv_stride"], given["conv_padding"]
    x_, k_, out_ = formatter(image, d), formatter(kernel, d), formatter(forward["conv_pre"], d)
    lines = [
        "    conv_pre[i, j] = conv_bias + sum_m sum_n X[S*i + m, S*j + n] * kernel[m, n]"
        + ("  (X zero-padded)" if p else "")
    ]
    size = len(forward["conv_pre"])
    for i in range(size):
        for j in range(size):
            terms = [
                f"{factor(x_, _pixel(image, s * i + m - p, s * j + n - p))}*{factor(k_, kernel[m][n])}"
                for m in range(k)
                for n in range(k)
            ]
            lines.append(
                f"    conv_pre[{i},{j}] = {scalar(given['conv_bias'], d)} + "
                + " + ".join(terms)
                + f" = {out_(forward['conv_pre'][i][j])}"
            )
    return lines


def _pool_arithmetic(given, forward, d):
    size, stride = given["pool_size"], given["pool_stride"]
    relu, pool = forward["conv_relu"], forward["pool"]
    write = formatter(relu, d)
    lines = []
    for index, (row, col) in enumerate(forward["pool_argmax"]):
        i, j = divmod(index, len(pool))
        window = [write(relu[stride * i + m][stride * j + n]) for m in range(size) for n in range(size)]
        lines.append(f"    pool[{i},{j}] = max({', '.join(window)}) = {write(pool[i][j])}  at conv [{row},{col}]")
    return lines


def _fc_arithmetic(given, forward, d):
    inputs, weights = forward["pool"].flatten(), given["fc_weights"]
    x_, w_ = formatter(inputs, d), formatter(weights, d)
    terms = " + ".join(f"{factor(x_, x)}*{factor(w_, w)}" for x, w in zip(inputs, weights))
    return [
        f"    z = {terms} + {factor(formatter(given['fc_bias'], d), given['fc_bias'])} = {scalar(forward['fc_pre'], d)}"
    ]


def _kernel_gradient_arithmetic(given, backward, d):
    image, grad = given["image"], backward["conv_pre"]
    k, s, p = len(given["conv_kernel"]), given["conv_stride"], given["conv_padding"]
    g_, x_, out_ = formatter(grad, d), formatter(image, d), formatter(backward["conv_kernel"], d)
    lines = ["    dL/dkernel[m, n] = sum_i sum_j dL/dconv_pre[i, j] * X[S*i + m, S*j + n]"]
    size = len(grad)
    for m in range(k):
        for n in range(k):
            terms = [
                f"{factor(g_, grad[i][j])}*{factor(x_, _pixel(image, s * i + m - p, s * j + n - p))}"
                for i in range(size)
                for j in range(size)
            ]
            lines.append(
                f"    dL/dkernel[{m},{n}] = " + " + ".join(terms) + f" = {out_(backward['conv_kernel'][m][n])}"
            )
    return lines


def format_walkthrough(result, explain=False, decimals=4):
    """The walkthrough as text: given values, then answers 1-3 of the exercise."""
    g, shapes, fwd, bwd = result["given"], result["shapes"], result["forward"], result["backward"]
    d = decimals
    w, k = len(g["image"]), len(g["conv_kernel"])
    conv, pool = shapes["conv"][0], shapes["pool"][0]
    y = g["label"]
    out = [
        "GIVEN",
        f"  image X ({w}x{w}), class {y} = {CLASSES[y]}:",
        matrix(g["image"], d),
        f"  conv kernel ({k}x{k}), conv bias {scalar(g['conv_bias'], d)}, stride {g['conv_stride']}, "
        f"padding {g['conv_padding']}:",
        matrix(g["conv_kernel"], d),
        f"  max pooling {g['pool_size']}x{g['pool_size']}, stride {g['pool_stride']}",
        f"  fc weights {vector(g['fc_weights'], d)}, fc bias {scalar(g['fc_bias'], d)}",
        "",
        "1. OUTPUT SIZES",
        _size_line("conv", w, k, g["conv_padding"], g["conv_stride"], conv),
        _size_line("pool", conv, g["pool_size"], 0, g["pool_stride"], pool),
        f"    fc input: the {pool}x{pool} pooled map flattened -> {shapes['fc_input'][0]} values",
        "",
        "2. FORWARD PASS (each layer's output before its activation)",
        "  conv_pre (before ReLU):",
        matrix(fwd["conv_pre"], d),
    ]
    if explain:
        out += _conv_arithmetic(g, fwd, d)
    out += [
        "  conv_relu = max(0, conv_pre):",
        matrix(fwd["conv_relu"], d),
        "  pool (max of each window; argmax [row, col] in the conv map):",
        matrix(fwd["pool"], d),
        "    argmax: " + ", ".join(f"[{r},{c}]" for r, c in fwd["pool_argmax"]),
    ]
    if explain:
        out += _pool_arithmetic(g, fwd, d)
    out += [f"  z = fc_pre = fc_weights . pool + fc_bias = {scalar(fwd['fc_pre'], d)}"]
    if explain:
        out += _fc_arithmetic(g, fwd, d)
    out += [
        f"  output = sigmoid(z) = 1 / (1 + e^-z) = {fwd['output']:.{d}f}   (P(rectangle))",
        f"  loss = -[y log(output) + (1 - y) log(1 - output)] = {scalar(fwd['loss'], d)}   (y = {y})",
        "",
        "3. BACKWARD PASS (every entry is dL/d(that quantity))",
        f"  dL/dz = sigmoid(z) - y = {fwd['output']:.{d}f} - {y} = {scalar(bwd['fc_pre'], d)}",
        f"  dL/dfc_weights = dL/dz * pool = {vector(bwd['fc_weights'], d)}",
        f"  dL/dfc_bias = dL/dz = {scalar(bwd['fc_bias'], d)}",
        "  dL/dpool = dL/dz * fc_weights:",
        matrix(bwd["pool"], d),
        "  dL/dconv_relu (each window's gradient sent to its argmax; shared maxima add up):",
        matrix(bwd["conv_relu"], d),
        "  dL/dconv_pre = dL/dconv_relu * [conv_pre > 0]:",
        matrix(bwd["conv_pre"], d),
        "  dL/dkernel:",
        matrix(bwd["conv_kernel"], d),
    ]
    if explain:
        out += _kernel_gradient_arithmetic(g, bwd, d)
    out += [f"  dL/dconv_bias = sum of dL/dconv_pre = {scalar(bwd['conv_bias'], d)}"]
    return "\n".join(out)
