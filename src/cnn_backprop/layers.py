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
from numpy.lib.stride_tricks import as_strided


def output_size(size, kernel, stride, padding=0):
    """Spatial output size of a sliding window: floor((W - K + 2P) / S) + 1."""
    return (size - kernel + 2 * padding) // stride + 1


def windows(x, size, stride):
    """All ``size x size`` windows of ``x`` at ``stride``: (N, C, H, W) -> (N, H', W', C, size, size).

    A read-only view (no data is copied), ordered so that reshaping it to
    (N * H' * W', C * size * size) gives the im2col matrix: one row per output
    position, one column per kernel entry.
    """
    n, c, h, w = x.shape
    out_h, out_w = output_size(h, size, stride), output_size(w, size, stride)
    sn, sc, sh, sw = x.strides
    return as_strided(x, (n, out_h, out_w, c, size, size), (sn, stride * sh, stride * sw, sc, sh, sw),
                      writeable=False)


def scatter_windows(grad_windows, input_shape, stride):
    """Adjoint of ``windows``: add (N, H', W', C, K, K) back into a zero (N, C, H, W) array.

    Overlapping windows add up, which is what the chain rule asks for.  The loop
    runs over the K*K offsets in a window, never over pixels or samples.
    """
    _, out_h, out_w, _, size, _ = grad_windows.shape
    grad = np.zeros(input_shape, dtype=grad_windows.dtype)
    per_offset = grad_windows.transpose(4, 5, 0, 3, 1, 2)  # (K, K, N, C, H', W')
    for m in range(size):
        for n in range(size):
            grad[:, :, m:m + stride * out_h:stride, n:n + stride * out_w:stride] += per_offset[m, n]
    return grad


class Conv2D:
    """2-D cross-correlation (what deep learning calls convolution), with bias.

    forward:  x (N, C, H, W) -> conv_pre (N, F, H', W'),
              H' = (H - K + 2P) // S + 1, and the same for W'.
              conv_pre[n, f, i, j] = bias[f]
                  + sum_{c, m, n'} x_pad[n, c, S*i + m, S*j + n'] * kernel[f, c, m, n']
              computed as one matrix product of the im2col matrix with the kernel.
    backward: dL/dconv_pre (N, F, H', W') -> dL/dx (N, C, H, W);
              sets dL_dkernel (F, C, K, K) and dL_dbias (F,).
              With ``input_grad=False`` it skips dL/dx (the first layer of a
              network being trained needs none) and returns None.
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
        if p:
            n, c, h, w = x.shape
            x_pad = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
            x_pad[:, :, p:p + h, p:p + w] = x
        else:
            x_pad = x
        self._x_shape = x.shape
        self._x_pad_shape = x_pad.shape
        win = windows(x_pad, self.kernel.shape[-1], self.stride)
        self._win_shape = win.shape
        self._cols = win.reshape(-1, self.kernel[0].size)  # a copy: (N*H'*W', C*K*K), contiguous
        out = self._cols @ self.kernel.reshape(len(self.kernel), -1).T + self.bias
        n, out_h, out_w = win.shape[:3]
        return out.reshape(n, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, grad_out, input_grad=True):
        filters = len(self.kernel)
        grad_rows = grad_out.transpose(0, 2, 3, 1).reshape(-1, filters)  # (N*H'*W', F)
        self.dL_dkernel = (grad_rows.T @ self._cols).reshape(self.kernel.shape)
        self.dL_dbias = grad_rows.sum(axis=0)
        if not input_grad:
            return None
        grad_cols = (grad_rows @ self.kernel.reshape(filters, -1)).reshape(self._win_shape)
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
        return x * self._positive

    def backward(self, grad_out):
        return grad_out * self._positive


class MaxPool2D:
    """Max pooling over ``size x size`` windows at ``stride`` (windows may overlap).

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), H' = (H - size) // stride + 1.
              ``argmax`` (N, C, H', W', 2) is then the [row, col] in x of each
              maximum (the first in row-major order where several tie).
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends its
              gradient to its argmax; a pixel that is the max of several windows
              receives the sum of their gradients.
    """

    def __init__(self, size=2, stride=1):
        self.size = size
        self.stride = stride

    def forward(self, x):
        n, c, h, w = x.shape
        win = windows(x, self.size, self.stride)  # (N, H', W', C, size, size)
        flat = win.reshape(win.shape[:4] + (-1,))
        self._offset = flat.argmax(axis=-1).transpose(0, 3, 1, 2)  # (N, C, H', W'), in 0..size*size-1
        self._x_shape = x.shape
        return flat.max(axis=-1).transpose(0, 3, 1, 2)

    @property
    def argmax(self):
        """[row, col] in the input of each window's maximum: (N, C, H', W', 2)."""
        out_h, out_w = self._offset.shape[2:]
        rows = self.stride * np.arange(out_h)[:, None] + self._offset // self.size
        cols = self.stride * np.arange(out_w)[None, :] + self._offset % self.size
        return np.stack([rows, cols], axis=-1)

    def backward(self, grad_out):
        n, c, h, w = self._x_shape
        out_h, out_w = self._offset.shape[2:]
        # Flat index of each window's maximum in the whole (N*C*H*W) input, so that one
        # bincount adds up the gradients of all windows that share a maximum.
        corner = (self.stride * w * np.arange(out_h)[:, None] + self.stride * np.arange(out_w)).ravel()
        inside = (np.arange(self.size)[:, None] * w + np.arange(self.size)).ravel()
        maps = (h * w) * np.arange(n * c)[:, None]
        index = maps + corner + inside[self._offset.reshape(n * c, -1)]
        grad = np.bincount(index.ravel(), weights=grad_out.ravel(), minlength=n * c * h * w)
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
