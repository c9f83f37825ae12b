"""Checks on everything a user types or hands in, each failing with one clear sentence.

Every check raises ``InputError``; the command line prints its message on one
line and exits with status 2.  Checks run before any work starts and before
any file is written.
"""

import difflib
import math

import numpy as np


class InputError(ValueError):
    """Bad input from the user: the message says what was wrong and what is expected."""


def nearest(word, choices):
    """' (did you mean "x"?)' for the closest of ``choices``, or ''."""
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f' (did you mean "{match[0]}"?)' if match else ""


def integer(value, where, minimum):
    """``value`` as an int >= minimum; bools and floats such as 1.5 are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, float) and value.is_integer()):
            raise InputError(f"{where} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise InputError(f"{where} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def number(value, where):
    """``value`` as a finite float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def label(value, where, classes=("cross", "rectangle")):
    """A class label: a whole number 0..K-1 for the K ``classes`` (names)."""
    if isinstance(value, bool) or isinstance(value, str) or value not in range(len(classes)):
        if len(classes) == 2:
            raise InputError(f"{where} must be 0 ({classes[0]}) or 1 ({classes[1]}), got {value!r}")
        raise InputError(f"{where} must be a class 0..{len(classes) - 1}, got {value!r}")
    return int(value)


def finite_array(array, where):
    """Refuse NaN and infinity, naming the first bad entry."""
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{where} must hold finite numbers, got {array[index]} at index {list(index)}")
    return array


EXPECTED = {
    1: "a list of numbers",
    2: "a list of rows (a list of lists of numbers)",
    3: "a list of channels, each a list of rows",
    4: "a list of filters, each a list of channels, each a list of rows",
}


def depth(value):
    """How deeply lists nest at the start of ``value`` (a number is 0)."""
    return 1 + depth(value[0]) if isinstance(value, list) and value else 0


def number_array(value, where, ndims, square=False):
    """A nested list of numbers as a float array with one of ``ndims`` dimensions, rectangular.

    ``square``: the last two sides must be equal (an image, a kernel).
    """
    ndims = (ndims,) if isinstance(ndims, int) else ndims
    ndim = depth(value) if depth(value) in ndims else ndims[0]
    expected = " or ".join(EXPECTED[n] for n in ndims)

    def walk(item, level):
        if level == ndim:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise InputError(f"{where} must be {expected}, got an entry {item!r:.40}")
            return
        if not isinstance(item, list) or not item:
            raise InputError(f"{where} must be {expected}, got {value!r:.60}")
        lengths = {len(sub) for sub in item if isinstance(sub, list)}
        if level < ndim - 1 and len(lengths) > 1:
            raise InputError(f"{where} is ragged: lists of lengths {sorted(lengths)} side by side")
        for sub in item:
            walk(sub, level + 1)

    walk(value, 0)
    array = np.array(value, dtype=float)
    if square and ndim >= 2 and array.shape[-1] != array.shape[-2]:
        raise InputError(f"{where} must be square, got {array.shape[-2]}x{array.shape[-1]}")
    return finite_array(array, where)
