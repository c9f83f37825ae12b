"""Train with the default options over many seeds (and other learning rates): how robust are the defaults?

For each learning rate, trains one network per seed with every other option at
its default and counts the runs that reach 99% test accuracy, the runs whose
ReLU died, and the worst test accuracy.  The README's table comes from

    python benchmarks/seed_sweep.py --seeds 200 --lr 0.1 0.3 0.5 1.0 2.0
"""

import argparse
import multiprocessing
import statistics
from dataclasses import replace

from cnn_backprop.network import Architecture
from cnn_backprop.train import TrainingDiverged, TrainOptions, train


def one_run(job):
    lr, seed = job
    try:
        return train(Architecture(), replace(TrainOptions(), lr=lr, seed=seed))["test_accuracy"]
    except TrainingDiverged:
        return None  # the ReLU died (or a number overflowed): stuck for good


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    parser.add_argument("--lr", type=float, nargs="+", default=[TrainOptions.lr])
    parser.add_argument("--workers", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args()
    defaults = TrainOptions()
    print(
        f"defaults but lr: {defaults.train_size} training / {defaults.test_size} test images, "
        f"{defaults.epochs} epochs, batch {defaults.batch_size}; seeds 0-{args.seeds - 1}\n"
    )
    print("| lr | runs | ReLU died | test accuracy >= 99% | worst test accuracy (live runs) | median |")
    print("|---:|---:|---:|---:|---:|---:|")
    with multiprocessing.Pool(args.workers) as pool:
        for lr in args.lr:
            results = pool.map(one_run, [(lr, seed) for seed in range(args.seeds)])
            live = [accuracy for accuracy in results if accuracy is not None]
            dead = len(results) - len(live)
            good = sum(accuracy >= 0.99 for accuracy in live)
            worst = f"{100 * min(live):.2f}%" if live else "-"
            median = f"{100 * statistics.median(live):.2f}%" if live else "-"
            print(f"| {lr:g} | {len(results)} | {dead} | {good} | {worst} | {median} |", flush=True)


if __name__ == "__main__":
    main()
