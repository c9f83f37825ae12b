"""Vectorised layers: each a small class with ``forward(x)`` and ``backward(grad_out)``.

Every layer caches what its backward pass needs during ``forward``; ``backward``
takes dL/d(output) and returns dL/d(input), storing parameter gradients as
``dL_d<name>`` arrays beside the parameters.  Shapes follow PyTorch: images are
``(N, C, H, W)``, a conv kernel is ``(F, C, K, K)``, dense weights ``(out, in)``.

Conventions (the same in ``reference.py``, and the same as PyTorch's):
ReLU'(0) = 0, and a max-pooling window whose maximum is tied routes the
gradient to the first maximum in row-major order.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def output_size(size, kernel, stride, padding=0):
    """Spatial output size of a sliding window: floor((W - K + 2P) / S) + 1."""
    return (size - kernel + 2 * padding) // stride + 1


def windows(x, size, stride):
    """All ``size x size`` windows of ``x`` at ``stride``: (N, C, H, W) -> (N, C, H', W', size, size).

    A read-only view: no data is copied.
    """
    return sliding_window_view(x, (size, size), axis=(2, 3))[:, :, ::stride, ::stride]


def scatter_windows(grad_windows, input_shape, stride):
    """Adjoint of ``windows``: add (N, C, H', W', K, K) back into a zero (N, C, H, W) array.

    Overlapping windows add up, which is what the chain rule asks for.  The loop
    runs over the K*K offsets in a window, never over pixels or samples.
    """
    size = grad_windows.shape[-1]
    out_h, out_w = grad_windows.shape[2:4]
    grad = np.zeros(input_shape, dtype=grad_windows.dtype)
    for m in range(size):
        for n in range(size):
            grad[:, :, m:m + stride * out_h:stride, n:n + stride * out_w:stride] += grad_windows[..., m, n]
    return grad


class Conv2D:
    """2-D cross-correlation (what deep learning calls convolution), with bias.

    forward:  x (N, C, H, W) -> conv_pre (N, F, H', W'),
              H' = (H - K + 2P) // S + 1, and the same for W'.
              conv_pre[n, f, i, j] = bias[f]
                  + sum_{c, m, n'} x_pad[n, c, S*i + m, S*j + n'] * kernel[f, c, m, n']
    backward: dL/dconv_pre (N, F, H', W') -> dL/dx (N, C, H, W);
              sets dL_dkernel (F, C, K, K) and dL_dbias (F,).
    """

    def __init__(self, kernel, bias, stride=1, padding=0):
        self.kernel = np.asarray(kernel, dtype=float)
        self.bias = np.asarray(bias, dtype=float)
        self.stride = stride
        self.padding = padding
        self.dL_dkernel = np.zeros_like(self.kernel)
        self.dL_dbias = np.zeros_like(self.bias)

    def forward(self, x):
        p = self.padding
        x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        self._x_shape = x.shape
        self._x_pad_shape = x_pad.shape
        self._cols = windows(x_pad, self.kernel.shape[-1], self.stride)
        out = np.einsum("ncijmk,fcmk->nfij", self._cols, self.kernel, optimize=True)
        return out + self.bias[None, :, None, None]

    def backward(self, grad_out):
        self.dL_dkernel = np.einsum("nfij,ncijmk->fcmk", grad_out, self._cols, optimize=True)
        self.dL_dbias = grad_out.sum(axis=(0, 2, 3))
        grad_cols = np.einsum("nfij,fcmk->ncijmk", grad_out, self.kernel, optimize=True)
        grad_pad = scatter_windows(grad_cols, self._x_pad_shape, self.stride)
        p = self.padding
        h, w = self._x_shape[2:]
        return grad_pad[:, :, p:p + h, p:p + w]


class ReLU:
    """max(0, x), elementwise.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * [x > 0]   (ReLU'(0) taken as 0).
    """

    def forward(self, x):
        self._positive = x > 0
        return np.where(self._positive, x, 0.0)

    def backward(self, grad_out):
        return np.where(self._positive, grad_out, 0.0)


class MaxPool2D:
    """Max pooling over ``size x size`` windows at ``stride`` (windows may overlap).

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), H' = (H - size) // stride + 1.
              Sets ``argmax`` (N, C, H', W', 2): the [row, col] in x of each maximum
              (the first in row-major order where several tie).
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends its
              gradient to its argmax; a pixel that is the max of several windows
              receives the sum of their gradients.
    """

    def __init__(self, size=2, stride=1):
        self.size = size
        self.stride = stride

    def forward(self, x):
        win = windows(x, self.size, self.stride)
        flat = win.reshape(win.shape[:4] + (self.size * self.size,))
        offset = flat.argmax(axis=-1)
        out_h, out_w = win.shape[2:4]
        rows = self.stride * np.arange(out_h)[:, None] + offset // self.size
        cols = self.stride * np.arange(out_w)[None, :] + offset % self.size
        self._x_shape = x.shape
        self.argmax = np.stack([rows, cols], axis=-1)
        self._flat_argmax = (rows * x.shape[3] + cols).reshape(x.shape[0] * x.shape[1], -1)
        return np.take_along_axis(flat, offset[..., None], axis=-1)[..., 0]

    def backward(self, grad_out):
        n, c, h, w = self._x_shape
        maps = n * c
        # One flat index per window across the whole batch, so a single bincount
        # sums the gradients of windows that share a maximum.
        index = self._flat_argmax + (h * w) * np.arange(maps)[:, None]
        grad = np.bincount(index.ravel(), weights=grad_out.ravel(), minlength=maps * h * w)
        return grad.reshape(self._x_shape)


class Dense:
    """Fully connected layer on flattened features.

    forward:  x (N, D) -> fc_pre (N, O),  fc_pre = x @ weights.T + bias.
    backward: dL/dfc_pre (N, O) -> dL/dx (N, D); sets dL_dweights (O, D), dL_dbias (O,).
    """

    def __init__(self, weights, bias):
        self.weights = np.asarray(weights, dtype=float)
        self.bias = np.asarray(bias, dtype=float)
        self.dL_dweights = np.zeros_like(self.weights)
        self.dL_dbias = np.zeros_like(self.bias)

    def forward(self, x):
        self._x = x
        return x @ self.weights.T + self.bias

    def backward(self, grad_out):
        self.dL_dweights = grad_out.T @ self._x
        self.dL_dbias = grad_out.sum(axis=0)
        return grad_out @ self.weights


def sigmoid(z):
    """Logistic sigmoid 1 / (1 + e^-z), finite and accurate for any z.

    exp is only ever taken of -|z|, so it cannot overflow.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class SigmoidBCE:
    """Sigmoid output with binary cross-entropy, fused so neither can overflow.

    forward:  z (N, 1), y (N,) in {0, 1} -> loss, a scalar: the mean over the batch of
              -[y log s(z) + (1 - y) log(1 - s(z))] = max(z, 0) - y z + log(1 + e^-|z|).
    backward: -> dL/dz (N, 1) = (s(z) - y) / N.
    """

    def forward(self, z, y):
        self._z = z
        self._y = np.asarray(y, dtype=float).reshape(z.shape)
        self.output = sigmoid(z)
        per_sample = np.maximum(z, 0) - self._y * z + np.log1p(np.exp(-np.abs(z)))
        return per_sample.mean()

    def backward(self):
        return (self.output - self._y) / self._z.shape[0]
