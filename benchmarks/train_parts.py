"""Where the time of `cnn-backprop train --data SOURCE` goes: imports, loading the data, the SGD steps, the
evaluations after every epoch, and the rest; medians of runs, each in a process of its own.

    python benchmarks/train_parts.py --data digits --repeats 3
    python benchmarks/train_parts.py --data digits --repeats 3 --before /tmp/old/src   # another version's src/

With ``--before``, the runs alternate between this version and the one whose
``src`` folder is given (e.g. ``git archive main src | tar -x -C /tmp/old``), so
that a busy moment of the machine hits both alike.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PARTS = ("imports", "data", "steps", "evaluation", "other", "whole")


def one_run(source):
    """The parts of one run of the command in this process, in seconds."""
    start = time.perf_counter()
    from cnn_backprop import cli, data, train

    parts = dict.fromkeys(PARTS, 0.0)
    parts["imports"] = time.perf_counter() - start

    def timed(function, part):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            result = function(*args, **kwargs)
            if part == "training":  # its own seconds are the steps'
                parts["steps"] += result["seconds"]
            else:
                parts[part] += time.perf_counter() - began
            return result

        return wrapper

    data.load = timed(data.load, "data")
    train.evaluate = timed(train.evaluate, "evaluation")
    train.train = timed(train.train, "training")
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            cli.main(["train", "--data", source, "--quiet"])
        finally:
            sys.stdout = stdout
    parts["whole"] = time.perf_counter() - start
    parts["other"] = parts["whole"] - sum(parts[part] for part in ("imports", "data", "steps", "evaluation"))
    return {part: parts[part] for part in PARTS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", metavar="SRC", help="another version's src folder, timed alternately")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a run, as a process of its own
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.data)))
        return
    versions = {"this version": None, **({"before": args.before} if args.before else {})}
    runs = {version: [] for version in versions}
    for _ in range(args.repeats):
        for version, src in versions.items():
            env = dict(os.environ, **({"PYTHONPATH": src} if src else {}))
            command = [sys.executable, __file__, "--data", args.data, "--one"]
            runs[version].append(json.loads(subprocess.run(command, env=env, check=True, capture_output=True,
                                                           text=True).stdout))  # fmt: skip
    print(f"`cnn-backprop train --data {args.data}`, seconds, median of {args.repeats} runs, each its own process:\n")
    print("| part | " + " | ".join(versions) + " |")
    print("|---|" + "---:|" * len(versions))
    for part in PARTS:
        print(
            f"| {part} | " + " | ".join(f"{statistics.median(r[part] for r in runs[v]):.2f}" for v in versions) + " |"
        )


if __name__ == "__main__":
    main()
