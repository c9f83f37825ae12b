"""The processor time of one pass (forward and backward) by layer, on one thread: what a step costs, part by part.

    python benchmarks/profile_pass.py --net digits --images 16 --dtype float32

Processor time of this thread alone (BLAS held to one thread), so that a
machine busy with other work changes it far less than the time on the clock;
the passes of a step run side by side on the cores (``train.on_cores``), each
costing this.  Runs on any version's ``src`` (PYTHONPATH=OTHER/src) to compare.
"""

import argparse
import time
from collections import defaultdict

import numpy as np
from bench_train_step import NETWORKS
from threadpoolctl import threadpool_limits

from cnn_backprop.memory import keep_freed_memory
from cnn_backprop.network import Network, init_params


def timed(method, key, totals):
    def wrapper(*args):
        start = time.thread_time_ns()
        result = method(*args)
        totals[key] += time.thread_time_ns() - start
        return result

    return wrapper


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", default="digits", help="the start of a network's name in make bench's table")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--passes", type=int, default=500)
    args = parser.parse_args()
    label, arch = next((label, arch) for label, arch in NETWORKS.items() if label.startswith(args.net))
    keep_freed_memory()
    rng = np.random.default_rng(0)
    params = {name: value.astype(args.dtype) for name, value in init_params(arch, rng).items()}
    images = rng.uniform(0, 1, (args.images, arch.channels, arch.image_size, arch.image_size)).astype(args.dtype)
    labels = rng.integers(0, arch.classes, args.images)
    network, totals = Network(arch, params, image_grad=False), defaultdict(int)
    for named, layer in zip(arch.named, network.layers):
        layer.forward = timed(layer.forward, f"{named.name} forward", totals)
        layer.backward = timed(layer.backward, f"{named.name} backward", totals)

    def one_pass():
        network.loss(images, labels)
        network.backward()

    with threadpool_limits(1, "blas"):
        for _ in range(20):
            one_pass()
        totals.clear()
        start = time.thread_time_ns()
        for _ in range(args.passes):
            one_pass()
        whole = (time.thread_time_ns() - start) / args.passes
    print(f"{label}, {args.images} images, {args.dtype}: {whole / 1e3:.0f} us of processor time a pass")
    for key, spent in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {key:<22} {spent / args.passes / 1e3:7.1f} us")
    print(f"  {'other':<22} {(whole - sum(totals.values()) / args.passes) / 1e3:7.1f} us")


if __name__ == "__main__":
    main()
