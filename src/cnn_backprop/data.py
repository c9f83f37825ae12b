"""Data sets: the seed notebook's generated shapes, the 8x8 handwritten digits, and files.

``load(source, ...)`` gives a ``Dataset`` (training and test images, labels and
class names) from any of:

- ``shapes``: the seed notebook's generator, 5x5 crosses (label 0) and
  rectangles (label 1).  An image is all zeros except at the pixels of its
  shape, each of which gets an independent U(0, 1) value.  The index lists are
  the seed's, unchanged: the cross list names [2, 2] twice, so that pixel is
  drawn twice and the second draw stays, exactly as the notebook's loop leaves it.
- ``digits``: the 8x8 handwritten digits (1,797 images, 10 classes) that
  scikit-learn bundles as ``load_digits``, pixels 0..16 scaled to [0, 1].  They
  ship in this package (``datasets/digits.npz``, 45 KB), read with NumPy alone:
  the test set of the UCI Optical Recognition of Handwritten Digits (E. Alpaydin,
  C. Kaynak, 1998; CC BY 4.0, ``datasets/README.md``).
- a ``.npz`` file with ``images`` and integer ``labels`` 0..K-1 (and optionally
  ``classes``), or in the ``mnist.npz`` layout (``x_train``, ``y_train``,
  ``x_test``, ``y_test``);
- a folder of PNG files with one subfolder per class (PyTorch's ImageFolder layout).

Where a source has no split of its own (digits, a plain ``.npz``, a folder), a
seeded stratified split holds out ``TEST_FRACTION`` of each class for testing.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SIZE = 5
CLASSES = ("cross", "rectangle")
SOURCES = ("shapes", "digits")  # and any .npz file or ImageFolder folder
TEST_FRACTION = 0.2
# scikit-learn's load_digits() arrays as uint8 (every pixel an integer 0..16), saved once: datasets/README.md
DIGITS = Path(__file__).parent / "datasets" / "digits.npz"

CROSS_INDICES = [
    [2, 0],
    [2, 1],
    [2, 2],
    [2, 3],
    [2, 4],
    [0, 2],
    [1, 2],
    [2, 2],
    [3, 2],
    [4, 2],
]
RECTANGLE_INDICES = [
    [1, 0],
    [1, 1],
    [1, 2],
    [1, 3],
    [1, 4],
    [2, 4],
    [3, 4],
    [3, 3],
    [3, 2],
    [3, 1],
]
SHAPE_INDICES = (CROSS_INDICES, RECTANGLE_INDICES)
DRAWS_PER_IMAGE = len(CROSS_INDICES)


def random_streams(seed, count=2):
    """Independent generators from one seed: data, parameters, then (for training) shuffling.

    Kept apart so that, say, a different pool stride (more or fewer FC weights to
    draw) leaves the images drawn from the same seed unchanged.  Stream i is the
    same whatever ``count`` is, and PCG64 gives the same numbers on every platform.
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def _last_draw_per_pixel(indices):
    """(rows, cols, draw) for each distinct pixel, with the index of the draw that stays."""
    last = {tuple(pixel): draw for draw, pixel in enumerate(indices)}
    rows, cols = np.array(list(last.keys())).T
    return rows, cols, np.array(list(last.values()))


def render(labels, values):
    """Images (N, 1, 5, 5) for ``labels`` (N,) from pixel draws ``values`` (N, 10)."""
    images = np.zeros((len(labels), 1, IMAGE_SIZE, IMAGE_SIZE))
    for label, indices in enumerate(SHAPE_INDICES):
        rows, cols, draw = _last_draw_per_pixel(indices)
        chosen = np.flatnonzero(labels == label)
        images[chosen[:, None], 0, rows, cols] = values[chosen[:, None], draw]
    return images


