"""conv: its mistakes, each made by plain loops, for tests/test_mistakes.py (PyTorch, the loop reference, finite
differences, every command and the page: tests/test_every_kind.py, on its example network)."""

import numpy as np
from mistaken import conv_params, no_bias, padded, strided

# The mistakes, each by its own loops (tests/mistaken.py; tests/test_mistakes.py makes each at every layer).


def flipped_kernel_forward(pass_, named):
    kernel, bias, s, p = conv_params(pass_, named)
    x, out = padded(pass_.values[named.input], p), np.zeros(pass_.values[named.output].shape)
    k = kernel.shape[-1]
    for f, i, j in np.ndindex(out.shape):
        out[f, i, j] = bias[f] + sum(
            x[c, s * i + m, s * j + n] * kernel[f, c, k - 1 - m, k - 1 - n] for c, m, n in np.ndindex(kernel.shape[1:])
        )
    return "forward", named.output, out


def flipped_kernel_gradient(pass_, named):
    grad = pass_.grads[named.params["kernel"]]
    k, out = grad.shape[-1], np.zeros(grad.shape)
    for f, c, m, n in np.ndindex(grad.shape):
        out[f, c, m, n] = grad[f, c, k - 1 - m, k - 1 - n]
    return "backward", named.params["kernel"], out


def conv_input_gradient(kernel_at, window_at):
    """A wrong conv backward: window (i, j)'s entry (m, n) sends dL/dconv_pre[f, i, j] * ``kernel_at(kernel, f, c,
    m, n)`` to the padded input at ``window_at(stride, i, m)``, ``window_at(stride, j, n)``; with it dL/dkernel."""

    def mistake(pass_, named, kernel_too=False):
        kernel, _, s, p = conv_params(pass_, named)
        x, g = padded(pass_.values[named.input], p), pass_.grads[named.output]
        dx, dkernel = np.zeros(x.shape), np.zeros(kernel.shape)
        for f, i, j in np.ndindex(g.shape):
            for c, m, n in np.ndindex(kernel.shape[1:]):
                row, col = window_at(s, i, m), window_at(s, j, n)
                dx[c, row, col] += g[f, i, j] * kernel_at(kernel, f, c, m, n)
                dkernel[f, c, m, n] += g[f, i, j] * x[c, row, col]
        if kernel_too:
            return "backward", named.params["kernel"], dkernel
        return "backward", named.input, dx[:, p : x.shape[1] - p, p : x.shape[2] - p]

    return mistake


not_flipped = conv_input_gradient(lambda k, f, c, m, n: k[f, c, k.shape[-1] - 1 - m, k.shape[-1] - 1 - n],
                                  lambda s, i, m: s * i + m)  # fmt: skip
conv_stride_ignored = conv_input_gradient(lambda k, f, c, m, n: k[f, c, m, n], lambda s, i, m: i + m)


def wider(named):
    """A kernel wider than 1x1, which flipped is another (a residual block's 1x1 shortcut conv flipped is itself)."""
    return named.layer.size > 1


MISTAKES = {
    "flipped-kernel": (flipped_kernel_forward, wider),
    "flipped-kernel gradient": (flipped_kernel_gradient, wider),  # its second answer, the kernel's gradient
    "no-bias": no_bias,
    "conv-input-grad-not-flipped": (not_flipped, wider),
    "stride-ignored": (conv_stride_ignored, strided),
    "stride-ignored kernel": (lambda pass_, named: conv_stride_ignored(pass_, named, kernel_too=True), strided),
}
