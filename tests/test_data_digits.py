"""The digits ship in the package (datasets/digits.npz) and are, bit for bit, what scikit-learn's load_digits()
gave: the SHA-256 of each array as loaded was recorded from load_digits() (scikit-learn 1.9.1) when the file
was saved, so every digits result (split, training, accuracy) is unchanged without scikit-learn."""

import hashlib
import subprocess
import sys

import numpy as np

from cnn_backprop import data

# hashlib.sha256((load_digits().images[:, None] / 16.0).tobytes()), and of load_digits().target.astype(np.int64)
IMAGES_SHA256 = "23a53393488b04f92efc45ebc92767e2dcfdf206ba37a928f497d261e42267d2"
LABELS_SHA256 = "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21"


def test_the_packaged_digits_are_load_digits_bit_for_bit():
    images, labels = data.digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float64
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert hashlib.sha256(images.tobytes()).hexdigest() == IMAGES_SHA256
    assert hashlib.sha256(labels.tobytes()).hexdigest() == LABELS_SHA256
    # what the checksums stand for, in numbers a reader can check: 17 grey levels, ten classes of ~180
    np.testing.assert_array_equal(np.unique(images * 16), np.arange(17))
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_the_digits_split_is_twenty_percent_of_each_class():
    dataset = data.load("digits", seed=0)
    assert dataset.input_shape == (1, 8) and dataset.classes == tuple("0123456789")
    assert len(dataset.train_images) == 1438 and len(dataset.test_images) == 359
    assert dataset.train_images.max() == 1.0 and dataset.train_images.min() == 0.0
    counts = np.bincount(data.digits()[1])
    np.testing.assert_array_equal(np.bincount(dataset.test_labels), np.round(counts * 0.2).astype(int))


def test_the_digits_load_with_numpy_alone():
    # a fresh interpreter: what importing the package and loading the digits pulls in
    code = (
        "import sys, cnn_backprop as cb; cb.load_data('digits'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert data.DIGITS.stat().st_size < 60_000


def test_the_origin_and_licence_ship_beside_the_file():
    notes = (data.DIGITS.parent / "README.md").read_text()
    assert "Optical Recognition of Handwritten Digits" in notes and "CC BY 4.0" in notes
    assert "UCI" in data.__doc__ and "CC BY 4.0" in data.__doc__
