"""The seed's generator: shapes at the seed's indices, U(0, 1) values, 50/50 labels, fixed by the seed."""

import numpy as np

from cnn_backprop import data


def test_images_have_the_seed_shapes():
    images, labels = data.generate(400, np.random.default_rng(0))
    assert images.shape == (400, 1, 5, 5) and labels.shape == (400,)
    for label, indices in enumerate(data.SHAPE_INDICES):
        mask = np.zeros((5, 5), dtype=bool)
        mask[tuple(np.array(indices).T)] = True
        chosen = images[labels == label, 0]
        assert (chosen[:, ~mask] == 0).all()
        assert ((chosen[:, mask] > 0) & (chosen[:, mask] < 1)).all()
    assert 150 < labels.sum() < 250


def test_cross_shares_no_pattern_with_rectangle():
    cross = {tuple(p) for p in data.CROSS_INDICES}
    rectangle = {tuple(p) for p in data.RECTANGLE_INDICES}
    assert len(cross) == 9 and len(rectangle) == 10
    assert cross & rectangle == {(1, 2), (3, 2), (2, 4)}


def test_one_image_consumes_the_generator_like_the_notebook():
    # The notebook draws randint(1, 3) for the label, then one uniform per listed index,
    # in order; the repeated [2, 2] of the cross is drawn twice and the second draw stays.
    rng = np.random.default_rng(42)
    label = rng.integers(1, 3) - 1
    values = rng.uniform(0, 1, 10)
    expected = np.zeros((5, 5))
    for value, (row, col) in zip(values, data.SHAPE_INDICES[label]):
        expected[row, col] = value
    images, labels = data.generate(1, np.random.default_rng(42))
    assert labels[0] == label
    np.testing.assert_array_equal(images[0, 0], expected)


def test_given_labels_keep_the_pixel_draws():
    images, labels = data.generate(3, np.random.default_rng(1), labels=[0, 1, 0])
    np.testing.assert_array_equal(labels, [0, 1, 0])
    assert images[1, 0, 1, 0] > 0 and images[0, 0, 2, 0] > 0


def test_same_seed_same_images():
    a, la = data.generate(50, np.random.default_rng(9))
    b, lb = data.generate(50, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
