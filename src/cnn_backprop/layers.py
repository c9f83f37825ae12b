"""Vectorised layers, one contract: ``forward(x)``, ``backward(grad)``, ``params`` and ``grads``.

Every layer caches what its backward pass needs during ``forward``; ``backward``
takes dL/d(output) and returns dL/d(input), and stores dL/d(each parameter) in
``grads`` under the key the parameter has in ``params`` (``kernel``, ``bias``,
``weights``).  ``params`` holds the very arrays the layer computes with, so an
in-place update of them is seen by the next pass.  Shapes follow PyTorch:
images are ``(N, C, H, W)``, a conv kernel is ``(F, C, K, K)``, dense weights
``(out, in)``.

The two output layers fuse their activation with the loss, so that neither can
overflow: ``forward(z)`` gives the probabilities, ``loss(labels)`` the mean
loss over the batch, and ``backward(grad)`` dL/dz for dL/dloss = ``grad``.

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

    params:   kernel (F, C, K, K), bias (F,).
    forward:  x (N, C, H, W) -> conv_pre (N, F, H', W'),
              H' = (H - K + 2P) // S + 1, and the same for W'.
              conv_pre[n, f, i, j] = bias[f]
                  + sum_{c, m, n'} x_pad[n, c, S*i + m, S*j + n'] * kernel[f, c, m, n']
              computed as one matrix product: cols (N*H'*W', C*K*K) @ kernel (F, C*K*K).T,
              where row (n, i, j) of cols holds the window of output (i, j) of image n.
    backward: dL/dconv_pre (N, F, H', W') -> dL/dx (N, C, H, W);
              grads: kernel (F, C, K, K), bias (F,).
              With ``input_grad=False`` it skips dL/dx (the first layer of a
              network being trained needs none) and returns None.
    """

    def __init__(self, kernel, bias, stride=1, padding=0, input_grad=True):
        self.params = {"kernel": parameter(kernel), "bias": parameter(bias)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self.stride = stride
        self.padding = padding
        self.input_grad = input_grad
        self._geometry = {}

    def _index(self, padded_shape):
        """(H'*W', C*K*K) gather index for a padded (C, H, W) image; computed once per shape."""
        if padded_shape not in self._geometry:
            index = window_index(*padded_shape, self.params["kernel"].shape[-1], self.stride)
            _, out_h, out_w = index.shape[:3]
            self._geometry[padded_shape] = (index.transpose(1, 2, 0, 3, 4).reshape(out_h * out_w, -1), out_h, out_w)
        return self._geometry[padded_shape]

    def forward(self, x):
        kernel, p = self.params["kernel"], self.padding
        n, c, h, w = x.shape
        if p:
            x_pad = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=x.dtype)
            x_pad[:, :, p : p + h, p : p + w] = x
        else:
            x_pad = x
        index, out_h, out_w = self._index(x_pad.shape[1:])
        self._x_shape, self._x_pad_shape = x.shape, x_pad.shape
        self._cols = np.take(x_pad.reshape(n, -1), index, axis=1).reshape(n * out_h * out_w, -1)
        out = self._cols @ kernel.reshape(len(kernel), -1).T + self.params["bias"]
        return out.reshape(n, out_h, out_w, -1).transpose(0, 3, 1, 2)

    def backward(self, grad):
        kernel = self.params["kernel"]
        filters = len(kernel)
        grad_rows = grad.transpose(0, 2, 3, 1).reshape(-1, filters)  # (N*H'*W', F)
        self.grads = {"kernel": (grad_rows.T @ self._cols).reshape(kernel.shape), "bias": grad_rows.sum(axis=0)}
        if not self.input_grad:
            return None
        n, _, out_h, out_w = grad.shape
        size, s = kernel.shape[-1], self.stride
        # (N, C, K, K, H', W'): the gradient of every window entry, by kernel offset (m, n).
        grad_cols = (grad_rows @ kernel.reshape(filters, -1)).reshape(n, out_h, out_w, -1, size, size)
        grad_cols = grad_cols.transpose(0, 3, 4, 5, 1, 2)
        # Every window entry sends its gradient back to the pixel it came from: one strided add per
        # kernel offset, where overlapping windows add up (K*K passes, no index arrays).
        grad_pad = np.zeros(self._x_pad_shape, dtype=grad_cols.dtype)
        for m in range(size):
            for j in range(size):
                grad_pad[:, :, m : m + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s] += grad_cols[
                    :, :, m, j
                ]
        p = self.padding
        h, w = self._x_shape[2:]
        return grad_pad[:, :, p : p + h, p : p + w]


