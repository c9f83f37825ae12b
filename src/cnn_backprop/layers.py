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


def output_size(size, kernel, stride, padding=0):
    """Spatial output size of a sliding window: floor((W - K + 2P) / S) + 1."""
    return (size - kernel + 2 * padding) // stride + 1


def parameter(value):
    """A parameter array: float32 stays float32 (for speed), anything else becomes float64."""
    array = np.asarray(value)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def window_index(channels, height, width, size, stride):
    """Flat index into one (C, H, W) image of every window entry: (C, H', W', size, size).

    ``index[c, i, j, m, n]`` is where pixel (c, S*i + m, S*j + n) lies in the
    image flattened to C*H*W values, so one ``np.take`` gathers every window of a
    whole batch at once, with no Python loop over pixels or samples.
    """
    out_h, out_w = output_size(height, size, stride), output_size(width, size, stride)
    c, i, j, m, n = np.ix_(range(channels), range(out_h), range(out_w), range(size), range(size))
    return c * height * width + (stride * i + m) * width + (stride * j + n)


def scatter_add(index, values, shape):
    """Add ``values`` into a zero array of ``shape`` (N, C, H, W) at flat positions ``index``.

    ``index`` counts positions within one image (C*H*W of them); its leading axis
    is the image, or 1 when all images share it.  Values landing on the same
    position add up, as the chain rule asks where windows overlap or share a
    maximum: one bincount over the whole batch, no loop over pixels or samples.
    """
    n, pixels = shape[0], int(np.prod(shape[1:]))
    index = index + pixels * np.arange(n).reshape((n,) + (1,) * (np.ndim(index) - 1))
    summed = np.bincount(index.ravel(), weights=values.ravel(), minlength=n * pixels)
    return summed.astype(values.dtype, copy=False).reshape(shape)  # bincount always sums in float64


class Conv2D:
    """2-D cross-correlation (what deep learning calls convolution), with bias.

    forward:  x (N, C, H, W) -> conv_pre (N, F, H', W'),
              H' = (H - K + 2P) // S + 1, and the same for W'.
              conv_pre[n, f, i, j] = bias[f]
                  + sum_{c, m, n'} x_pad[n, c, S*i + m, S*j + n'] * kernel[f, c, m, n']
              computed as one matrix product: cols (N*H'*W', C*K*K) @ kernel (F, C*K*K).T,
              where row (n, i, j) of cols holds the window of output (i, j) of image n.
    backward: dL/dconv_pre (N, F, H', W') -> dL/dx (N, C, H, W);
              sets dL_dkernel (F, C, K, K) and dL_dbias (F,).
              With ``input_grad=False`` it skips dL/dx (the first layer of a
              network being trained needs none) and returns None.
    """

    def __init__(self, kernel, bias, stride=1, padding=0):
        self.kernel = parameter(kernel)
        self.bias = parameter(bias)
        self.stride = stride
        self.padding = padding
        self.dL_dkernel = np.zeros_like(self.kernel)
        self.dL_dbias = np.zeros_like(self.bias)
        self._geometry = {}

    def _index(self, padded_shape):
        """(H'*W', C*K*K) gather index for a padded (C, H, W) image; computed once per shape."""
        if padded_shape not in self._geometry:
            index = window_index(*padded_shape, self.kernel.shape[-1], self.stride)
            _, out_h, out_w = index.shape[:3]
            self._geometry[padded_shape] = (index.transpose(1, 2, 0, 3, 4).reshape(out_h * out_w, -1), out_h, out_w)
        return self._geometry[padded_shape]

    def forward(self, x):
        p = self.padding
        n, c, h, w = x.shape
        if p:
            x_pad = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
            x_pad[:, :, p : p + h, p : p + w] = x
        else:
            x_pad = x
        index, out_h, out_w = self._index(x_pad.shape[1:])
        self._x_shape, self._x_pad_shape, self._flat_index = x.shape, x_pad.shape, index
        self._cols = np.take(x_pad.reshape(n, -1), index, axis=1).reshape(n * out_h * out_w, -1)
        out = self._cols @ self.kernel.reshape(len(self.kernel), -1).T + self.bias
        return out.reshape(n, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, grad_out, input_grad=True):
        filters = len(self.kernel)
        grad_rows = grad_out.transpose(0, 2, 3, 1).reshape(-1, filters)  # (N*H'*W', F)
        self.dL_dkernel = (grad_rows.T @ self._cols).reshape(self.kernel.shape)
        self.dL_dbias = grad_rows.sum(axis=0)
        if not input_grad:
            return None
        grad_cols = grad_rows @ self.kernel.reshape(filters, -1)  # (N*H'*W', C*K*K)
        # Every window entry sends its gradient back to the pixel it came from.
        grad_pad = scatter_add(self._flat_index[None], grad_cols, self._x_pad_shape)
        p = self.padding
        h, w = self._x_shape[2:]
        return grad_pad[:, :, p : p + h, p : p + w]


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
        self._geometry = {}

    def _index(self, shape):
        """(size*size, C*H'*W') gather index for one (C, H, W) input; computed once per shape."""
        if shape not in self._geometry:
            index = window_index(*shape, self.size, self.stride)
            self._geometry[shape] = (index.transpose(3, 4, 0, 1, 2).reshape(self.size**2, -1), index.shape[1:3])
        return self._geometry[shape]

    def forward(self, x):
        n, c, h, w = x.shape
        index, (out_h, out_w) = self._index(x.shape[1:])
        entries = np.take(x.reshape(n, -1), index, axis=1)  # (N, size*size, C*H'*W')
        best = entries[:, 0].copy()
        offset = np.zeros(best.shape, dtype=np.intp)
        for k in range(1, len(index)):
            np.copyto(offset, k, where=entries[:, k] > best)  # strictly: on a tie the earlier entry keeps it
            np.maximum(best, entries[:, k], out=best)
        self._x_shape, self._index_used = x.shape, index
        self._offset = offset.reshape(n, c, out_h, out_w)  # 0..size*size-1, row-major in the window
        return best.reshape(n, c, out_h, out_w)

    @property
    def argmax(self):
        """[row, col] in the input of each window's maximum: (N, C, H', W', 2)."""
        out_h, out_w = self._offset.shape[2:]
        rows = self.stride * np.arange(out_h)[:, None] + self._offset // self.size
        cols = self.stride * np.arange(out_w)[None, :] + self._offset % self.size
        return np.stack([rows, cols], axis=-1)

    def backward(self, grad_out):
        offset = self._offset.reshape(len(self._offset), -1)
        # Each window sends its gradient to the position of its maximum within the image.
        maxima = self._index_used[offset, np.arange(offset.shape[1])]
        return scatter_add(maxima, grad_out, self._x_shape)


class Dense:
    """Fully connected layer on flattened features.

    forward:  x (N, D) -> fc_pre (N, O),  fc_pre = x @ weights.T + bias.
    backward: dL/dfc_pre (N, O) -> dL/dx (N, D); sets dL_dweights (O, D), dL_dbias (O,).
    """

    def __init__(self, weights, bias):
        self.weights = parameter(weights)
        self.bias = parameter(bias)
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
        self._y = np.asarray(y, dtype=z.dtype).reshape(z.shape)
        self.output = sigmoid(z)
        per_sample = np.maximum(z, 0) - self._y * z + np.log1p(np.exp(-np.abs(z)))
        return per_sample.mean()

    def backward(self):
        return (self.output - self._y) / self._z.shape[0]
