"""Where one SGD step of cnn-backprop spends its time: each layer's forward and backward, and the update.

    python benchmarks/profile_step.py --net digits --batch 32 --dtype float64

Each layer's ``forward`` and ``backward`` is timed by wrapping it, over enough
steps to last about a second; the rest of the step (the loss, the update,
splitting the batch into passes) is "other".  A batch of several passes runs
them side by side on the cores (``train.passes``): the layer times then add up
over those threads, and the shares are of the step's time on all of them.  The
matrix products are timed alone, at the sizes of the step's conv layers, to
show what the arithmetic costs.
"""

import argparse
import threading
import time
from collections import defaultdict

import numpy as np
from bench_train_step import NETWORKS

from cnn_backprop.memory import keep_freed_memory
from cnn_backprop.network import Network, init_params
from cnn_backprop.train import CORES, images_per_pass, pass_parts, sgd_step, twins


def timed(method, key, totals, lock):
    def wrapper(*args):
        start = time.perf_counter()
        result = method(*args)
        with lock:
            totals[key] += time.perf_counter() - start
        return result

    return wrapper


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", default="digits", help="the start of a network's name in make bench's table")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    args = parser.parse_args()
    label, arch = next((label, arch) for label, arch in NETWORKS.items() if label.startswith(args.net))
    keep_freed_memory()
    rng = np.random.default_rng(0)
    params = {name: value.astype(args.dtype) for name, value in init_params(arch, rng).items()}
    images = rng.uniform(0, 1, (args.batch, arch.channels, arch.image_size, arch.image_size)).astype(args.dtype)
    labels = rng.integers(0, arch.classes, args.batch)
    network = Network(arch, params, image_grad=False)
    totals, lock = defaultdict(float), threading.Lock()
    for twin in twins(network):
        for named, layer in zip(arch.named, twin.layers):
            layer.forward = timed(layer.forward, f"{named.name} forward", totals, lock)
            layer.backward = timed(layer.backward, f"{named.name} backward", totals, lock)
    parts = pass_parts(args.batch, images_per_pass(arch))
    per_pass, threads = parts[0].stop - parts[0].start, min(CORES, len(parts))
    for _ in range(5):
        sgd_step(network, images, labels, 0.01)
    totals.clear()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < 1.0:
        sgd_step(network, images, labels, 0.01)
        steps += 1
    step = (time.perf_counter() - start) / steps
    print(f"{label}, batch {args.batch}, {args.dtype}, {images_per_pass(arch):,} images per pass: "
          f"{step * 1e3:.3f} ms a step ({steps} steps)"
          + (f", passes on {threads} threads: times summed over them" if threads > 1 else ""))  # fmt: skip
    for key, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {key:<22} {seconds / steps * 1e3:7.3f} ms  {seconds / steps / (step * threads):6.1%}")
    other = step * threads - sum(totals.values()) / steps
    print(f"  {'other':<22} {other * 1e3:7.3f} ms  {other / (step * threads):6.1%}")
    print("the matrix products alone, at the conv layers' sizes (forward, dL/dkernel, dL/dx):")
    for named, layer in zip(arch.named, network.layers):
        if named.kind == "conv":
            seconds = args.batch / per_pass * products_seconds(named, per_pass, layer.input_grad, args.dtype)
            print(f"  {named.name}: {seconds * 1e3:.3f} ms a step, {seconds / step:.1%} of it")


def products_seconds(named, images, input_grad, dtype, count=50):
    """Seconds of one pass's matrix products of a conv layer over ``images`` images, at the layer's sizes."""
    filters, out_h, out_w = named.out_shape
    kernel = named.param_shapes[f"{named.name}_kernel"]
    cols = np.ones((images * out_h * out_w, int(np.prod(kernel[1:])) + 1), dtype=dtype)  # windows and the 1
    grad, weights = np.ones((len(cols), filters), dtype=dtype), np.ones((filters, cols.shape[1]), dtype=dtype)
    start = time.perf_counter()
    for _ in range(count):
        cols @ weights.T
        grad.T @ cols
        if input_grad:
            grad @ weights[:, :-1]
    return (time.perf_counter() - start) / count


if __name__ == "__main__":
    main()
