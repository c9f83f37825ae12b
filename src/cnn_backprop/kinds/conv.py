"""conv FxKxK [stride S] [pad P]: F filters of K x K over every channel, with a bias each.

Deep learning's convolution is cross-correlation: the kernel is not flipped.

    conv_pre[f, i, j] = bias[f] + sum_c sum_m sum_n X_pad[c, S*i + m, S*j + n] * kernel[f, c, m, n]
    H' = (H - K + 2P) // S + 1

Backward, by the chain rule (each kernel weight met each pixel of its windows once):

    dL/dkernel[f, c, m, n] = sum_i sum_j dL/dconv_pre[f, i, j] * X_pad[c, S*i + m, S*j + n]
    dL/dbias[f]            = sum_i sum_j dL/dconv_pre[f, i, j]
    dL/dX[c, S*i + m, S*j + n] += dL/dconv_pre[f, i, j] * kernel[f, c, m, n]
"""

import math
import re

import numpy as np

from ..layers import (
    SMALL_MAP,
    Module,
    channels_first,
    channels_last,
    copy_runs,
    output_size,
    padded,
    parameter,
    window_placement,
    window_rows,
    window_views,
)
from ..text import blocks, factor, formatter, scalar, shown, titled
from ..validate import InputError
from ._kind import (
    MAX_SIDE,
    STRIDE_IGNORED,
    Kind,
    Option,
    size_line,
    stride_one_backward,
    torch_fixed,
    torch_square,
    weights_and_bias,
)


