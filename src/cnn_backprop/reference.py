"""The textbook version: every sum written as a loop, one image at a time.

Read this next to the seed notebook.  It computes exactly what ``layers.py``
computes (the tests hold the two equal), but spells each formula out index by
index, e.g. the notebook's

    Conv(i, j) = sum_m sum_n X[i + m, j + n] * k[m, n]

becomes the innermost loops of ``conv_forward``.  Nothing here is fast; that is
the point.  Shapes are those of one image: ``(C, H, W)``, kernel ``(F, C, K, K)``.
"""

import math

import numpy as np


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


def relu_forward(x):
    """max(0, x) for every entry."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = max(0.0, x[index])
    return out


def relu_backward(grad_out, x):
    """dL/dx = dL/dout where x > 0, else 0 (ReLU'(0) is taken as 0)."""
    out = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        out[index] = grad_out[index] if x[index] > 0 else 0.0
    return out


def maxpool_forward(x, size=2, stride=1):
    """Max of each ``size x size`` window; (C, H, W) -> (C, H', W') and the argmax.

    ``argmax[c, i, j]`` is the [row, col] in x of the window's maximum; on a tie
    the first in row-major order wins (a later value must be strictly larger).
    """
    channels, height, width = x.shape
    out_h = (height - size) // stride + 1
    out_w = (width - size) // stride + 1
    out = np.zeros((channels, out_h, out_w))
    argmax = np.zeros((channels, out_h, out_w, 2), dtype=int)
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                best = -math.inf
                for m in range(size):
                    for n in range(size):
                        value = x[c, stride * i + m, stride * j + n]
                        if value > best:
                            best = value
                            argmax[c, i, j] = (stride * i + m, stride * j + n)
                out[c, i, j] = best
    return out, argmax


def maxpool_backward(grad_out, argmax, input_shape):
    """Route each window's gradient to its maximum; shared maxima add up.

    The seed notebook wrote ``dP[i, j] = dw``, so when overlapping windows share
    a maximum the last one overwrote the others.  The chain rule sums them.
    """
    grad = np.zeros(input_shape)
    channels, out_h, out_w = grad_out.shape
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                row, col = argmax[c, i, j]
                grad[c, row, col] += grad_out[c, i, j]
    return grad


def dense_forward(x, weights, bias):
    """fc_pre[o] = sum_d weights[o, d] * x[d] + bias[o]; x (D,) -> (O,)."""
    out = np.zeros(weights.shape[0])
    for o in range(weights.shape[0]):
        total = bias[o]
        for d in range(weights.shape[1]):
            total += weights[o, d] * x[d]
        out[o] = total
    return out


def dense_backward(grad_out, x, weights):
    """(dL_dweights (O, D), dL_dbias (O,), dL_dx (D,)) from dL/dfc_pre (O,)."""
    dL_dweights = np.zeros(weights.shape)
    dL_dx = np.zeros(weights.shape[1])
    for o in range(weights.shape[0]):
        for d in range(weights.shape[1]):
            dL_dweights[o, d] = grad_out[o] * x[d]
            dL_dx[d] += grad_out[o] * weights[o, d]
    return dL_dweights, np.array(grad_out, dtype=float), dL_dx


def sigmoid(z):
    """1 / (1 + e^-z), written so that exp never sees a large positive number.

    The seed's ``exp(z) / (1 + exp(z))`` overflows to nan for z > 709.
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def bce_with_logit(z, y):
    """-[y log s(z) + (1 - y) log(1 - s(z))], computed from z without forming s(z).

    log s(z) = -log(1 + e^-z) and log(1 - s(z)) = -z - log(1 + e^-z); rewriting
    with |z| keeps every exponent <= 0: max(z, 0) - y z + log(1 + e^-|z|).
    """
    return max(z, 0.0) - y * z + math.log1p(math.exp(-abs(z)))


def bce_with_logit_backward(z, y):
    """dL/dz = s(z) - y.

    The seed computed dL/ds * ds/dz = (-y/s + (1-y)/(1-s)) * s(1-s), which is the
    same number until s rounds to 0 or 1; its ``d_bce`` then returned 0 whatever
    the label.  The product simplifies to s - y, which never breaks down.
    """
    return sigmoid(z) - y


def avgpool_forward(x, size=2, stride=2):
    """Mean of each ``size x size`` window; (C, H, W) -> (C, H', W')."""
    channels, height, width = x.shape
    out_h = (height - size) // stride + 1
    out_w = (width - size) // stride + 1
    out = np.zeros((channels, out_h, out_w))
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                total = 0.0
                for m in range(size):
                    for n in range(size):
                        total += x[c, stride * i + m, stride * j + n]
                out[c, i, j] = total / (size * size)
    return out


def avgpool_backward(grad_out, input_shape, size=2, stride=2):
    """Every entry of a window gets 1/size^2 of the window's gradient; overlapping windows add up."""
    grad = np.zeros(input_shape)
    channels, out_h, out_w = grad_out.shape
    for c in range(channels):
        for i in range(out_h):
            for j in range(out_w):
                for m in range(size):
                    for n in range(size):
                        grad[c, stride * i + m, stride * j + n] += grad_out[c, i, j] / (size * size)
    return grad


def softmax(z):
    """e^z_k / sum_j e^z_j, with the largest z subtracted first so that no exponent is positive."""
    top = max(z)
    exps = [math.exp(value - top) for value in z]
    total = sum(exps)
    return np.array([e / total for e in exps])


def cross_entropy_with_logits(z, label):
    """-log softmax(z)[label] = log sum_j e^z_j - z_label, as logsumexp around the largest z."""
    top = max(z)
    return top + math.log(sum(math.exp(value - top) for value in z)) - z[label]


def cross_entropy_with_logits_backward(z, label):
    """dL/dz_k = softmax(z)_k - [k == label]."""
    grad = softmax(z)
    grad[label] -= 1.0
    return grad


def forward_backward(image, label, arch, params):
    """One full pass of ``arch`` (an architecture.Architecture) for one image (C, H, W).

    ``params`` holds every parameter by name.  Returns (forward, backward), two
    dicts named as in network.py, without the batch axis: each layer's output
    (and each max pool's argmax) and the loss; dL/d of each of them, of every
    parameter and of the image.
    """
    forward, inputs = {}, []
    x = image
    for named in arch.named:
        layer, name = named.layer, named.name
        inputs.append(x)
        if layer.kind == "conv":
            x = conv_forward(x, params[f"{name}_kernel"], params[f"{name}_bias"], layer.stride, layer.padding)
        elif layer.kind == "relu":
            x = relu_forward(x)
        elif layer.kind == "maxpool":
            x, forward[f"{name}_argmax"] = maxpool_forward(x, layer.size, layer.stride)
        elif layer.kind == "avgpool":
            x = avgpool_forward(x, layer.size, layer.stride)
        elif layer.kind == "flatten":
            x = x.flatten()
        elif layer.kind == "dense":
            x = dense_forward(x, params[f"{name}_weights"], params[f"{name}_bias"])
        elif layer.kind == "sigmoid":
            forward["loss"] = bce_with_logit(x[0], label)
            x = np.array([sigmoid(x[0])])
        else:
            forward["loss"] = cross_entropy_with_logits(x, label)
            x = softmax(x)
        forward[named.output] = x

    backward = {}
    z = inputs[-1]
    # dL/dz: the seed's dL/ds * ds/dz, simplified to s - y (softmax: s - onehot(y)); see bce_with_logit_backward.
    if arch.output_kind == "sigmoid":
        grad = np.array([bce_with_logit_backward(z[0], label)])
    else:
        grad = cross_entropy_with_logits_backward(z, label)
    for named, x in zip(reversed(arch.named[:-1]), reversed(inputs[:-1])):
        layer, name = named.layer, named.name
        backward[named.output] = grad
        if layer.kind == "conv":
            kernel = params[f"{name}_kernel"]
            dL_dkernel, dL_dbias, grad = conv_backward(grad, x, kernel, layer.stride, layer.padding)
            backward.update({f"{name}_kernel": dL_dkernel, f"{name}_bias": dL_dbias})
        elif layer.kind == "relu":
            grad = relu_backward(grad, x)
        elif layer.kind == "maxpool":
            grad = maxpool_backward(grad, forward[f"{name}_argmax"], x.shape)
        elif layer.kind == "avgpool":
            grad = avgpool_backward(grad, x.shape, layer.size, layer.stride)
        elif layer.kind == "flatten":
            grad = grad.reshape(x.shape)
        else:
            # dL/dinput is dL/dpre times the *weights*; the seed routed dL/dweights back instead.
            dL_dweights, dL_dbias, grad = dense_backward(grad, x, params[f"{name}_weights"])
            backward.update({f"{name}_weights": dL_dweights, f"{name}_bias": dL_dbias})
    backward["image"] = grad
    return forward, backward
