"""Train and test the seed's network with mini-batch SGD: the notebook's "full implementation".

One loop, configuration you can see.  ``train`` draws a training and a test set
with the seed's generator, initialises the network as the seed does, and runs
plain SGD, evaluating both sets after every epoch.  Everything random comes
from one seed, so the same options give the same model, bit for bit.

Why these defaults (measured by benchmarks/seed_sweep.py, see the README):
the seed's initialisation makes every weight positive, so at the start the
network calls every image a rectangle with z around 7.  The crosses then send
large gradients that push the conv kernel and bias down; with a large step
(lr 1, or any lr with momentum) they overshoot until conv_pre < 0 for every
image, the ReLU passes no gradient, and the network is stuck at 50% for good
(a dead ReLU).  lr 0.3 with batches of 32 never died in our sweeps; the
network then underfits rather than overfits (train and test accuracy agree),
so what it needs is steps: with 4,000 images and 40 epochs one seed in 200
stopped at 98.65%, with 8,000 images and 25 epochs every seed reached 99%.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from . import data
from .layers import SigmoidBCE, sigmoid
from .network import Network, init_params
from .validate import InputError

EVAL_BATCH = 4096


@dataclass(frozen=True)
class TrainOptions:
    train_size: int = 8000
    test_size: int = 2000
    epochs: int = 25
    lr: float = 0.3
    batch_size: int = 32
    seed: int = 0

    def to_dict(self):
        return asdict(self)


class TrainingDiverged(InputError):
    """Training broke down for good: a number overflowed, or the ReLU died."""


def make_datasets(options):
    """(train_images, train_labels, test_images, test_labels) drawn from the seed's data stream."""
    rng = data.random_streams(options.seed)[0]
    train_images, train_labels = data.generate(options.train_size, rng)
    test_images, test_labels = data.generate(options.test_size, rng)
    return train_images, train_labels, test_images, test_labels


def fresh_test_set(count, seed):
    """Images for ``evaluate`` when no data file is given: a stream of their own.

    Not the training stream, so that ``evaluate --seed S`` never tests a model
    on the very images ``train --seed S`` learned from.
    """
    return data.generate(count, data.random_streams(seed, 4)[3])


def confusion_matrix(labels, probabilities):
    """2x2 counts: rows the true class, columns the predicted class (0 = cross, 1 = rectangle)."""
    predicted = (probabilities > 0.5).astype(np.int64)
    return np.bincount(2 * labels + predicted, minlength=4).reshape(2, 2)


def evaluate(network, images, labels):
    """Mean loss, accuracy, P(rectangle) per image, and ``relu_alive`` on a data set.

    ``relu_alive`` is the fraction of images for which some conv_pre entry is
    positive.  At 0 the ReLU passes no gradient for any image: the conv layer
    can never learn again (a dead ReLU).
    """
    logits, alive = [], 0
    for start in range(0, len(images), EVAL_BATCH):
        logits.append(network.logits(images[start : start + EVAL_BATCH]))
        alive += int((network.conv_pre > 0).any(axis=(1, 2, 3)).sum())
    logits = np.concatenate(logits)
    loss = float(SigmoidBCE().forward(logits, labels))  # exact from the logits, however confident
    probabilities = sigmoid(logits[:, 0])
    accuracy = float(np.mean((probabilities > 0.5) == labels))
    return {"loss": loss, "accuracy": accuracy, "probabilities": probabilities, "relu_alive": alive / len(images)}


def sgd_step(network, images, labels, lr):
    """Forward, loss, backward, update: one step of plain SGD.  Returns the batch loss."""
    loss = network.loss(images, labels)
    grads = network.backward(image_grad=False)
    for name, param in network.params.items():
        param -= lr * grads[name]
    return loss


def train(arch, options=TrainOptions(), on_epoch=None):
    """Train a fresh network; returns a dict with the network, per-epoch history and final metrics.

    ``on_epoch(epoch, row)`` is called after every epoch with that epoch's
    train/test loss and accuracy (for a progress display).  Raises
    ``TrainingDiverged`` if a number overflows or the ReLU dies.
    """
    _, param_rng, shuffle_rng = data.random_streams(options.seed, 3)
    train_images, train_labels, test_images, test_labels = make_datasets(options)
    network = Network(arch, init_params(arch, param_rng))
    history = []
    seconds = 0.0
    for epoch in range(1, options.epochs + 1):
        start = time.perf_counter()
        order = shuffle_rng.permutation(options.train_size)
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                for first in range(0, options.train_size, options.batch_size):
                    batch = order[first : first + options.batch_size]
                    sgd_step(network, train_images[batch], train_labels[batch], options.lr)
        except FloatingPointError as error:
            raise TrainingDiverged(
                f"training diverged in epoch {epoch} ({error}): the learning rate {options.lr:g} is "
                f"probably too large (the default is {TrainOptions.lr})"
            ) from None
        seconds += time.perf_counter() - start
        train_metrics = evaluate(network, train_images, train_labels)
        test_metrics = evaluate(network, test_images, test_labels)
        row = {
            "epoch": epoch,
            "train_loss": train_metrics["loss"],
            "train_accuracy": train_metrics["accuracy"],
            "test_loss": test_metrics["loss"],
            "test_accuracy": test_metrics["accuracy"],
            "relu_alive": train_metrics["relu_alive"],
        }
        history.append(row)
        if row["relu_alive"] == 0:
            raise TrainingDiverged(
                f"training stopped in epoch {epoch}: the ReLU died (conv_pre <= 0 for every training image), "
                f"so the conv layer gets no gradient and can never learn again; the learning rate "
                f"{options.lr:g} is probably too large (the default is {TrainOptions.lr})"
            )
        if on_epoch is not None:
            on_epoch(epoch, row)
    return {
        "network": network,
        "history": history,
        "seconds": seconds,
        **{key: value for key, value in history[-1].items() if key != "epoch"},
    }