class Conv2D(Module):
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
        super().__init__(kernel=parameter(kernel), bias=parameter(bias))
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
        if self.stride == 1 and p < size:
            # At stride 1, dL/dx[c, i, j] = sum over (m, n', f) of dL/dconv_pre[f, i + P - m, j + P - n'] *
            # kernel[f, c, m, n']: a correlation of dL/dconv_pre, zero-padded by K - 1 - P, with the kernel rotated
            # by 180 degrees, its filters as channels.  So one product, over windows copied as forward copies them.
            grad_pad = padded(np.ascontiguousarray(grad_rows.reshape(n, *self._out_size, filters)), size - 1 - p)
            cols = np.empty((n * h * w, size * size * filters), dtype=grad_pad.dtype)
            copy_runs(cols.reshape(n, h, w, size, size * filters), window_rows(grad_pad, size, 1, (h, w)))
            rotated = kernel[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(size * size * filters, c)
            return channels_first((cols @ rotated).reshape(n, h, w, c))
        # The gradient of window entry (m, n') of every window, one product per entry: (K*K, N*H'*W', C).
        # Each goes back to the pixels it came from, a strided slice of the input, and where windows overlap
        # the gradients add up.  Slice by slice, the adds run along whole rows of W'*C numbers (stride 1).
        entry_grads = np.matmul(grad_rows, kernel.transpose(2, 3, 0, 1).reshape(size * size, filters, c))
        grad_pad = np.zeros((n, h + 2 * p, w + 2 * p, c), dtype=entry_grads.dtype)
        for view, entry_grad in zip(window_views(grad_pad, size, self.stride, self._out_size), entry_grads):
            view += entry_grad.reshape(view.shape)
        return channels_first(grad_pad[:, p : p + h, p : p + w])


# The loop reference: one image, every sum a loop, to read beside the seed notebook's
#     Conv(i, j) = sum_m sum_n X[i + m, j + n] * k[m, n]


def pad(image, padding):
    """Surround every channel of ``image`` (C, H, W) with ``padding`` zeros."""
    channels, height, width = image.shape
    out = np.zeros((channels, height + 2 * padding, width + 2 * padding))
    for c in range(channels):
        for i in range(height):
            for j in range(width):
                out[c, i + padding, j + padding] = image[c, i, j]
    return out


def conv_forward(image, kernel, bias, stride=1, padding=0):
    """conv_pre[f, i, j] = bias[f] + sum_c sum_m sum_n X[c, S*i + m, S*j + n] * kernel[f, c, m, n].

    (C, H, W) -> (F, H', W') with H' = (H - K + 2P) // S + 1.
    """
    x = pad(image, padding)
    filters, channels, size, _ = kernel.shape
    out_h = (x.shape[1] - size) // stride + 1
    out_w = (x.shape[2] - size) // stride + 1
    out = np.zeros((filters, out_h, out_w))
    for f in range(filters):
        for i in range(out_h):
            for j in range(out_w):
                total = bias[f]
                for c in range(channels):
                    for m in range(size):
                        for n in range(size):
                            total += x[c, stride * i + m, stride * j + n] * kernel[f, c, m, n]
                out[f, i, j] = total
    return out


def conv_backward(grad_out, image, kernel, stride=1, padding=0):
    """Gradients of the convolution, given dL/dconv_pre (F, H', W').

    Each output conv_pre[f, i, j] used kernel[f, c, m, n] once, multiplied by
    X[c, S*i + m, S*j + n], so by the chain rule

        dL/dkernel[f, c, m, n] = sum_i sum_j dL/dconv_pre[f, i, j] * X[c, S*i + m, S*j + n]
        dL/dbias[f]            = sum_i sum_j dL/dconv_pre[f, i, j]
        dL/dX[c, S*i + m, S*j + n] += dL/dconv_pre[f, i, j] * kernel[f, c, m, n]

    Returns (dL_dkernel (F, C, K, K), dL_dbias (F,), dL_dimage (C, H, W)).
    """
    x = pad(image, padding)
    filters, channels, size, _ = kernel.shape
    _, out_h, out_w = grad_out.shape
    dL_dkernel = np.zeros(kernel.shape)
    dL_dbias = np.zeros(filters)
    dL_dx = np.zeros(x.shape)
    for f in range(filters):
        for i in range(out_h):
            for j in range(out_w):
                g = grad_out[f, i, j]
                dL_dbias[f] += g
                for c in range(channels):
                    for m in range(size):
                        for n in range(size):
                            dL_dkernel[f, c, m, n] += g * x[c, stride * i + m, stride * j + n]
                            dL_dx[c, stride * i + m, stride * j + n] += g * kernel[f, c, m, n]
    height, width = image.shape[1:]
    dL_dimage = dL_dx[:, padding : padding + height, padding : padding + width]
    return dL_dkernel, dL_dbias, dL_dimage


# The text: the seed's single conv layer's kernel is just "kernel"; numbered layers say whose.


def kernel_label(name):
    return "kernel" if name == "conv" else f"{name}_kernel"


def _x_name(named):
    return "X" if named.input == "image" else named.input


def _pixel(p, name, c, row, col):
    """name[c, row, col], or 0 where (row, col) falls in the zero padding."""
    value = p.value[name]
    inside = 0 <= row < value.shape[1] and 0 <= col < value.shape[2]
    return value[c, row, col] if inside else 0.0


def conv_header(p, named):
    k = f"{kernel_label(named.name)}"
    padded_note = "  (X zero-padded)" if named.layer.padding else ""
    if p.written(named.output) == 2 and named.in_shape[0] == 1:
        return [f"    {named.output}[i, j] = {named.name}_bias + sum_m sum_n {_x_name(named)}[S*i + m, S*j + n] * "
                f"{k}[m, n]{padded_note}"]  # fmt: skip
    return [f"    {named.output}[f, i, j] = {named.name}_bias[f] + sum_c sum_m sum_n {_x_name(named)}[c, S*i + m, "
            f"S*j + n] * {named.name}_kernel[f, c, m, n]{padded_note}"]  # fmt: skip


def conv_line(p, named, index):
    f, i, j = index
    layer, d = named.layer, p.d
    kernel, bias = p.value[named.params["kernel"]], p.value[named.params["bias"]]
    s, pad_, k = layer.stride, layer.padding, layer.size
    x_, k_ = formatter(p.value[named.input], d), formatter(kernel, d)
    terms = [
        f"{factor(x_, _pixel(p, named.input, c, s * i + m - pad_, s * j + n - pad_))}*{factor(k_, kernel[f, c, m, n])}"
        for c in range(named.in_shape[0])
        for m in range(k)
        for n in range(k)
    ]
    value = formatter(p.value[named.output], d)(p.value[named.output][index])
    return f"    {p.at(named.output, index)} = {formatter(bias, d)(bias[f])} + " + " + ".join(terms) + f" = {value}"


def kernel_gradient_header(p, named):
    x = _x_name(named)
    if p.written(named.params["kernel"]) == 2:
        return [
            f"    dL/d{kernel_label(named.name)}[m, n] = sum_i sum_j dL/d{named.output}[i, j] * {x}[S*i + m, S*j + n]"
        ]
    return [
        f"    dL/d{named.name}_kernel[f, c, m, n] = sum_i sum_j dL/d{named.output}[f, i, j] * {x}[c, S*i + m, S*j + n]"
    ]


def kernel_gradient_line(p, named, index):
    f, c, m, n = index
    layer, d = named.layer, p.d
    grad = p.grad[named.output]
    s, pad_ = layer.stride, layer.padding
    g_, x_ = formatter(grad, d), formatter(p.value[named.input], d)
    out_h, out_w = named.out_shape[1:]
    terms = [
        f"{factor(g_, grad[f, i, j])}*{factor(x_, _pixel(p, named.input, c, s * i + m - pad_, s * j + n - pad_))}"
        for i in range(out_h)
        for j in range(out_w)
    ]
    kernel = named.params["kernel"]
    target = p.at(kernel, index).replace(kernel, kernel_label(named.name), 1)
    line = f"    dL/d{target} = " + " + ".join(terms) + f" = {formatter(p.grad[kernel], d)(p.grad[kernel][index])}"
    if p.grad[kernel].shape[:2] == (1, 1):
        return line  # one filter of one channel: its terms are the window's, in reading order
    # several filters or channels: which gradient and which input entry each term multiplies, by index, before the
    # numbers
    height, width = p.value[named.input].shape[1:]

    def entry(row, col):  # an input entry by its index, or the zero padding around it
        return p.at(named.input, (c, row, col)) if 0 <= row < height and 0 <= col < width else "pad"

    named_terms = [
        f"dL/d{p.at(named.output, (f, i, j))}*{entry(s * i + m - pad_, s * j + n - pad_)}"
        for i in range(out_h)
        for j in range(out_w)
    ]
    lead = f"    dL/d{target} = "
    return lead + " + ".join(named_terms) + " = " + line[len(lead) :]


class Conv(Kind):
    name = "conv"
    order = 10
    example_net = "conv 2x3x3 stride 2 pad 1, relu, dense 1, sigmoid"
    usage = "conv FxKxK [stride S] [pad P]"
    summary = "F filters of K x K (stride 1, padding 0 by default)"
    example = "conv 8x3x3 pad 1"
    base = "conv"
    sizes = ("filters", "size")
    options = (Option("stride", "stride", 1, minimum=1), Option("padding", "pad", 0))
    hyper_keys = ("stride", "padding")
    param_keys = ("kernel", "bias")
    keep = {"kernel": 2, "bias": 0}
    written = {"kernel": (2, 4), "bias": (0, 1)}
    square = ("kernel",)
    torch_keys = {"kernel": "weight", "bias": "bias"}
    torch_class = "Conv2d"
    reads = gives = "map"
    sized_answer = True
    exercise_choices = {"padding": "padding"}
    mistakes = {
        "flipped-kernel": "The kernel was rotated by 180 degrees (true convolution); the network computes "
        "cross-correlation: conv_pre[i, j] = sum X[i + m, j + n] * kernel[m, n], and dL/dkernel[m, n] pairs the same "
        "way.",
        "conv-input-grad-not-flipped": "dL/dX was computed by sliding the kernel unflipped over the zero-padded "
        "dL/dconv_pre (a full correlation); each pixel gets dL/dconv_pre[i, j] * kernel[m, n] from every window entry "
        "(m, n) that read it, which is a full convolution, the kernel rotated by 180 degrees.",
        **STRIDE_IGNORED,
    }

    def parse_size(self, word, fail):
        sizes = re.fullmatch(r"(\d+)x(\d+)x(\d+)", word)
        if not sizes:
            fail(f"{word!r} is not FxKxK")
        filters, k1, k2 = (int(v) for v in sizes.groups())
        if k1 != k2:
            fail(f"kernels are square, got {k1}x{k2}")
        if filters < 1 or k1 < 1:
            fail("filters and kernel size must be >= 1")
        return {"filters": filters, "size": k1}

    def write_size(self, layer):
        return f"{layer.filters}x{layer.size}x{layer.size}"

    def shapes(self, layer, name, in_shape, before):
        channels, side = in_shape[0], in_shape[1]
        k, s, p = layer.size, layer.stride, layer.padding
        padded_side = side + 2 * p
        what = "image" if not before else "map"
        if padded_side > MAX_SIDE or layer.filters > MAX_SIDE:
            raise InputError(
                f"{name}: a {side}x{side} {what} with padding {p} is {padded_side}x{padded_side}, with "
                f"{layer.filters} filters; at most {MAX_SIDE} is supported for each"
            )
        if k > padded_side:
            pools = [n.name for n in before if n.kind_of.pools]
            need = math.ceil((k - side) / 2)
            raise InputError(
                f"{name}: a {k}x{k} kernel does not fit a {side}x{side} {what}"
                + (f" with padding {p}" if p else "")
                + f"; use padding {need}"
                + (f" or drop {pools[-1]}" if pools else f" or a kernel of at most {padded_side}x{padded_side}")
            )
        out = output_size(side, k, s, p)
        return (layer.filters, out, out), {"kernel": (layer.filters, channels, k, k), "bias": (layer.filters,)}

    def shape_message(self, arch, named, key, written, array, expected):
        message = super().shape_message(arch, named, key, written, array, expected)
        return message + (f" (its input {named.input} has {named.in_shape[0]} channels)" if key == "kernel" else "")

    def sizes_from(self, arrays):
        kernel = arrays.get("kernel")
        return {} if kernel is None else {"filters": kernel.shape[0], "size": kernel.shape[-1]}

    def init(self, shapes, rng, init):
        return weights_and_bias(shapes, rng, init, seed_bias=1.0)

    def integers(self, shapes, rng):
        return {"kernel": rng.integers(-1, 3, shapes["kernel"]), "bias": rng.integers(-1, 2, shapes["bias"])}

    def build(self, layer, params, input_grad=True):
        return Conv2D(params["kernel"], params["bias"], layer.stride, layer.padding, input_grad)

    def reference(self, x, layer, params):
        kernel = params["kernel"]
        out = conv_forward(x, kernel, params["bias"], layer.stride, layer.padding)

        def backward(grad):
            dL_dkernel, dL_dbias, dL_dx = conv_backward(grad, x, kernel, layer.stride, layer.padding)
            return dL_dx, {"kernel": dL_dkernel, "bias": dL_dbias}

        return out, {}, backward

    def torch_module(self, named):
        layer = named.layer
        return (f"torch.nn.Conv2d({named.in_shape[0]}, {layer.filters}, {layer.size}, "
                f"stride={layer.stride}, padding={layer.padding})")  # fmt: skip

    def from_torch(self, module, refuse):
        torch_fixed(module, refuse, dilation=(1, 1), groups=1, padding_mode="zeros")
        if module.bias is None:
            refuse("bias=False", "a bias in every conv layer (bias=True)")
        size = torch_square(module, "kernel_size", refuse)
        padding = module.padding
        if padding == "same":  # stride 1, as PyTorch requires: the output is the input's size
            if size % 2 == 0:
                refuse("padding='same' and an even kernel", "the same padding on every side (an odd kernel)")
            padding = (size - 1) // 2
        elif padding == "valid":
            padding = 0
        else:
            padding = torch_square(module, "padding", refuse)
        return {"filters": module.out_channels, "size": size, "stride": torch_square(module, "stride", refuse),
                "padding": padding}  # fmt: skip

    def given_lines(self, p, named):
        d, layer, name = p.d, named.layer, named.name
        kernel, bias = np.asarray(p.given[named.params["kernel"]]), p.given[named.params["bias"]]
        return [
            f"  {name} kernel ({'x'.join(map(str, kernel.shape))}), {name} bias {shown(bias, d)}, "
            f"stride {layer.stride}, padding {layer.padding}:",
            *blocks(kernel, d),
        ]

    def size_lines(self, p, named):
        return [size_line(named, named.layer.size, named.layer.stride, named.layer.padding)]

    def forward_lines(self, p, named, explain):
        following = p.following(named)
        out = named.output
        title = f"{out} (before {following.kind_of.title})" if following and following.kind_of.activation else out
        lines = titled(title, p.shown(out), p.d)
        if explain:
            lines += conv_header(p, named) + [conv_line(p, named, i) for i in np.ndindex(named.out_shape)]
        return lines

    def backward_lines(self, p, named, explain):
        d, name, grad_in = p.d, named.name, named.input
        lines = [f"  dL/d{kernel_label(name)}:", *blocks(p.shown_grad(named.params["kernel"]), d)]
        if explain:
            lines += kernel_gradient_header(p, named)
            lines += [kernel_gradient_line(p, named, i) for i in np.ndindex(p.shapes[named.params["kernel"]])]
        lines += titled(f"dL/d{name}_bias = sum of dL/d{named.output}", p.shown_grad(named.params["bias"]), d)
        if grad_in != "image":
            rule = f"each window entry's gradient, dL/d{named.output} times the kernel, sent back; overlaps add up"
            lines += titled(f"dL/d{grad_in} ({rule})", p.shown_grad(grad_in), d)
        return lines

    def value_line(self, p, named, index):
        return conv_line(p, named, index)

    def param_gradient_line(self, p, named, key, index):
        if key == "kernel":
            return kernel_gradient_line(p, named, index)
        d, grad = p.d, p.grad[named.output]
        value = p.grad[named.params[key]][index]
        terms = " + ".join(factor(formatter(grad, d), g) for g in grad[index[0]].ravel())
        return (f"    dL/d{p.at(named.params[key], index)} = sum of dL/d{named.output}[{index[0]}] = {terms} = "
                f"{scalar(value, d)}")  # fmt: skip

    def input_gradient_line(self, p, named, target, index):
        # every window entry that saw this pixel sends back its gradient times the kernel weight
        layer, d = named.layer, p.d
        up, kernel = p.grad[named.output], p.value[named.params["kernel"]]
        c, row, col = index
        terms = []
        for f, i, j in np.ndindex(named.out_shape):
            m, n = row + layer.padding - layer.stride * i, col + layer.padding - layer.stride * j
            if 0 <= m < layer.size and 0 <= n < layer.size:
                terms.append(
                    f"{factor(formatter(up, d), up[f, i, j])}*{factor(formatter(kernel, d), kernel[f, c, m, n])}"
                )
        return f"    {target} = {' + '.join(terms) or '0'} = {scalar(p.grad[named.input][index], d)}"

    def panels(self, p, named, drawn):
        name, kernel = named.name, named.params["kernel"]
        drawn[kernel] = ("given", f"Convolution kernel ({kernel})", p.given[kernel], ())
        drawn[named.output] = ("forward", f"Convolution result ({named.output})", p.shown(named.output), ())
        return {
            f"dL_d{kernel}": (
                "backward",
                f"Gradient of the loss w.r.t. the kernel\n(dL/d{name}_kernel)",
                p.shown_grad(kernel),
                (),
            )
        }

    def forward_mistakes(self, key, named, x, right):
        kernel, bias = key.params[named.params["kernel"]], key.params[named.params["bias"]]
        layer = named.layer
        return {
            "flipped-kernel": Conv2D(kernel[..., ::-1, ::-1], bias, layer.stride, layer.padding).forward(x),
            "no-bias": right - bias.reshape(1, -1, 1, 1),
        }

    def _params(self, key, named):
        return {k: key.params[full] for k, full in named.params.items()}

    def backward_mistakes(self, key, named, layer, x, grad):
        # the right backward with the kernel rotated is the full correlation with the unflipped one
        params = self._params(key, named)
        flipped = self.build(named.layer, {**params, "kernel": params["kernel"][..., ::-1, ::-1]})
        flipped.forward(x)
        found = {"conv-input-grad-not-flipped": flipped.backward(grad)}
        if named.layer.stride > 1:
            found["stride-ignored"] = stride_one_backward(self, named.layer, params, x, grad)[0]
        return found

    def param_mistakes(self, key, named, param, layer, x, grad):
        if param != "kernel":
            return {}
        found = {"flipped-kernel": layer.grads["kernel"][..., ::-1, ::-1]}
        if named.layer.stride > 1:
            found["stride-ignored"] = stride_one_backward(self, named.layer, self._params(key, named), x, grad)[
                1
            ].grads["kernel"]
        return found


KIND = Conv()
