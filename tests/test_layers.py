"""Each layer: backward against central finite differences, forward against hand numbers and PyTorch."""

import numpy as np
import pytest

from cnn_backprop.gradcheck import numerical_gradient, relative_error
from cnn_backprop.kinds.avgpool import AvgPool2D
from cnn_backprop.kinds.conv import Conv2D, conv_backward, conv_forward
from cnn_backprop.kinds.dense import Dense
from cnn_backprop.kinds.flatten import Flatten
from cnn_backprop.kinds.maxpool import MaxPool2D
from cnn_backprop.kinds.relu import ReLU
from cnn_backprop.kinds.sigmoid import SigmoidBCE, sigmoid
from cnn_backprop.kinds.softmax import SoftmaxCrossEntropy
from cnn_backprop.layers import output_size

TOL = 1e-7


def check_layer(layer, x, rng):
    """backward's dL/dx and each grads[name] must be the gradients of sum(g * forward(x)) with respect to
    x and params[name], for a random upstream gradient g, by finite differences."""
    upstream = rng.normal(size=layer.forward(x).shape)

    def objective():
        return float(np.sum(upstream * layer.forward(x)))

    layer.forward(x)
    analytic = {"x": layer.backward(upstream), **{name: grad.copy() for name, grad in layer.grads.items()}}
    assert set(layer.grads) == set(layer.params)
    assert relative_error(analytic["x"], numerical_gradient(objective, x)) < TOL
    for name, param in layer.params.items():
        assert relative_error(analytic[name], numerical_gradient(objective, param)) < TOL, name


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (1, 1), (2, 2), (3, 1)])
def test_conv_backward_matches_finite_differences(stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    conv = Conv2D(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride, padding)
    check_layer(conv, rng.normal(size=(2, 2, 7, 7)), rng)


@pytest.mark.parametrize(
    "channels,side,stride,padding",
    [(1, 5, 1, 0), (1, 8, 2, 0), (1, 9, 1, 1), (1, 9, 3, 0), (3, 6, 1, 1), (2, 9, 2, 0)],
)
@pytest.mark.parametrize("images", [1, 2])
def test_conv_forward_and_backward_equal_the_loop_reference(channels, side, stride, padding, images):
    # Every way of filling cols: for one channel, by a product on a map within layers.SMALL_MAP numbers, by
    # copies per window entry on a larger map wider than the kernel's windows, by window rows (9x9, stride 3);
    # by window rows for several channels.  And one image of one channel, whose channels-last view may carry
    # any stride on its axes of length 1.
    rng = np.random.default_rng(side * 10 + channels)
    kernel, bias = rng.normal(size=(4, channels, 3, 3)), rng.normal(size=4)
    x = rng.normal(size=(images, channels, side, side))
    conv = Conv2D(kernel, bias, stride, padding)
    out = conv.forward(x)
    upstream = rng.normal(size=out.shape)
    dx = conv.backward(upstream)
    kernel_grad, bias_grad = 0, 0
    for n in range(images):
        expected = conv_forward(x[n], kernel, bias, stride, padding)
        np.testing.assert_allclose(out[n], expected, rtol=1e-12, atol=1e-12)
        dkernel, dbias, dimage = conv_backward(upstream[n], x[n], kernel, stride, padding)
        np.testing.assert_allclose(dx[n], dimage, rtol=1e-12, atol=1e-12)
        kernel_grad, bias_grad = kernel_grad + dkernel, bias_grad + dbias  # the batch's: each image's adds up
    np.testing.assert_allclose(conv.grads["kernel"], kernel_grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.grads["bias"], bias_grad, rtol=1e-12, atol=1e-12)


def test_conv_forward_by_hand():
    # 3x3 image of 1..9, 2x2 kernel [[1, 0], [0, -1]], bias 0.5: each output is
    # x[i, j] - x[i + 1, j + 1] + 0.5 = -4 + 0.5 everywhere.
    image = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    conv = Conv2D(np.array([[[[1.0, 0.0], [0.0, -1.0]]]]), np.array([0.5]))
    np.testing.assert_array_equal(conv.forward(image), np.full((1, 1, 2, 2), -3.5))
    # dL/dkernel[m, n] = sum of the window's pixels at offset (m, n) when dL/dout = 1.
    conv.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(
        conv.grads["kernel"][0, 0], [[1 + 2 + 4 + 5, 2 + 3 + 5 + 6], [4 + 5 + 7 + 8, 5 + 6 + 8 + 9]]
    )
    np.testing.assert_array_equal(conv.grads["bias"], [4.0])


def test_conv_padding_by_hand():
    # A 1x1 image 2.0 with padding 1 and an all-ones 3x3 kernel: the single output sees only 2.0.
    conv = Conv2D(np.ones((1, 1, 3, 3)), np.zeros(1), padding=1)
    np.testing.assert_array_equal(conv.forward(np.full((1, 1, 1, 1), 2.0)), [[[[2.0]]]])


def test_relu_backward_and_zero_convention():
    rng = np.random.default_rng(1)
    relu = ReLU()
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.forward(x), [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])
    x = rng.normal(size=(2, 3, 4, 4))
    check_layer(ReLU(), x, rng)


