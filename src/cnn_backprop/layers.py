"""Vectorised layers, one contract: ``forward(x)``, ``backward(grad)``, ``params`` and ``grads``.

Every layer caches what its backward pass needs during ``forward``; ``backward``
takes dL/d(output) and returns dL/d(input), and stores dL/d(each parameter) in
``grads`` under the key the parameter has in ``params`` (``kernel``, ``bias``,
``weights``).  ``params`` holds the very arrays the layer computes with, so an
in-place update of them is seen by the next pass.  Shapes follow PyTorch:
images are ``(N, C, H, W)``, a conv kernel is ``(F, C, K, K)``, dense weights
``(out, in)``.  Inside, the conv and pooling layers compute channels-last (see
``channels_last``), and what they return is an (N, C, H, W) view of that memory.

The two output layers fuse their activation with the loss, so that neither can
overflow: ``forward(z)`` gives the probabilities, ``loss(labels)`` the mean
loss over the batch, and ``backward(grad)`` dL/dz for dL/dloss = ``grad``.

Conventions (the same in ``reference.py``, and the same as PyTorch's):
ReLU'(0) = 0, and a max-pooling window whose maximum is tied routes the
gradient to the first maximum in row-major order.
"""

import functools

import numpy as np


def output_size(size, kernel, stride, padding=0):
    """Spatial output size of a sliding window: floor((W - K + 2P) / S) + 1."""
    return (size - kernel + 2 * padding) // stride + 1


def parameter(value):
    """A parameter array: float32 stays float32 (for speed), anything else becomes float64."""
    array = np.asarray(value)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def channels_last(x):
    """(N, C, H, W) -> (N, H, W, C), a view.

    The layers compute channels-last, where the C values of one pixel lie side by
    side, so a window's entries are K*K contiguous runs and the matrix products
    need no transpose.  Their outputs are (N, C, H, W) views of channels-last
    memory, so this view of a layer's output is contiguous and costs nothing.
    """
    return x.transpose(0, 2, 3, 1)


def channels_first(x):
    """(N, H, W, C) -> (N, C, H, W), a view: the shape every layer takes and returns."""
    return x.transpose(0, 3, 1, 2)


def window_views(x, size, stride, out_size):
    """Entry (m, n) of every ``size x size`` window of x (N, H, W, C), one view per (m, n) in row-major order.

    ``views[m * size + n][:, i, j]`` is ``x[:, S*i + m, S*j + n]``: each view is
    (N, H', W', C), a strided slice of x, so K*K slices reach every entry of every
    window of a whole batch, with no index array and no loop over pixels or samples.
    Writing into a view writes into x.
    """
    out_h, out_w = out_size
    last_h, last_w = stride * (out_h - 1) + 1, stride * (out_w - 1) + 1
    return [x[:, m : m + last_h : stride, n : n + last_w : stride] for m in range(size) for n in range(size)]


def window_rows(x, size, stride, out_size):
    """Every ``size x size`` window of x (N, H, W, C), channels-last and contiguous, as a view (N, H', W', K, K*C).

    ``rows[:, i, j, m]`` is row m of window (i, j): the K pixels
    ``x[:, S*i + m, S*j : S*j + K]`` with their C channels, which lie side by side
    in memory.  So one copy of this view moves runs of K*C numbers, where the K*K
    ``window_views`` move runs of C.  Windows overlap unless S >= K, so this view
    is for reading.
    """
    n, h, w, c = x.shape
    # The strides of a contiguous (N, H, W, C) array, from its shape: x.strides may give an axis of length 1 any.
    sc = x.itemsize
    sw, sh = c * sc, w * c * sc
    strides = (h * sh, stride * sh, stride * sw, sh, sc)
    return np.lib.stride_tricks.as_strided(x, (n, *out_size, size, size * c), strides)


def copy_runs(destination, source):
    """destination[...] = source, each run of numbers along the last axis moved as one item where it can be.

    Where both last axes are contiguous, of one dtype and longer than 1, they are
    viewed as opaque items of that many bytes: NumPy then moves a pixel's channels,
    or a window row, whole rather than number by number, up to twice as fast
    when the runs are short (8 channels).
    """
    if (
        destination.dtype == source.dtype
        and source.shape[-1] > 1
        and (destination.strides[-1] == source.strides[-1] == source.itemsize)
    ):
        item = np.dtype((np.void, source.shape[-1] * source.itemsize))
        destination, source = destination.view(item)[..., 0], source.view(item)[..., 0]
    destination[...] = source