def generate(count, rng, labels=None):
    """Draw ``count`` labelled images as the seed does.

    Returns ``images`` (count, 1, 5, 5) float64 and ``labels`` (count,) int64,
    0 = cross, 1 = rectangle, drawn 50/50.  All labels are drawn first, then the
    pixel values image by image in the order of the index lists, so a single
    image (count=1) consumes the generator exactly as the notebook's
    ``generate_datapoint`` does.  Passing ``labels`` fixes the classes and
    leaves every pixel draw as it would have been.
    """
    drawn = rng.integers(1, 3, size=count) - 1  # the seed's randint(1, 3) - 1
    labels = drawn if labels is None else np.asarray(labels, dtype=np.int64)
    values = rng.uniform(0, 1, size=(count, DRAWS_PER_IMAGE))
    return render(labels, values), labels


@dataclass(frozen=True)
class Dataset:
    """Images (N, C, H, W) float64 in [0, 1] and labels (N,) int64 for training and for testing."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple  # the name of each class, by label
    source: str  # shapes, digits, or the file or folder it was read from
    split: str  # how the test set was chosen, for the reader

    @property
    def input_shape(self):
        """(channels, image size)"""
        return self.train_images.shape[1], self.train_images.shape[2]


def stratified_split(labels, rng, fraction=TEST_FRACTION):
    """(train indices, test indices): ``fraction`` of each class, rounded, drawn by ``rng`` for the test set."""
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out = int(round(fraction * len(members)))
        test.append(members[:held_out])
        train.append(members[held_out:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def digits():
    """The 8x8 digits: images (1797, 1, 8, 8) float64 in [0, 1], labels (1797,) int64, bit for bit what
    scikit-learn's ``load_digits()`` gives scaled by 1/16."""
    with np.load(DIGITS) as saved:
        return saved["images"][:, None] / 16.0, saved["labels"].astype(np.int64)


def load(source="shapes", seed=0, train_size=8000, test_size=2000):
    """The Dataset of ``source`` (see the module's docstring); ``seed`` draws what is drawn.

    ``train_size`` and ``test_size`` are how many shapes to generate; other
    sources have the size they have.
    """
    from . import files

    if source == "shapes":
        rng = random_streams(seed)[0]
        train_images, train_labels = generate(train_size, rng)
        test_images, test_labels = generate(test_size, rng)
        return Dataset(train_images, train_labels, test_images, test_labels, CLASSES, "shapes",
                       f"{train_size} generated training images, {test_size} more for testing")  # fmt: skip
    if source == "digits":
        images, labels, classes = *digits(), tuple(str(k) for k in range(10))
    else:
        images, labels, classes, test = files.load_labelled(source)
        if test is not None:
            return Dataset(images, labels, *test, classes, str(source), "the file's own test set")
    train, test = stratified_split(labels, random_streams(seed)[0])
    return Dataset(
        images[train], labels[train], images[test], labels[test], classes, str(source),
        f"{len(train)} for training, {len(test)} for testing: {TEST_FRACTION:.0%} of each class, drawn by seed {seed}",
    )  # fmt: skip


def evaluation_set(source, seed=0, test_size=2000):
    """(images, labels, classes, description) to evaluate a model on.

    ``shapes``: ``test_size`` fresh generated images from a stream of their own
    (never the images ``train --seed S`` learned from); ``digits``: the test
    split of ``seed``; a file or folder with its own test set (mnist.npz): that;
    any other file or folder: every image in it.
    """
    from . import files

    if source == "shapes":
        images, labels = generate(test_size, random_streams(seed, 4)[3])
        return images, labels, CLASSES, f"{test_size} generated images (seed {seed})"
    if source == "digits":
        dataset = load("digits", seed)
        return dataset.test_images, dataset.test_labels, dataset.classes, f"the digits' test split (seed {seed})"
    images, labels, classes, test = files.load_labelled(source)
    if test is not None:
        return *test, classes, f"{source} (its test set)"
    return images, labels, classes, str(source)
