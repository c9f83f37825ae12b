"""Time one SGD training step (forward, loss, backward, update) of cnn-backprop and of PyTorch.

Both run in this one process on the same data, interleaved repeat by repeat so
that a busy moment of the machine hits both alike; each figure is the median
of ``--repeats`` repeats, each repeat timing enough steps to last ~0.2 s.
Nothing is cached between repeats: every step recomputes everything.  Then the
whole default training runs, their steps in this process and the whole
command as a process of its own beside the same program in PyTorch
(torch_train.py).  Every ratio is cnn-backprop's time over PyTorch's.

    make bench            # or: python benchmarks/bench_train_step.py --help
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from functools import partial

import numpy as np
import torch
from torch_train import torch_loss, torch_model, torch_train

from cnn_backprop import data
from cnn_backprop.architecture import Architecture, default_spec
from cnn_backprop.data import generate
from cnn_backprop.memory import keep_freed_memory
from cnn_backprop.network import Network, init_params
from cnn_backprop.train import PASS_NUMBERS, images_per_pass, schedule, sgd_step, train

SEED_NET = Architecture.parse()
NETWORKS = {
    "seed 5x5, 1 filter": SEED_NET,
    "digits default (8x8, 32/64 filters)": Architecture.parse(default_spec("digits", 10), 1, 8),
    "28x28, 8 filters": Architecture.parse("conv 8x3x3 pad 1, relu, maxpool 2, dense 1, sigmoid", 1, 28),
    "28x28, conv 8 + conv 16": Architecture.parse(
        "conv 8x3x3 pad 1, relu, maxpool 2, conv 16x3x3 pad 1, relu, maxpool 2, dense 10, softmax", 1, 28
    ),
}


def step_flops(arch, batch):
    """Floating-point operations of one SGD step, counted from the sizes: a multiply-add is two, and the
    backward pass costs twice the forward (dL/dweights and dL/dinput) but for the first layer's dL/dimage."""
    flops = 0
    for named in arch.named:
        if named.kind == "conv":
            f, c, k, _ = named.param_shapes[f"{named.name}_kernel"]
            forward = 2 * batch * f * c * k * k * named.out_shape[1] * named.out_shape[2]
        elif named.kind == "dense":
            forward = 2 * batch * named.out_shape[0] * named.in_shape[0]
        else:
            continue
        flops += forward * (2 if named.input == "image" else 3)
    return flops


def matmul_gflops(arch, batch, repeats=7):
    """GFLOP/s of a plain float32 matrix product the size of the step's largest one (its biggest conv's)."""
    rows, inner, cols = max(
        ((batch * n.out_shape[1] * n.out_shape[2], int(np.prod(n.param_shapes[f"{n.name}_kernel"][1:])), n.out_shape[0])
         for n in arch.named if n.kind == "conv"), key=lambda shape: shape[0] * shape[1] * shape[2])  # fmt: skip
    rng = np.random.default_rng(0)
    a, b = rng.random((rows, inner), dtype=np.float32), rng.random((inner, cols), dtype=np.float32)
    count = steps_per_repeat(lambda: a @ b)
    seconds = statistics.median(time_steps(lambda: a @ b, count) for _ in range(repeats))
    return 2 * rows * inner * cols / seconds / 1e9


