"""What the vectorised layers share: one contract (``Module``), and the window helpers they compute with.

Each layer lives in its kind's module (``kinds/conv.py`` holds ``Conv2D``).
Every layer caches what its backward pass needs during ``forward``; ``backward``
takes dL/d(output) and returns dL/d(input), and stores dL/d(each parameter) in
``grads`` under the key the parameter has in ``params`` (``kernel``, ``bias``,
``weights``).  ``params`` holds the very arrays the layer computes with, so an
in-place update of them is seen by the next pass.  Shapes follow PyTorch:
images are ``(N, C, H, W)``, a conv kernel is ``(F, C, K, K)``, dense weights
``(out, in)``.  Inside, the conv and pooling layers compute channels-last (see
``channels_last``), and what they return is an (N, C, H, W) view of that memory.

The output layers fuse their activation with the loss, so that neither can
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


class Module:
    """What every layer is: ``forward(x)``, ``backward(grad)`` returning dL/d(its input), and its own dicts.

    ``params`` holds the arrays it computes with, by key (``kernel``, ``bias``);
    ``backward`` fills ``grads`` under the same keys.  ``buffers`` are arrays it
    keeps and updates itself, not by gradient (a batch norm's running mean).
    ``extras`` are values a forward pass finds besides its output (a max pool's
    argmax), by key, each with the batch axis first.  ``training`` is False in
    evaluation, where a layer that behaves differently (batch norm) uses what it kept.
    A layer that draws at random in training (a dropout's mask) draws from ``rng``
    unless ``draws`` holds what to use (a pass's given), and with ``keep_draws``
    keeps its first draws for every later forward (a pass's finite differences).
    """

    def __init__(self, **params):
        self.params = params
        self.grads = {name: np.zeros_like(value) for name, value in params.items()}
        self.buffers = {}
        self.training = True
        self.rng, self.draws, self.keep_draws = None, {}, True

    @property
    def extras(self):
        return {}

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError
