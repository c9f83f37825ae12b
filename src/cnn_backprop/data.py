"""The seed notebook's image generator: 5x5 crosses (label 0) and rectangles (label 1).

An image is all zeros except at the pixels of its shape, each of which gets an
independent U(0, 1) value.  The index lists are the seed's, unchanged: the cross
list names [2, 2] twice, so that pixel is drawn twice and the second draw stays,
exactly as the notebook's loop leaves it.
"""

import numpy as np

IMAGE_SIZE = 5
CLASSES = ("cross", "rectangle")

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
