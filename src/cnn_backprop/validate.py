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


def label(value, where):
    """A class label: 0 (cross) or 1 (rectangle)."""
    if isinstance(value, bool) or value not in (0, 1) or isinstance(value, str):
        raise InputError(f"{where} must be 0 (cross) or 1 (rectangle), got {value!r}")
    return int(value)


def finite_array(array, where):
    """Refuse NaN and infinity, naming the first bad entry."""
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{where} must hold finite numbers, got {array[index]} at index {list(index)}")
    return array


def number_array(value, where, ndim, square=False):
    """A nested list of numbers as a float array of ``ndim`` dimensions, rectangular."""
    expected = {1: "a list of numbers", 2: "a list of rows (a list of lists of numbers)"}[ndim]

    def walk(item, depth):
        if depth == ndim:
            number_or_fail(item)
            return
        if not isinstance(item, list) or not item:
            raise InputError(f"{where} must be {expected}, got {value!r:.60}")
        for sub in item:
            walk(sub, depth + 1)

    def number_or_fail(item):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise InputError(f"{where} must be {expected}, got an entry {item!r}")

    walk(value, 0)
    if ndim == 2:
        lengths = {len(row) for row in value}
        if len(lengths) > 1:
            raise InputError(f"{where} is ragged: its rows have lengths {sorted(lengths)}")
        if square and len(value) != len(value[0]):
            raise InputError(f"{where} must be square, got {len(value)}x{len(value[0])}")
    return finite_array(np.array(value, dtype=float), where)


MAX_SIDE = 1024  # the padded image; far beyond any exercise, and keeps one image's arrays in memory


def architecture(arch, where="the architecture"):
    """Check that the sizes of ``arch`` (a network.Architecture) fit together, and fit in memory."""
    if arch.image_size < 1 or arch.channels < 1 or arch.filters < 1:
        raise InputError(f"{where}: image size, channels and filters must be >= 1")
    if arch.kernel_size < 1 or arch.conv_stride < 1 or arch.pool_size < 1 or arch.pool_stride < 1:
        raise InputError(f"{where}: kernel size, conv stride, pool size and pool stride must be >= 1")
    if arch.conv_padding < 0:
        raise InputError(f"{where}: conv padding must be >= 0, got {arch.conv_padding}")
    padded = arch.image_size + 2 * arch.conv_padding
    if padded > MAX_SIDE or arch.channels > MAX_SIDE or arch.filters > MAX_SIDE:
        raise InputError(
            f"{where}: a {arch.image_size}x{arch.image_size} image with padding {arch.conv_padding} is "
            f"{padded}x{padded}, with {arch.channels} channels and {arch.filters} filters; at most "
            f"{MAX_SIDE} is supported for each"
        )
    if arch.kernel_size > padded:
        raise InputError(
            f"{where}: a {arch.kernel_size}x{arch.kernel_size} kernel does not fit a "
            f"{arch.image_size}x{arch.image_size} image with padding {arch.conv_padding} ({padded}x{padded})"
        )
    if arch.pool_size > arch.conv_size:
        raise InputError(
            f"{where}: a {arch.pool_size}x{arch.pool_size} pool window does not fit the "
            f"{arch.conv_size}x{arch.conv_size} feature map"
        )
    return arch


def fc_weights_length(arch, got, where):
    """The FC layer takes one weight per pooled value; say why when the count is off."""
    if got != arch.fc_inputs:
        p = arch.pool_out_size
        raise InputError(
            f"{where}: pool size {arch.pool_size} at stride {arch.pool_stride} on a "
            f"{arch.conv_size}x{arch.conv_size} feature map gives {p}x{p}, so fc_weights needs "
            f"{arch.fc_inputs} value{'s' * (arch.fc_inputs != 1)}, got {got}"
        )
