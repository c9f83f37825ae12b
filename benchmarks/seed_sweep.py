"""Train with the default schedule over many seeds (and other learning rates): how robust are the defaults?

For each learning rate, trains one network per seed with every other option at
its default for the data (the default network too, unless --net is given) and
counts the runs that reach the accuracy bar, the runs whose ReLU died, and the
worst and median test accuracy.  The tables in docs/any-cnn.md come from

    python benchmarks/seed_sweep.py --seeds 400
    python benchmarks/seed_sweep.py --seeds 200 --lr 0.1 0.5 1.0 2.0
    python benchmarks/seed_sweep.py --data digits --seeds 20 --each
    python benchmarks/seed_sweep.py --data digits --seeds 20 --each --dtype float64
"""

import argparse
import multiprocessing
import statistics
from dataclasses import replace

from cnn_backprop import data
from cnn_backprop.architecture import Architecture, default_spec
from cnn_backprop.train import TrainingDiverged, schedule, train

BAR = {"shapes": 0.99, "digits": 0.98}


def one_run(job):
    source, net, lr, epochs, dtype, seed = job
    options = replace(schedule(source), lr=lr, seed=seed, epochs=epochs or schedule(source).epochs,
                      dtype=dtype or schedule(source).dtype)  # fmt: skip
    dataset = data.load(source, seed, options.train_size, options.test_size)
    arch = Architecture.parse(net or default_spec(source, len(dataset.classes)), *dataset.input_shape)
    try:
        return train(arch, options, dataset)["test_accuracy"]
    except TrainingDiverged:
        return None  # a ReLU died (or a number overflowed): stuck for good


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="shapes", help="shapes or digits (default shapes)")
    parser.add_argument("--net", help="a network spec (default: the data's default network)")
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    parser.add_argument("--lr", type=float, nargs="+", help="learning rates (default: the data's default)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the data's default)")
    parser.add_argument("--dtype", choices=("float64", "float32"), help="training's precision (default: the data's)")
    parser.add_argument("--each", action="store_true", help="also print each seed's test accuracy")
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args()
    defaults = schedule(args.data)
    bar = BAR.get(args.data, 0.98)
    sizes = f"{defaults.train_size} training / {defaults.test_size} test images, " if args.data == "shapes" else ""
    epochs = args.epochs or defaults.epochs
    print(f"{args.data}, defaults but lr: {sizes}{epochs} epochs, batch {defaults.batch_size}, "
          f"momentum {defaults.momentum:g}, {args.dtype or defaults.dtype}; seeds 0-{args.seeds - 1}\n")  # fmt: skip
    print(f"| lr | runs | ReLU died | test accuracy >= {bar:.0%} | worst (live runs) | median |")
    print("|---:|---:|---:|---:|---:|---:|")
    with multiprocessing.Pool(args.workers) as pool:
        for lr in args.lr or [defaults.lr]:
            jobs = [(args.data, args.net, lr, args.epochs, args.dtype, seed) for seed in range(args.seeds)]
            results = pool.map(one_run, jobs)
            if args.each:
                print("each seed: " + ", ".join("died" if a is None else f"{100 * a:.2f}" for a in results))
            live = [accuracy for accuracy in results if accuracy is not None]
            dead = len(results) - len(live)
            good = sum(accuracy >= bar for accuracy in live)
            worst = f"{100 * min(live):.2f}%" if live else "-"
            median = f"{100 * statistics.median(live):.2f}%" if live else "-"
            print(f"| {lr:g} | {len(results)} | {dead} | {good} | {worst} | {median} |", flush=True)


if __name__ == "__main__":
    main()