@functools.cache
def window_placement(in_size, size, stride, dtype=np.float64):
    """Where each window entry lies: (K*K, H*W, H', W') of 0 and 1, 1 where entry (m, n) of window (i, j) is pixel p.

    The windows (``window_views``) of H*W one-hot images, one per pixel p; made once per size and dtype.
    """
    h, w = in_size
    out_size = output_size(h, size, stride), output_size(w, size, stride)
    one_hot = np.eye(h * w, dtype=dtype).reshape(h * w, h, w, 1)
    placement = np.stack(window_views(one_hot, size, stride, out_size))[..., 0]
    placement.flags.writeable = False
    return placement


# Numbers per image (C*H*W) up to which a map is small: its rows are so short that NumPy's cost per row of a
# copy or an add is most of the work, and products with ``window_placement`` do it instead.
SMALL_MAP = 64


def padded(x, padding):
    """x (N, H, W, C), contiguous, with ``padding`` zeros on each side of H and W: (N, H + 2P, W + 2P, C)."""
    n, h, w, c = x.shape
    out = np.zeros((n, h + 2 * padding, w + 2 * padding, c), dtype=x.dtype)
    out[:, padding : padding + h, padding : padding + w] = x
    return out


class Conv2D:
    """2-D cross-correlation (what deep learning calls convolution), with bias.

    params:   kernel (F, C, K, K), bias (F,).
    forward:  x (N, C, H, W) -> conv_pre (N, F, H', W'),
              H' = (H - K + 2P) // S + 1, and the same for W'.
              conv_pre[n, f, i, j] = bias[f]
                  + sum_{c, m, n'} x_pad[n, c, S*i + m, S*j + n'] * kernel[f, c, m, n']
              computed as one matrix product: cols (N*H'*W', K*K*C + 1) @ [kernel | bias] (F, K*K*C + 1).T,
              where row (n, i, j) of cols holds the window of output (i, j) of image n, channels last,
              and then a 1: the bias is the weight of a constant input.
    backward: dL/dconv_pre (N, F, H', W') -> dL/dx (N, C, H, W);
              grads: kernel (F, C, K, K), bias (F,), from one product dL/dconv_pre rows.T @ cols.
              With ``input_grad=False`` it skips dL/dx (the first layer of a
              network being trained needs none) and returns None.
    """

    def __init__(self, kernel, bias, stride=1, padding=0, input_grad=True):
        self.params = {"kernel": parameter(kernel), "bias": parameter(bias)}
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self.stride = stride
        self.padding = padding
        self.input_grad = input_grad

    def _kernel_rows(self):
        """The kernel as (F, K*K*C), its entries in the order of a row of cols: (m, n', c)."""
        kernel = self.params["kernel"]
        return kernel.transpose(0, 2, 3, 1).reshape(len(kernel), -1)

    def forward(self, x):
        filters, _, size, _ = self.params["kernel"].shape
        n, c, h, w = x.shape
        p = self.padding
        out_size = output_size(h, size, self.stride, p), output_size(w, size, self.stride, p)
        self._x_shape, self._out_size = x.shape, out_size
        x_pad = padded(channels_last(x), p) if p else np.ascontiguousarray(channels_last(x))
        rows, small = n * out_size[0] * out_size[1], x_pad[0].size <= SMALL_MAP
        if c > 1 or (size >= out_size[1] and not small):
            cols = np.empty((rows, size * size * c + 1), dtype=x.dtype)
            windows = cols[:, :-1].reshape(n, *out_size, size, size * c)
            copy_runs(windows, window_rows(x_pad, size, self.stride, out_size))
        else:
            # One channel: cols column-major, so that each window entry's column is contiguous (row-major, its
            # values would lie K*K apart).  On a map of a few numbers, one product of the images with each
            # entry's placement fills them all; on a larger one, K*K copies of runs of W' numbers.
            cols = np.empty((size * size + 1, rows), dtype=x.dtype).T
            entries = cols.T[:-1].reshape(size * size, n, *out_size)
            if small:
                placement = window_placement(x_pad.shape[1:3], size, self.stride, x.dtype)
                images, placement = x_pad.reshape(n, -1), placement.reshape(size * size, x_pad[0].size, -1)
                np.matmul(images, placement, out=entries.reshape(size * size, n, -1))
            else:
                for entry, view in zip(entries, window_views(x_pad, size, self.stride, out_size)):
                    entry[...] = view[..., 0]
        cols[:, -1] = 1
        self._cols = cols
        weights = np.concatenate([self._kernel_rows(), self.params["bias"][:, None]], axis=1)
        return channels_first((cols @ weights.T).reshape(n, *out_size, filters))

    def backward(self, grad):
        kernel = self.params["kernel"]
        filters, c, size, _ = kernel.shape
        grad_rows = channels_last(grad).reshape(-1, filters)  # (N*H'*W', F)
        both = grad_rows.T @ self._cols
        self.grads = {"kernel": both[:, :-1].reshape(filters, size, size, c).transpose(0, 3, 1, 2), "bias": both[:, -1]}
        if not self.input_grad:
            return None
        n, _, h, w = self._x_shape
        p = self.padding
        # The gradient of window entry (m, n') of every window, one product per entry: (K*K, N*H'*W', C).
        # Each goes back to the pixels it came from, a strided slice of the input, and where windows overlap
        # the gradients add up.  Slice by slice, the adds run along whole rows of W'*C numbers (stride 1).
        entry_grads = np.matmul(grad_rows, kernel.transpose(2, 3, 0, 1).reshape(size * size, filters, c))
        grad_pad = np.zeros((n, h + 2 * p, w + 2 * p, c), dtype=entry_grads.dtype)
        for view, entry_grad in zip(window_views(grad_pad, size, self.stride, self._out_size), entry_grads):
            view += entry_grad.reshape(view.shape)
        return channels_first(grad_pad[:, p : p + h, p : p + w])


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

    def _windows(self, x):
        """Entry (m, n) of every window: (N, H', W', C) for each (m, n) in row-major order (``window_views``)."""
        self._x_shape = x.shape
        self._out_size = tuple(output_size(side, self.size, self.stride) for side in x.shape[2:])
        return window_views(channels_last(x), self.size, self.stride, self._out_size)

    def _unwindow(self, entry_grads):
        """dL/dx (N, C, H, W) from the gradient of every window entry, (size*size, N, H', W', C); overlaps add up.

        A pixel in no window gets 0.
        """
        n, c, h, w = self._x_shape
        if self.stride < self.size and c * h * w <= SMALL_MAP:
            # Overlapping windows on a map of a few numbers: the adds below would run along rows of W'*C
            # numbers, so short that NumPy's cost per row is most of it.  One product with the 0/1 placement
            # of every window entry (the windows of one-hot images) does them all.
            placement = window_placement((h, w), self.size, self.stride, entry_grads.dtype)
            grad = np.tensordot(entry_grads, placement, axes=([0, 2, 3], [0, 2, 3]))  # (N, C, H*W)
            return channels_first(np.ascontiguousarray(grad.transpose(0, 2, 1)).reshape(n, h, w, c))
        grad = np.zeros((n, h, w, c), dtype=entry_grads.dtype)
        for view, entry_grad in zip(window_views(grad, self.size, self.stride, self._out_size), entry_grads):
            if self.stride >= self.size:  # windows that do not overlap: each pixel gets at most one entry
                copy_runs(view, entry_grad)
            else:
                view += entry_grad
        return channels_first(grad)


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
        # One contiguous copy of the window entries, (size*size, N, H', W', C), so every pass below runs over
        # contiguous memory.
        views = self._windows(x)
        entries = np.empty((len(views), *views[0].shape), dtype=x.dtype)
        for entry, view in zip(entries, views):
            copy_runs(entry, view)
        best = entries.max(axis=0)
        # Each window's gradient goes to its first maximum in row-major order: mark every maximum, then unmark
        # those after the first, in boolean passes (np.where and masked copies branch, and are much slower).
        first = entries == best
        taken = first[0].copy()
        for k in range(1, len(first)):
            first[k] &= ~taken
            taken |= first[k]
        self._first = first
        return channels_first(best)

    @property
    def argmax(self):
        """[row, col] in the input of each window's maximum: (N, C, H', W', 2)."""
        offset = channels_first(self._first.argmax(axis=0))  # m * size + n of the (first) maximum
        out_h, out_w = self._out_size
        rows = self.stride * np.arange(out_h)[:, None] + offset // self.size
        cols = self.stride * np.arange(out_w)[None, :] + offset % self.size
        return np.stack([rows, cols], axis=-1)

    def backward(self, grad):
        return self._unwindow(self._first * channels_last(grad))


class AvgPool2D(_Pool2D):
    """Average pooling.

    forward:  x (N, C, H, W) -> pool (N, C, H', W'), the mean of each window,
              H' = (H - size) // stride + 1.
    backward: dL/dpool (N, C, H', W') -> dL/dx (N, C, H, W).  Each window sends
              1/size^2 of its gradient to every entry; overlapping windows add up.
    """

    def forward(self, x):
        entries = self._windows(x)
        total = entries[0].copy()
        for entry in entries[1:]:
            total += entry
        return channels_first(total / len(entries))

    def backward(self, grad):
        share = channels_last(grad) / self.size**2
        return self._unwindow(np.broadcast_to(share, (self.size**2, *share.shape)))


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