# Maps above and within layers.SMALL_MAP numbers an image, whose overlapping windows send gradients back by
# adds and by one product.
MAPS = [(2, 3, 6, 6), (3, 2, 4, 4)]


@pytest.mark.parametrize("shape", MAPS)
@pytest.mark.parametrize("size,stride", [(2, 1), (2, 2), (3, 1), (3, 2), (1, 1)])
def test_maxpool_backward_matches_finite_differences(size, stride, shape):
    rng = np.random.default_rng(size * 10 + stride)
    # Distinct values 0.01 apart: no window has a runner-up within the +-2h steps.
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.01
    check_layer(MaxPool2D(size, stride), x, rng)


def test_maxpool_overlapping_windows_sum_their_gradients():
    # The centre 9 is the maximum of all four overlapping 2x2 windows: it must receive
    # the sum 1 + 2 + 3 + 4, not the last window's 4 as the seed notebook wrote it.
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]])
    pool = MaxPool2D(2, 1)
    np.testing.assert_array_equal(pool.forward(x), [[[[9.0, 9.0], [9.0, 9.0]]]])
    np.testing.assert_array_equal(pool.argmax[0, 0].reshape(-1, 2), [[1, 1]] * 4)
    grad = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(grad[0, 0], [[0, 0, 0], [0, 10.0, 0], [0, 0, 0]])


def test_maxpool_tie_goes_to_first_in_row_major_order():
    x = np.array([[[[5.0, 5.0], [5.0, 5.0]]]])
    pool = MaxPool2D(2, 2)
    pool.forward(x)
    np.testing.assert_array_equal(pool.argmax[0, 0, 0, 0], [0, 0])
    np.testing.assert_array_equal(pool.backward(np.ones((1, 1, 1, 1)))[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("size,stride,side", [(2, 2, 8), (2, 2, 5), (3, 3, 7), (2, 1, 5), (3, 2, 7)])
def test_maxpool_batch_equals_the_loop_reference_with_many_ties(size, stride, side):
    # Whole numbers 0..2 tie in most windows; windows side by side (stride = size, copied as one tiling, also
    # where they leave pixels uncovered) and overlapping or spaced ones must all send each gradient to the
    # window's first maximum in row-major order, as the loop does.
    from cnn_backprop.kinds.maxpool import maxpool_backward, maxpool_forward

    rng = np.random.default_rng(size * 100 + stride * 10 + side)
    x = rng.integers(0, 3, (3, 4, side, side)).astype(float)
    pool = MaxPool2D(size, stride)
    out = pool.forward(x)
    grad = rng.normal(size=out.shape)
    dx = pool.backward(grad)
    for image, image_out, image_grad, image_dx, argmax in zip(x, out, grad, dx, pool.argmax):
        expected, expected_argmax = maxpool_forward(image, size, stride)
        np.testing.assert_array_equal(image_out, expected)
        np.testing.assert_array_equal(argmax, expected_argmax)
        # overlapping windows add their gradients in another order: equal up to rounding
        np.testing.assert_allclose(image_dx, maxpool_backward(image_grad, expected_argmax, image.shape), rtol=1e-14)


def test_dense_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    dense = Dense(rng.normal(size=(2, 5)), rng.normal(size=2))
    check_layer(dense, rng.normal(size=(4, 5)), rng)


def test_avgpool_by_hand_and_overlaps_add_up():
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]]]])
    pool = AvgPool2D(2, 1)
    np.testing.assert_array_equal(pool.forward(x), [[[[4.0, 4.75], [6.5, 7.25]]]])
    # Each window sends a quarter of its gradient to each entry; the centre is in all four windows.
    grad = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(grad[0, 0], np.array([[1, 3, 2], [4, 10, 6], [3, 7, 4]]) / 4)


@pytest.mark.parametrize("shape", MAPS)
@pytest.mark.parametrize("size,stride", [(2, 1), (2, 2), (3, 1), (3, 2), (1, 1)])
def test_avgpool_backward_matches_finite_differences(size, stride, shape):
    rng = np.random.default_rng(size * 10 + stride)
    check_layer(AvgPool2D(size, stride), rng.normal(size=shape), rng)


def test_pool_stride_defaults_to_the_window_as_in_pytorch():
    assert MaxPool2D(3).stride == 3 and AvgPool2D(2).stride == 2 and MaxPool2D(2, 1).stride == 1


def test_flatten_is_a_reshape_both_ways():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 3, 2, 2))
    flatten = Flatten()
    np.testing.assert_array_equal(flatten.forward(x), x.reshape(2, 12))
    np.testing.assert_array_equal(flatten.backward(np.arange(24.0).reshape(2, 12)), np.arange(24.0).reshape(x.shape))