class ReLU:
    """max(0, x), elementwise.

    forward:  x (any shape) -> same shape.
    backward: dL/dout -> dL/dx = dL/dout * [x > 0]   (ReLU'(0) taken as 0).
    """

    params = grads = {}

    def forward(self, x):
        self.positive = x > 0
        return x * self.positive

    def backward(self, grad):
        return grad * self.positive


class _Pool2D:
    """What max and average pooling share: ``size x size`` windows at ``stride`` (they may overlap).

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), H' = (H - size) // stride + 1.
    """

    params = grads = {}

    def __init__(self, size=2, stride=None):
        self.size = size
        self.stride = size if stride is None else stride
        self._geometry = {}

    def _windows(self, x):
        """Every window's entries (N, size*size, C*H'*W'), keeping the index and shapes for backward.

        Windows that do not overlap (stride = size, the usual pooling) are a
        reshape of the input rather than a gather: no index, one copy.
        """
        n, c, h, w = x.shape
        shape = x.shape[1:]
        if shape not in self._geometry:
            index = window_index(*shape, self.size, self.stride)
            self._geometry[shape] = (index.transpose(3, 4, 0, 1, 2).reshape(self.size**2, -1), index.shape[1:3])
        self._index, (out_h, out_w) = self._geometry[shape]
        self._x_shape, self._out_shape = x.shape, (n, c, out_h, out_w)
        if self.stride != self.size:
            return np.take(x.reshape(n, -1), self._index, axis=1)
        k = self.size
        tiles = x[:, :, : out_h * k, : out_w * k].reshape(n, c, out_h, k, out_w, k)
        return tiles.transpose(0, 3, 5, 1, 2, 4).reshape(n, k * k, -1)

    def _unwindow(self, entries):
        """dL/dx (N, C, H, W) from the gradient of every window entry (N, size*size, C*H'*W'); overlaps add up."""
        if self.stride != self.size:
            return scatter_add(self._index[None], entries, self._x_shape)
        n, c, out_h, out_w = self._out_shape
        k = self.size
        grad = np.zeros(self._x_shape, dtype=entries.dtype)
        tiles = entries.reshape(n, k, k, c, out_h, out_w).transpose(0, 3, 4, 1, 5, 2)
        grad[:, :, : out_h * k, : out_w * k] = tiles.reshape(n, c, out_h * k, out_w * k)
        return grad


class MaxPool2D(_Pool2D):
    """Max pooling.

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), H' = (H - size) // stride + 1.
              ``argmax`` (N, C, H', W', 2) is then the [row, col] in x of each
              maximum (the first in row-major order where several tie).
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends its
              gradient to its argmax; a pixel that is the max of several windows
              receives the sum of their gradients.
    """

    def forward(self, x):
        entries = self._windows(x)
        best = entries[:, 0].copy()
        offset = np.zeros(best.shape, dtype=np.intp)
        for k in range(1, entries.shape[1]):
            np.copyto(offset, k, where=entries[:, k] > best)  # strictly: on a tie the earlier entry keeps it
            np.maximum(best, entries[:, k], out=best)
        self._offset = offset.reshape(self._out_shape)  # 0..size*size-1, row-major in the window
        return best.reshape(self._out_shape)

    @property
    def argmax(self):
        """[row, col] in the input of each window's maximum: (N, C, H', W', 2)."""
        out_h, out_w = self._offset.shape[2:]
        rows = self.stride * np.arange(out_h)[:, None] + self._offset // self.size
        cols = self.stride * np.arange(out_w)[None, :] + self._offset % self.size
        return np.stack([rows, cols], axis=-1)

    def backward(self, grad):
        n = len(grad)
        if self.stride != self.size:
            offset = self._offset.reshape(n, -1)
            # Each window sends its gradient to the position of its maximum within the image.
            maxima = self._index[offset, np.arange(offset.shape[1])]
            return scatter_add(maxima, grad, self._x_shape)
        # Windows that do not overlap: the gradient goes to each window's maximum entry, the rest are zero.
        entries = np.zeros((n, self.size**2, grad[0].size), dtype=grad.dtype)
        np.put_along_axis(entries, self._offset.reshape(n, 1, -1), grad.reshape(n, 1, -1), axis=1)
        return self._unwindow(entries)


