"""Train and test any network with mini-batch SGD: the notebook's "full implementation", and more.

One loop, configuration you can see.  ``train`` initialises the network, runs
plain SGD over a ``data.Dataset``, and evaluates the training and the test set
after every epoch.  Everything random comes from one seed, so the same options
give the same model, bit for bit.

Why the defaults for the seed's shapes (measured by benchmarks/seed_sweep.py,
see docs/any-cnn.md): the seed's initialisation makes every weight positive, so at
the start the network calls every image a rectangle with z around 7.  The
crosses then send large gradients that push the conv kernel and bias down;
with a large step (lr 1, or any lr with momentum) they overshoot until
conv_pre < 0 for every image, the ReLU passes no gradient, and the network is
stuck at 50% for good (a dead ReLU).  lr 0.3 with batches of 32 never died in
our sweeps; the network then underfits rather than overfits (train and test
accuracy agree), so what it needs is steps: with 4,000 images and 40 epochs one
seed in 200 stopped at 98.65%, with 8,000 images and 25 epochs every seed
reached 99%.  For the digits, see ``SCHEDULES``.
"""

import contextlib
import functools
import math
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
from threadpoolctl import ThreadpoolController

from . import data
from .memory import keep_freed_memory
from .network import INITS, Network, default_init, init_params
from .validate import InputError

# The values one forward pass may produce, in training and in evaluation: a pass over more images is split
# into chunks, whose arrays then stay in the processor's cache.  About 64 images of 28x28 with 8 filters, the
# fastest per image there and on the other networks of `make bench` (`--pass-numbers` changes it).
PASS_NUMBERS = 2**20


def _option(default, help, metavar=None, shows_default=True):
    """A field of TrainOptions that the command line offers as --NAME: what it does (``help``), and whether the
    command adds the defaults of each schedule to that."""
    return field(default=default, metadata={"help": help, "metavar": metavar, "shows_default": shows_default})


@dataclass(frozen=True)
class TrainOptions:
    """A training run.  The defaults are the schedule for the seed's shapes."""

    data: str = "shapes"  # the data set: shapes, digits, an .npz file or an ImageFolder folder (see data.py)
    # shapes: images generated for training; other data has its own split, which train() reports
    train_size: int = _option(8000, "shapes generated for training", "N")
    test_size: int = _option(2000, "shapes generated for testing", "N")
    # the small networks underfit, so steps matter most
    epochs: int = _option(25, "passes over the training set", "E")
    lr: float = _option(0.3, "SGD learning rate")  # above about 1 the seed network's ReLU dies (the module's docstring)
    # heavy-ball momentum; any momentum kills the seed network's ReLU
    momentum: float = _option(0.0, "SGD momentum, 0 for plain SGD", "M")
    batch_size: int = _option(32, "images per SGD step", "B")  # small batches give many steps per epoch
    # augmentation: a digit moved by a pixel is the same digit (see shifted)
    shift: int = _option(0, "move each training image by up to P pixels at random, each time it is used", "P")
    lr_decay: str = _option("none", "cosine: the step size falls from lr to 0 along a half cosine")
    seed: int = 0  # data, initialisation and shuffling
    # network.INITS; empty: the output's default (the seed's for sigmoid, PyTorch's for softmax)
    init: str = _option("", "initialisation: " + "; ".join(f"{k}: {v}" for k, v in INITS.items()) + " (default: seed "
                        "for sigmoid networks, pytorch for softmax ones)", shows_default=False)  # fmt: skip
    # Training's own precision: what it shows is the accuracy, which float32 reaches as well as float64 (the
    # digits' seeds, docs/performance.md), at twice the speed of its matrix products; the shapes keep float64,
    # which trains the seed network to the last digit the notebook's float64 would.  Every number the tool shows
    # or checks (walkthrough, check, gradcheck, the page) is float64, and so is the model file.
    dtype: str = _option("float64", "the precision of training's arithmetic: float32 is about twice as fast on the "
                         "digits; the model file is float64 either way, and so is every number the walkthrough, "
                         "check and gradcheck show")  # fmt: skip

    def __post_init__(self):
        for name, value in asdict(self).items():
            message = option_error(name, value)
            if message:
                raise InputError(f"{name} {message}, got {value!r}")

    def to_dict(self):
        return asdict(self)


LR_DECAYS = ("none", "cosine")
DTYPES = ("float64", "float32")


def _whole(minimum):
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _number(test):
    return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool) and test(value)


# What each training option accepts, and what to say when it does not: the one rule that TrainOptions and the
# command line's options both check.
OPTION_RULES = {
    "data": (lambda value: isinstance(value, str) and value != "", "must name a data set"),
    "train_size": (_whole(1), "must be >= 1"),
    "test_size": (_whole(1), "must be >= 1"),
    "epochs": (_whole(1), "must be >= 1"),
    "lr": (_number(lambda value: 0 < value < math.inf), "must be a positive number"),
    "momentum": (_number(lambda value: 0 <= value < 1), "must be at least 0 and below 1"),
    "batch_size": (_whole(1), "must be >= 1"),
    "shift": (_whole(0), "must be >= 0"),
    "lr_decay": (lambda value: value in LR_DECAYS, f"must be one of {', '.join(LR_DECAYS)}"),
    "seed": (_whole(-(2**63)), "must be a whole number"),
    "init": (lambda value: value in ("", *INITS), f"must be one of {', '.join(INITS)} (or empty for the default)"),
    "dtype": (lambda value: value in DTYPES, f"must be one of {', '.join(DTYPES)}"),
}


# The fields of TrainOptions the command line offers, and the values each may take where they are few.
COMMAND_LINE = tuple(f for f in fields(TrainOptions) if f.metadata)
CHOICES = {"lr_decay": LR_DECAYS, "init": tuple(INITS), "dtype": DTYPES}


def option_error(name, value):
    """What is wrong with ``value`` for the training option ``name``, or None."""
    accepts, message = OPTION_RULES[name]
    return None if accepts(value) else message


# The schedule of each source; files and folders get the digits' (a softmax network on small images).
# Digits: with plain SGD the default network stops between 96% and 99% depending on the split and the
# last steps; momentum, a cosine decay that settles the last epochs, and shifts of one pixel (1,438
# training images are few) reach at least 98% for seeds 0-19 (benchmarks/seed_sweep.py --data digits); float32,
# as fast as the same network in PyTorch's float32 and more, reaches it as well as float64 does.
SCHEDULES = {
    "shapes": TrainOptions(),
    "digits": TrainOptions(
        data="digits", epochs=80, lr=0.03, momentum=0.9, shift=1, lr_decay="cosine", dtype="float32"
    ),
}


def schedule(source):
    """The default TrainOptions for a data source."""
    return SCHEDULES.get(source, replace(SCHEDULES["digits"], data=source))


class TrainingDiverged(InputError):
    """Training broke down for good: a number overflowed, or a ReLU died."""


def confusion_matrix(labels, predicted, classes):
    """KxK counts: rows the true class, columns the predicted class."""
    return np.bincount(classes * labels + predicted, minlength=classes * classes).reshape(classes, classes)


def evaluate(network, images, labels):
    """Mean loss, accuracy, P(class) per image (N, K), predicted class, and ``relu_alive`` on a data set.

    ``relu_alive`` is, for the ReLU layer that is off most often, the fraction
    of images for which some of its inputs is positive.  At 0 that ReLU passes
    no gradient for any image: nothing before it can ever learn again (a dead ReLU).
    """
    arch = network.arch
    parts = pass_parts(len(images), images_per_pass(arch))

    def forward(twin, part):
        return twin.logits(images[part]), twin.relu_alive().sum(axis=1)

    training = network.training
    networks = twins(network) if len(parts) > 1 else [network]
    for each in networks:  # a batch norm uses its running statistics, so that the chunks do not matter
        each.eval()
    try:
        chunks = on_cores(network, parts, forward)
    finally:
        for each in networks:
            each.train(training)
    logits = np.concatenate([chunk_logits for chunk_logits, _ in chunks])
    alive = sum((chunk_alive for _, chunk_alive in chunks), 0)
    probabilities, loss = network.head(logits, labels)  # the fused output and loss: exact however confident
    predicted = probabilities.argmax(axis=1)
    return {
        "loss": loss,
        "accuracy": float(np.mean(predicted == labels)),
        "probabilities": probabilities,
        "predicted": predicted,
        "relu_alive": float(np.min(alive, initial=len(images))) / len(images),
    }


def learning_rate(options, step, steps):
    """The step size of step ``step`` (0-based) of ``steps``: lr, or lr * (1 + cos(pi * step / steps)) / 2."""
    if options.lr_decay == "cosine":
        return options.lr * 0.5 * (1 + math.cos(math.pi * step / steps))
    return options.lr


def shifted(images, rng, most):
    """Each image moved by a random whole number of pixels, -most..most down and across, zeros moved in.

    A standard augmentation: a digit moved by a pixel is the same digit, so the
    network learns that instead of memorising where the strokes are.
    """
    n, channels, height, width = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (most, most), (most, most)))
    rows = rng.integers(0, 2 * most + 1, n)[:, None] + np.arange(height)
    cols = rng.integers(0, 2 * most + 1, n)[:, None] + np.arange(width)
    image, channel = np.arange(n)[:, None, None, None], np.arange(channels)[None, :, None, None]
    return padded[image, channel, rows[:, None, :, None], cols[:, None, None, :]]