def test_sigmoid_bce_by_hand_and_finite_differences():
    loss = SigmoidBCE()
    z = np.array([[0.0], [np.log(3.0)]])  # sigmoid: 1/2 and 3/4
    y = np.array([1, 0])
    # mean of -log(1/2) and -log(1 - 3/4) = (log 2 + log 4) / 2 = 1.5 log 2
    np.testing.assert_allclose(loss.forward(z), [[0.5], [0.75]], atol=1e-15)
    assert loss.loss(y) == pytest.approx(1.5 * np.log(2.0), abs=1e-15)
    np.testing.assert_allclose(loss.backward(1.0), [[(0.5 - 1) / 2], [(0.75 - 0) / 2]], atol=1e-15)
    z = np.random.default_rng(4).normal(size=(5, 1)) * 3
    y = np.array([0, 1, 1, 0, 1])

    def value():
        loss.forward(z)
        return loss.loss(y)

    value()
    assert relative_error(loss.backward(1.0), numerical_gradient(value, z)) < TOL


@pytest.mark.parametrize("z", [1e4, -1e4, 1000.0, -1000.0, 800.0, -800.0, 1e300, -1e300])
def test_sigmoid_bce_stay_finite_and_exact_at_extremes(z):
    loss = SigmoidBCE()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the point
        for y in (0, 1):
            loss.forward(np.array([[z]]))
            value = loss.loss(np.array([y]))
            wrong = (z > 0) != (y == 1)
            # A confident wrong answer costs |z| (log(1 + e^-|z|) rounds away); a right one costs ~0.
            assert value == (abs(z) if wrong else 0.0)
            assert loss.backward(1.0)[0, 0] == (1.0 if z > 0 else 0.0) - y
        assert np.isfinite(sigmoid(np.array([z]))).all()


def test_softmax_cross_entropy_by_hand_and_finite_differences():
    loss = SoftmaxCrossEntropy()
    z = np.array([[0.0, np.log(3.0)], [np.log(2.0), np.log(2.0)]])  # softmax: [1/4, 3/4] and [1/2, 1/2]
    np.testing.assert_allclose(loss.forward(z), [[0.25, 0.75], [0.5, 0.5]], atol=1e-15)
    # mean of -log(1/4) and -log(1/2) = 1.5 log 2
    assert loss.loss(np.array([0, 1])) == pytest.approx(1.5 * np.log(2.0), abs=1e-15)
    np.testing.assert_allclose(loss.backward(1.0), [[(0.25 - 1) / 2, 0.75 / 2], [0.5 / 2, (0.5 - 1) / 2]], atol=1e-15)
    rng = np.random.default_rng(5)
    z = rng.normal(size=(4, 5)) * 3
    y = np.array([0, 4, 2, 2])

    def value():
        loss.forward(z)
        return loss.loss(y)

    value()
    assert relative_error(loss.backward(1.0), numerical_gradient(value, z)) < TOL


def test_softmax_cross_entropy_with_two_classes_is_sigmoid_bce_of_the_difference():
    z = np.random.default_rng(6).normal(size=(6, 2)) * 4
    y = np.array([0, 1, 1, 0, 1, 0])
    softmax, sigmoid_bce = SoftmaxCrossEntropy(), SigmoidBCE()
    np.testing.assert_allclose(softmax.forward(z)[:, 1:], sigmoid_bce.forward(z[:, 1:] - z[:, :1]), atol=1e-15)
    assert softmax.loss(y) == pytest.approx(sigmoid_bce.loss(y), abs=1e-15)


@pytest.mark.parametrize("scale", [1e3, 1e300])
def test_softmax_cross_entropy_stays_finite_for_huge_logits(scale):
    loss = SoftmaxCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        z = np.array([[scale, 0.0, -scale]])
        np.testing.assert_array_equal(loss.forward(z), [[1.0, 0.0, 0.0]])
        assert loss.loss(np.array([0])) == 0.0
        assert loss.loss(np.array([1])) == scale  # a confident wrong answer costs the gap in z
        np.testing.assert_array_equal(loss.backward(1.0), [[1.0, -1.0, 0.0]])


def test_output_size_formula():
    assert output_size(5, 3, 1, 0) == 3
    assert output_size(3, 2, 1) == 2
    assert output_size(3, 2, 2) == 1
    assert output_size(28, 5, 2, 2) == 14


def test_window_placement_by_hand():
    from cnn_backprop.layers import window_placement

    # 2x2 windows at stride 1 on a 3x3 map: entry (m, n) of window (i, j) is pixel 3 * (i + m) + (j + n).
    placement = window_placement((3, 3), 2, 1)
    assert placement.shape == (4, 9, 2, 2)
    for m, n, i, j in np.ndindex(2, 2, 2, 2):
        assert np.flatnonzero(placement[2 * m + n, :, i, j]).tolist() == [3 * (i + m) + (j + n)]
