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
(a dead ReLU).  lr 0.3 with batches of 32 never died in our sweeps and
reaches 99% on every seed we tried, given enough steps.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np

from . import data
from .network import Network, init_params
from .validate import InputError

EVAL_BATCH = 4096


@dataclass(frozen=True)
class TrainOptions:
    train_size: int = 4000
    test_size: int = 2000
    epochs: int = 40
    lr: float = 0.3
    batch_size: int = 32
    seed: int = 0

    def to_dict(self):
        return asdict(self)


class TrainingDiverged(InputError):
    """The loss or the parameters stopped being finite numbers."""


def make_datasets(options):
    """(train_images, train_labels, test_images, test_labels) drawn from the seed's data stream."""
    rng = data.random_streams(options.seed)[0]
    train_images, train_labels = data.generate(options.train_size, rng)
    test_images, test_labels = data.generate(options.test_size, rng)
    return train_images, train_labels, test_images, test_labels


def evaluate(network, images, labels):
    """Mean loss, accuracy and the predicted probabilities P(rectangle) on a data set."""
    probabilities = np.concatenate([network.predict_proba(images[start:start + EVAL_BATCH])
                                    for start in range(0, len(images), EVAL_BATCH)])
    p = np.clip(probabilities, 1e-300, 1.0)  # only for the log; never changes a non-zero value
    q = np.clip(1.0 - probabilities, 1e-300, 1.0)
    loss = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(q)))
    accuracy = float(np.mean((probabilities > 0.5) == labels))
    return {"loss": loss, "accuracy": accuracy, "probabilities": probabilities}


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
    ``TrainingDiverged`` if the loss becomes infinite or NaN.
    """
    _, param_rng, shuffle_rng = data.random_streams(options.seed, 3)
    train_images, train_labels, test_images, test_labels = make_datasets(options)
    network = Network(arch, init_params(arch, param_rng))
    history = []
    seconds = 0.0
    for epoch in range(1, options.epochs + 1):
        start = time.perf_counter()
        order = shuffle_rng.permutation(options.train_size)
        for first in range(0, options.train_size, options.batch_size):
            batch = order[first:first + options.batch_size]
            loss = sgd_step(network, train_images[batch], train_labels[batch], options.lr)
            if not np.isfinite(loss):
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch}: the loss became {loss}; the learning rate "
                    f"{options.lr:g} is probably too large (the default is {TrainOptions.lr})")
        seconds += time.perf_counter() - start
        train_metrics = evaluate(network, train_images, train_labels)
        test_metrics = evaluate(network, test_images, test_labels)
        row = {"epoch": epoch, "train_loss": train_metrics["loss"], "train_accuracy": train_metrics["accuracy"],
               "test_loss": test_metrics["loss"], "test_accuracy": test_metrics["accuracy"]}
        if not all(np.isfinite(p).all() for p in network.params.values()):
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the parameters overflowed; the learning rate "
                f"{options.lr:g} is probably too large (the default is {TrainOptions.lr})")
        history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, row)
    return {"network": network, "history": history, "seconds": seconds,
            **{key: value for key, value in history[-1].items() if key != "epoch"}}
