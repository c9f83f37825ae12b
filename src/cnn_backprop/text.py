"""Numbers as text, all alike: the formatting every text view (explain, the kinds' arithmetic, figures) shares.

``formatter`` picks one format for a set of numbers; the rest write a number, a
vector, a matrix or a stack of matrices with it.
"""

import numpy as np


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


def counted(n, noun):
    """``n`` and ``noun``, plural unless n is 1: "1 cross", "2 crosses", "0 rectangles"."""
    return f"{n} {noun if n == 1 else noun + ('es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's')}"


def points(value):
    """Points as a person reads them: whole where whole, else to 2 decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def top_level(text, separator):
    """``text`` split at each ``separator`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    return [*parts, text[start:]]
