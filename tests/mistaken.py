"""A student's mistakes, made by plain loops (the mistake's own rule, not the checker's): the pieces several kinds'
mistakes share.  Each kind's test (tests/kinds/test_NAME.py) holds its own mistakes as ``MISTAKES``, {label: how a
student makes it at a layer ``named`` of a pass, or (how, whether the layer can host it)}, ``how(pass_, named)``
giving (part, name, the full-shape value they write); tests/test_mistakes.py makes each at every layer of its kind."""

import math

import numpy as np


def padded(x, p):
    out = np.zeros((x.shape[0], x.shape[1] + 2 * p, x.shape[2] + 2 * p))
    for c, i, j in np.ndindex(x.shape):
        out[c, i + p, j + p] = x[c, i, j]
    return out


def conv_params(pass_, named):
    layer = named.layer
    return pass_.params[named.params["kernel"]], pass_.params[named.params["bias"]], layer.stride, layer.padding


def no_bias(pass_, named):
    bias, out = pass_.params[named.params["bias"]], pass_.values[named.output].copy()
    for index in np.ndindex(out.shape):
        out[index] -= bias[index[0]] if out.ndim == 3 else bias[index]
    return "forward", named.output, out


def input_of(pass_, named):
    """The quantity a layer's dL/d(input) is asked as: through a flatten, the map before it."""
    source = next((n for n in pass_.arch.named if n.output == named.input), None)
    return source.input if source is not None and source.kind_of.reshapes else named.input


def first_maximum(x, c, top, left, size):
    best, where = -math.inf, None
    for m, n in np.ndindex(size, size):
        if x[c, top + m, left + n] > best:
            best, where = x[c, top + m, left + n], (c, top + m, left + n)
    return where


def pool_backward(rule, stride_of=lambda layer: layer.stride):
    """A wrong pooling backward: ``rule(out, x, c, top, left, size, g)`` sends window (c, top, left)'s gradient."""

    def mistake(pass_, named):
        x, g = pass_.values[named.input], pass_.grads[named.output]
        out, size, stride = np.zeros(x.shape), named.layer.size, stride_of(named.layer)
        for c, i, j in np.ndindex(g.shape):
            rule(out, x, c, stride * i, stride * j, size, g[c, i, j])
        return "backward", named.input, out

    return mistake


def to_maximum(out, x, c, top, left, size, g):
    out[first_maximum(x, c, top, left, size)] += g


def to_all(share):
    def rule(out, x, c, top, left, size, g):
        for m, n in np.ndindex(size, size):
            out[c, top + m, left + n] += g * share(size)

    return rule


def strided(named):
    return named.layer.stride > 1