def torch_stepper(arch, params, images, labels, dtype, lr):
    model = torch_model(arch, params, dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn, y = torch_loss(arch, labels, dtype)
    x = torch.from_numpy(images).to(dtype)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def numpy_stepper(arch, params, images, labels, dtype, lr, chunk):
    network = Network(arch, {name: value.astype(dtype) for name, value in params.items()}, image_grad=False)
    images = images.astype(dtype)

    def step():
        sgd_step(network, images, labels, lr, chunk=chunk)

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


def bench_step(arch, batch, repeats, chunk, lr=0.01):
    """Median seconds per step for each engine, same data and starting parameters."""
    rng = np.random.default_rng(batch)
    params = init_params(arch, rng)
    if arch == SEED_NET:
        images, labels = generate(batch, rng)
    else:
        images = rng.uniform(0, 1, (batch, arch.channels, arch.image_size, arch.image_size))
        labels = rng.integers(0, arch.classes, batch)
    engines = {
        "cnn-backprop float32": numpy_stepper(arch, params, images, labels, np.float32, lr, chunk),
        "torch float32": torch_stepper(arch, params, images, labels, torch.float32, lr),
        "cnn-backprop float64": numpy_stepper(arch, params, images, labels, np.float64, lr, chunk),
        "torch float64": torch_stepper(arch, params, images, labels, torch.float64, lr),
    }
    counts = {}
    for name, step in engines.items():
        for _ in range(3):
            step()  # warm up: allocator, BLAS threads, PyTorch's dispatcher
        counts[name] = steps_per_repeat(step)
    timed = {name: partial(time_steps, step, counts[name]) for name, step in engines.items()}
    return interleaved_medians(timed, repeats)


def interleaved_medians(runs, repeats):
    """The median of ``repeats`` results of each callable, run in turn so that a busy moment hits all alike."""
    samples = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            samples[name].append(run())
    return {name: statistics.median(results) for name, results in samples.items()}


def training_runs(arch, options, repeats=3):
    """Median seconds of the training steps of a whole run, per engine and precision, interleaved; and the images."""
    dataset = data.load(options.data, options.seed, options.train_size, options.test_size)
    engines = {
        "cnn-backprop float64": lambda: train(arch, replace(options, dtype="float64"), dataset)["seconds"],
        "torch float64": lambda: torch_train(options, arch, torch.float64, dataset)[0],
        "cnn-backprop float32": lambda: train(arch, replace(options, dtype="float32"), dataset)["seconds"],
        "torch float32": lambda: torch_train(options, arch, torch.float32, dataset)[0],
    }
    return {"images": len(dataset.train_images), **interleaved_medians(engines, repeats)}


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


def whole_commands(source, repeats=3):
    """Median wall seconds of the whole `cnn-backprop train --data SOURCE` and of the same as a PyTorch program
    (torch_train.py, float32), each its own process, interleaved: imports, data, steps and evaluations."""
    here = os.path.dirname(os.path.abspath(__file__))
    commands = {
        "cnn-backprop": [os.path.join(os.path.dirname(sys.executable), "cnn-backprop"), "train", "--data", source,
                         "--quiet"],
        "torch float32": [sys.executable, os.path.join(here, "torch_train.py"), "--data", source],
    }  # fmt: skip

    def wall(command):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start

    return interleaved_medians({name: partial(wall, command) for name, command in commands.items()}, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="repeats per measurement; the median is shown")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256, 4096])
    parser.add_argument(
        "--runs",
        nargs="*",
        default=["shapes", "digits"],
        choices=("shapes", "digits"),
        help="the data of the whole training runs and commands timed after the steps (default both)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    parser.add_argument("--pass-numbers", type=int, default=PASS_NUMBERS,
                        help=f"values one of cnn-backprop's passes may produce within a step, which sets the "
                             f"images per pass (default {PASS_NUMBERS}, train's)")  # fmt: skip
    args = parser.parse_args()
    # As `train` does: both engines then run with the allocator keeping freed memory (see memory.py).
    keep_freed_memory()

    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("cnn-backprop's images per pass within a step: " + ", ".join(
        f"{label} {images_per_pass(arch, args.pass_numbers):,}" for label, arch in NETWORKS.items()))  # fmt: skip
    print(
        f"one SGD step, median of {args.repeats} repeats, ms a step; ratio = cnn-backprop's time / PyTorch's in the "
        "same precision (at most 1: cnn-backprop is as fast or faster)\n"
    )
    print("| network | batch | cnn-backprop f32 | torch f32 | ratio f32 | cnn-backprop f64 | torch f64 | ratio f64 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for label, arch in NETWORKS.items():
        for batch in args.batch_sizes:
            t = bench_step(arch, batch, args.repeats, images_per_pass(arch, args.pass_numbers))
            rows.append({"network": label, "batch": batch, "seconds_per_step": t})
            cells = []
            for bits in ("32", "64"):
                ours, theirs = t[f"cnn-backprop float{bits}"], t[f"torch float{bits}"]
                cells.append(f"{ours * 1e3:,.3f} | {theirs * 1e3:,.3f} | **{ours / theirs:.2f}**")
            print(f"| {label} | {batch} | {' | '.join(cells)} |", flush=True)

    print(
        "\nhow far from the machine's limit, at batch 256 in float32 (GFLOP/s = the step's floating-point "
        "operations, counted from the sizes, over its time):"
    )
    for row in rows:
        if row["batch"] == 256:
            arch, seconds = NETWORKS[row["network"]], row["seconds_per_step"]
            flops = step_flops(arch, 256)
            print(f"  {row['network']}: {flops / 1e6:,.1f} MFLOP a step; cnn-backprop "
                  f"{flops / seconds['cnn-backprop float32'] / 1e9:.1f} GFLOP/s, PyTorch "
                  f"{flops / seconds['torch float32'] / 1e9:.1f} GFLOP/s; a float32 matrix product the size of its "
                  f"largest: {matmul_gflops(arch, 256):.1f} GFLOP/s", flush=True)  # fmt: skip

    print(
        "\nfull default training run, training steps only (the same data, batches, shifts and step sizes), "
        "seconds, median of 3, interleaved; ratio = cnn-backprop's time / PyTorch's:\n"
    )
    print("| data | steps | cnn-backprop f32 | torch f32 | ratio f32 | cnn-backprop f64 | torch f64 | ratio f64 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    runs = {}
    sources = {"shapes": SEED_NET, "digits": NETWORKS["digits default (8x8, 32/64 filters)"]}
    for source, arch in ((source, sources[source]) for source in args.runs):
        options = schedule(source)
        t = runs[source] = training_runs(arch, options)
        steps = options.epochs * -(-t["images"] // options.batch_size)
        cells = [f"{t[f'cnn-backprop float{bits}']:.2f} | {t[f'torch float{bits}']:.2f} | "
                 f"**{t[f'cnn-backprop float{bits}'] / t[f'torch float{bits}']:.2f}**"
                 for bits in ("32", "64")]  # fmt: skip
        print(f"| {source} | {steps:,} ({options.epochs} epochs, batch {options.batch_size}) | {' | '.join(cells)} |",
              flush=True)  # fmt: skip
    print("\neach data's default precision (train's: float64 on shapes, float32 on digits) against PyTorch float32:")
    for source, t in runs.items():
        ours = t[f"cnn-backprop {schedule(source).dtype}"]
        print(f"  {source}: {ours:.2f} s against {t['torch float32']:.2f} s, ratio {ours / t['torch float32']:.2f}")

    print(
        "\nthe whole command, wall seconds (imports, data, steps, the evaluations after every epoch), median of 3, "
        "interleaved: `cnn-backprop train --data SOURCE` against benchmarks/torch_train.py (PyTorch float32):"
    )
    commands = {}
    for source in args.runs:
        t = commands[source] = whole_commands(source)
        print(f"  {source}: {t['cnn-backprop']:.2f} s against {t['torch float32']:.2f} s, "
              f"ratio {t['cnn-backprop'] / t['torch float32']:.2f}", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "steps": rows, "train": runs, "commands": commands}, handle, indent=2)


if __name__ == "__main__":
    main()
