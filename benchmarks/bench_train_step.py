"""Time one SGD training step (forward, loss, backward, update) of cnn-backprop and of PyTorch.

Both run in this one process on the same data, interleaved repeat by repeat so
that a busy moment of the machine hits both alike; each figure is the median
of ``--repeats`` repeats, each repeat timing enough steps to last ~0.2 s.
Nothing is cached between repeats: every step recomputes everything.

    make bench            # or: python benchmarks/bench_train_step.py --help
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from cnn_backprop import data, export
from cnn_backprop.architecture import Architecture
from cnn_backprop.data import generate
from cnn_backprop.network import Network, init_params
from cnn_backprop.train import TrainOptions, sgd_step, train

SEED_NET = Architecture.parse()
LARGE_NET = Architecture.parse("conv 8x3x3 pad 1, relu, maxpool 2, dense 1, sigmoid", 1, 28)


def torch_model(arch, params, dtype):
    """The same network as the nn.Sequential `cnn-backprop export` writes, from the same parameter values."""
    namespace = {}
    exec(export.source(arch), namespace)
    model = namespace["build"](None)
    model.load_state_dict({name: torch.from_numpy(value) for name, value in export.state_dict(arch, params).items()})
    return model.to(dtype)


def torch_stepper(arch, params, images, labels, dtype, lr):
    model = torch_model(arch, params, dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.from_numpy(images).to(dtype)
    y = torch.from_numpy(labels).to(dtype).reshape(-1, 1)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def numpy_stepper(arch, params, images, labels, dtype, lr):
    network = Network(arch, {name: value.astype(dtype) for name, value in params.items()}, image_grad=False)
    images = images.astype(dtype)

    def step():
        sgd_step(network, images, labels, lr)

    return step


def steps_per_repeat(step, seconds=0.2):
    start = time.perf_counter()
    step()
    once = max(time.perf_counter() - start, 1e-6)
    return max(3, int(seconds / once))


def time_steps(step, count):
    start = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - start) / count


def bench_step(arch, batch, repeats, lr=0.01):
    """Median seconds per step for each engine, same data and starting parameters."""
    rng = np.random.default_rng(batch)
    params = init_params(arch, rng)
    if arch == SEED_NET:
        images, labels = generate(batch, rng)
    else:
        images = rng.uniform(0, 1, (batch, arch.channels, arch.image_size, arch.image_size))
        labels = rng.integers(0, 2, batch)
    engines = {
        "cnn-backprop float32": numpy_stepper(arch, params, images, labels, np.float32, lr),
        "torch float32": torch_stepper(arch, params, images, labels, torch.float32, lr),
        "cnn-backprop float64": numpy_stepper(arch, params, images, labels, np.float64, lr),
        "torch float64": torch_stepper(arch, params, images, labels, torch.float64, lr),
    }
    counts = {}
    for name, step in engines.items():
        for _ in range(3):
            step()  # warm up: allocator, BLAS threads, PyTorch's dispatcher
        counts[name] = steps_per_repeat(step)
    samples = {name: [] for name in engines}
    for _ in range(repeats):
        for name, step in engines.items():
            samples[name].append(time_steps(step, counts[name]))
    return {name: statistics.median(times) for name, times in samples.items()}


def torch_train(options, arch):
    """The default training run, same data, same order of batches, in PyTorch float32."""
    _, param_rng, shuffle_rng = data.random_streams(options.seed, 3)
    dataset = data.load(options.data, options.seed, options.train_size, options.test_size)
    train_images, train_labels = dataset.train_images, dataset.train_labels
    model = torch_model(arch, init_params(arch, param_rng), torch.float32)
    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.from_numpy(train_images).float()
    y = torch.from_numpy(train_labels).float().reshape(-1, 1)
    start = time.perf_counter()
    for _ in range(options.epochs):
        order = torch.from_numpy(shuffle_rng.permutation(options.train_size))
        for first in range(0, options.train_size, options.batch_size):
            batch = order[first : first + options.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return time.perf_counter() - start


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="repeats per measurement; the median is shown")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256, 4096])
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(
        f"one SGD step, median of {args.repeats} repeats; samples/s (higher is better); "
        "ratio = cnn-backprop speed / PyTorch speed in the same precision (above 1: cnn-backprop is faster)\n"
    )
    print("| network | batch | cnn-backprop f32 | torch f32 | ratio f32 | cnn-backprop f64 | torch f64 | ratio f64 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for label, arch in (("seed 5x5, 1 filter", SEED_NET), ("28x28, 8 filters", LARGE_NET)):
        for batch in args.batch_sizes:
            t = bench_step(arch, batch, args.repeats)
            rows.append({"network": label, "batch": batch, "seconds_per_step": t})
            cells = []
            for bits in ("32", "64"):
                ours, theirs = t[f"cnn-backprop float{bits}"], t[f"torch float{bits}"]
                cells.append(f"{batch / ours:,.0f} | {batch / theirs:,.0f} | **{theirs / ours:.2f}**")
            print(f"| {label} | {batch} | {' | '.join(cells)} |", flush=True)

    options = TrainOptions()
    ours = statistics.median(train(SEED_NET, options)["seconds"] for _ in range(3))
    theirs = statistics.median(torch_train(options, SEED_NET) for _ in range(3))
    print(
        f"\nfull default training run ({options.epochs} epochs x {options.train_size} images, batch "
        f"{options.batch_size}; training steps only): cnn-backprop {ours:.2f} s, "
        f"PyTorch float32 {theirs:.2f} s, ratio {theirs / ours:.2f}"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"machine": machine(), "steps": rows, "train": {"cnn_backprop": ours, "torch_float32": theirs}},
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