def images_per_pass(arch, pass_numbers=PASS_NUMBERS):
    """How many images one pass takes, in a training step or in evaluation: those whose values fit PASS_NUMBERS."""
    return max(1, pass_numbers // values_per_image(arch))


def values_per_image(arch):
    """The values one image's forward pass produces, every layer's output."""
    return sum(math.prod(named.out_shape) for named in arch.named)


def batch_dependent(arch):
    """Whether a batch's images change each other's outputs (a batch norm's statistics): then a step is one pass."""
    return any(named.kind_of.batch_dependent for named in arch.named)


# The cores this process may run on.  A batch's passes run side by side, one per core.
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def one_pass(network, images, labels):
    """The mean loss of ``images`` and dL/d(each parameter), by name: one forward and one backward pass."""
    loss, backward = network.loss(images, labels), network.backward()
    return loss, {name: backward[name] for name in network.params}


def pass_parts(batch, most):
    """The passes of a batch of ``batch`` images, at most ``most`` images each: a list of slices.

    One pass if the batch fits, on the caller's thread: split among the cores,
    a pass that fits spends more on handing Python's lock between the threads,
    at each of its NumPy calls, than the second core gives (the default digits
    batch of 32 took 3.2 ms a step as two passes of 16 on an idle machine, about
    2 ms as one: docs/performance.md).  Otherwise as many passes as it takes, rounded up to a multiple of
    the cores, of one size, so that no core waits for another.
    """
    needed = -(-batch // most)
    if needed == 1:
        return [slice(0, batch)]
    count = -(-needed // CORES) * CORES
    size = -(-batch // count)
    return [slice(first, first + size) for first in range(0, batch, size)]


def batch_gradients(network, images, labels, chunk=None):
    """The mean loss of a batch and dL/d(each parameter), by name, computed ``chunk`` images at a time.

    The batch's loss is the mean of the chunks' mean losses weighted by their
    share of the batch, and so is its gradient: the same numbers as one pass over
    the whole batch, up to rounding, from arrays small enough to stay in the
    processor's cache.  The chunks run side by side on the cores (``on_cores``),
    and add up in their order.  ``chunk`` (the most images a pass takes)
    defaults to ``images_per_pass``.
    """
    arch = network.arch
    if batch_dependent(arch):
        parts = [slice(0, len(images))]
    else:
        parts = pass_parts(len(images), chunk or images_per_pass(arch))
    if len(parts) == 1:  # one pass: its gradients as they are, with no weighting
        return one_pass(network, images, labels)
    loss, grads = 0.0, dict.fromkeys(network.params, 0.0)
    for part, (part_loss, part_grads) in zip(parts, passes(network, images, labels, parts)):
        share = len(images[part]) / len(images)
        loss += share * part_loss
        for name in grads:
            grads[name] = grads[name] + share * part_grads[name]
    return loss, grads


def passes(network, images, labels, parts):
    """``one_pass`` over each part of the images (a list of slices), side by side on the cores; a list, in order."""
    return on_cores(network, parts, lambda twin, part: one_pass(twin, images[part], labels[part]))


def on_cores(network, parts, work):
    """``work(twin, part)`` for each part (a list), CORES at a time; the results, a list in the order of the parts.

    Part i runs on twin i % CORES of ``network`` (``twins``): layers of its own
    (they keep what backward needs) on the very same parameter arrays.  The
    caller's thread runs twin 0's parts (the network itself), the pool's threads
    the others'.  NumPy leaves Python's lock while it computes, so the threads
    share the cores; BLAS is held to one thread meanwhile (``blas_held``), as its
    own threads would then compete with them.  Each thread computes under the
    caller's ``np.errstate``.
    """
    if len(parts) == 1:
        return [work(network, parts[0])]
    networks, errors = twins(network)[: len(parts)], np.geterr()

    def run(i):
        return [work(networks[i], part) for part in parts[i :: len(networks)]]

    def run_elsewhere(i):
        with np.errstate(**errors):
            return run(i)

    with blas_held():
        others = [_threads().submit(run_elsewhere, i) for i in range(1, len(networks))]
        try:
            mine = run(0)
        except BaseException:
            wait(others)  # the other threads finish with the twins before the error goes up
            raise
        results = [mine, *(other.result() for other in others)]
    return [results[i % len(networks)][i // len(networks)] for i in range(len(parts))]


_TWINS = weakref.WeakKeyDictionary()


def twins(network):
    """``network`` and CORES - 1 twins of it, made once per network."""
    if network not in _TWINS:
        twin = functools.partial(Network, network.arch, network.params, network.image_grad, network.buffers)
        _TWINS[network] = [twin() for _ in range(CORES - 1)]
    return [network, *_TWINS[network]]


@functools.cache
def _threads():
    """The threads that run the passes besides the caller's."""
    return ThreadPoolExecutor(max(1, CORES - 1), thread_name_prefix="cnn-backprop-pass")


_held = threading.local()


@contextlib.contextmanager
def blas_held():
    """BLAS held to one thread while this lasts: the passes share the cores among themselves.

    ``train`` holds it for the whole run, so that a step pays nothing for it (it
    takes 20 us each time); inside that, holding it again costs nothing.  BLAS's
    own threads would compete with the passes, and on a busy machine they wait
    for each other by spinning: a step can then take ten times as long.
    """
    if getattr(_held, "on", False):
        yield
        return
    with _blas().limit(limits=1, user_api="blas"):
        _held.on = True
        try:
            yield
        finally:
            _held.on = False


@functools.cache
def _blas():
    """The BLAS libraries' thread settings (found once: finding them takes 0.3 ms)."""
    return ThreadpoolController()


def sgd_step(network, images, labels, lr, momentum=0.0, velocity=None, chunk=None):
    """Forward, loss, backward, update: one step of SGD, ``chunk`` images a pass.  Returns the batch loss.

    With momentum, ``velocity`` (a dict kept across steps) accumulates
    v = momentum * v + g and the step is lr * v, as ``torch.optim.SGD`` does.
    """
    loss, grads = batch_gradients(network, images, labels, chunk)
    for name, param in network.params.items():
        step = grads[name]
        if momentum:
            step = velocity[name] = momentum * velocity[name] + step if name in velocity else step
        param -= lr * step
    return loss


def train(arch, options=TrainOptions(), dataset=None, on_epoch=None):
    """Train a fresh network; returns a dict with the network, the options it used, per-epoch history and metrics.

    ``dataset`` is ``data.load(options.data, ...)`` unless given (the command
    line loads it first to learn the input's size).  ``on_epoch(epoch, row)``
    is called after every epoch with that epoch's train/test loss and accuracy
    (for a progress display).  Raises ``TrainingDiverged`` if a number
    overflows or a ReLU dies.
    """
    if dataset is None:
        dataset = data.load(options.data, options.seed, options.train_size, options.test_size)
    # What this run uses: the data's own sizes (digits has its split), the initialisation chosen for the network.
    options = replace(options, train_size=len(dataset.train_images), test_size=len(dataset.test_images),
                      init=options.init or default_init(arch))  # fmt: skip
    keep_freed_memory()
    # Streams 0 and 3 are the data's and evaluate's (data.py); 1, 2 and 4 are training's own.
    _, param_rng, shuffle_rng, _, shift_rng = data.random_streams(options.seed, 5)
    params = {name: value.astype(options.dtype) for name, value in init_params(arch, param_rng, options.init).items()}
    network = Network(arch, params, image_grad=False)
    chunk = images_per_pass(arch)
    images, labels = dataset.train_images.astype(options.dtype), dataset.train_labels
    test_images = dataset.test_images.astype(options.dtype)
    steps, step = options.epochs * -(-len(images) // options.batch_size), 0
    velocity = {}
    history = []
    seconds = 0.0
    with blas_held():  # for the whole run: the passes share the cores (on_cores)
        for epoch in range(1, options.epochs + 1):
            start = time.perf_counter()
            order = shuffle_rng.permutation(len(images))
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise"):
                    for first in range(0, len(images), options.batch_size):
                        batch = order[first : first + options.batch_size]
                        inputs = shifted(images[batch], shift_rng, options.shift) if options.shift else images[batch]
                        lr = learning_rate(options, step, steps)
                        sgd_step(network, inputs, labels[batch], lr, options.momentum, velocity, chunk)
                        step += 1
            except FloatingPointError as error:
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch} ({error}): the learning rate {options.lr:g} is "
                    f"probably too large (the default is {schedule(options.data).lr:g})"
                ) from None
            seconds += time.perf_counter() - start
            train_metrics = evaluate(network, images, labels)
            test_metrics = evaluate(network, test_images, dataset.test_labels)
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
                    f"training stopped in epoch {epoch}: a ReLU died (its input <= 0 for every training image), "
                    f"so nothing before it gets a gradient and can never learn again; the learning rate "
                    f"{options.lr:g} is probably too large (the default is {schedule(options.data).lr:g})"
                )
            if on_epoch is not None:
                on_epoch(epoch, row)
    return {
        "network": network,
        "options": options,
        "history": history,
        "seconds": seconds,
        **{key: value for key, value in history[-1].items() if key != "epoch"},
    }