class AvgPool2D(_Pool2D):
    """Average pooling.

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), the mean of each window,
              H' = (H - size) // stride + 1.
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends
              1/size^2 of its gradient to every entry; overlapping windows add up.
    """

    def forward(self, x):
        return self._windows(x).mean(axis=1).reshape(self._out_shape)

    def backward(self, grad):
        share = np.broadcast_to(grad.reshape(len(grad), 1, -1) / self.size**2, (len(grad), *self._index.shape))
        return self._unwindow(share)


class Flatten:
    """Feature maps to one vector per image.

    forward:  x (N, C, H, W) -> (N, C*H*W), row-major (channel, then row, then column).
    backward: dL/dout (N, C*H*W) -> dL/dx (N, C, H, W), the same numbers reshaped.
    """

    params = grads = {}

    def forward(self, x):
        self._x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        return grad.reshape(self._x_shape)


class Dense:
    """Fully connected layer on flattened features.

    params:   weights (O, D), bias (O,).
    forward:  x (N, D) -> fc_pre (N, O),  fc_pre = x @ weights.T + bias.
    backward: dL/dfc_pre (N, O) -> dL/dx (N, D); grads: weights (O, D), bias (O,).
    """

    def __init__(self, weights, bias):
        self.params = {"weights": parameter(weights), "bias": parameter(bias)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}

    def forward(self, x):
        self._x = x
        return x @ self.params["weights"].T + self.params["bias"]

    def backward(self, grad):
        self.grads = {"weights": grad.T @ self._x, "bias": grad.sum(axis=0)}
        return grad @ self.params["weights"]


def sigmoid(z):
    """Logistic sigmoid 1 / (1 + e^-z), finite and accurate for any z.

    exp is only ever taken of -|z|, so it cannot overflow.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class SigmoidBCE:
    """Sigmoid output with binary cross-entropy, fused so neither can overflow.

    forward:  z (N, 1) -> output (N, 1) = s(z) = P(class 1).
    loss:     labels y (N,) in {0, 1} -> the mean over the batch of
              -[y log s(z) + (1 - y) log(1 - s(z))] = max(z, 0) - y z + log(1 + e^-|z|).
    backward: dL/dloss (a scalar, 1 for the loss itself) -> dL/dz (N, 1) = (s(z) - y) / N.
    """

    params = grads = {}

    def forward(self, z):
        self._z = z
        self.output = sigmoid(z)
        return self.output

    def loss(self, labels):
        z = self._z
        self._y = np.asarray(labels, dtype=z.dtype).reshape(z.shape)
        return (np.maximum(z, 0) - self._y * z + np.log1p(np.exp(-np.abs(z)))).mean()

    def backward(self, grad=1.0):
        return grad * (self.output - self._y) / len(self._z)


class SoftmaxCrossEntropy:
    """Softmax output with cross-entropy, fused and stable for any logits.

    forward:  z (N, K) -> output (N, K), output[n, k] = e^z[n, k] / sum_j e^z[n, j],
              computed from z - max(z) so that no exponent is positive.
    loss:     labels y (N,) in 0..K-1 -> the mean over the batch of
              -log output[n, y_n] = logsumexp(z[n]) - z[n, y_n].
    backward: dL/dloss -> dL/dz (N, K) = (output - onehot(y)) / N.
    """

    params = grads = {}

    def forward(self, z):
        self._z = z
        self._shifted = z - z.max(axis=1, keepdims=True)
        e = np.exp(self._shifted)
        self._log_sum = np.log(e.sum(axis=1, keepdims=True))
        self.output = e / e.sum(axis=1, keepdims=True)
        return self.output

    def loss(self, labels):
        self._y = np.asarray(labels, dtype=np.intp)
        rows = np.arange(len(self._y))
        return (self._log_sum[:, 0] - self._shifted[rows, self._y]).mean()

    def backward(self, grad=1.0):
        target = np.zeros_like(self.output)
        target[np.arange(len(self._y)), self._y] = 1.0
        return grad * (self.output - target) / len(self._z)
