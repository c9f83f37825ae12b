"""The ``cnn-backprop`` command: a thin shell that parses options, calls the package, formats results.

Every user error ends in one line on stderr and exit status 2, with no traceback.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, explain, files, gradcheck, validate, walkthrough
from .data import CLASSES, generate, random_streams
from .network import Architecture, Network
from .train import TrainOptions, confusion_matrix, evaluate, fresh_test_set, train
from .validate import InputError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: usage is one ``--help`` away."""

    def error(self, message):
        raise InputError(f"{message} (see '{self.prog} --help')")


def seed_option(parser):
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed; the same seed gives the same numbers on every machine (default: 0)",
    )


def add_walkthrough(commands):
    p = commands.add_parser(
        "walkthrough",
        help="one forward and one backward pass, every number shown",
        description="Answer the seed notebook's exercise for one instance: (1) the output sizes of the "
        "conv and pooling layers, (2) each layer's values before activation, (3) every "
        "gradient, down to dL/dkernel.",
    )
    seed_option(p)
    p.add_argument(
        "--pool-stride",
        type=int,
        metavar="S",
        help="max-pooling stride (default 1, or the given file's; 2 leaves one FC input)",
    )
    p.add_argument(
        "--given",
        metavar="FILE",
        help="JSON object with any of: " + ", ".join(walkthrough.GIVEN_KEYS) + "; the rest is drawn from --seed",
    )
    p.add_argument(
        "--explain", action="store_true", help="show the arithmetic of every step (products and sums), to check by hand"
    )
    p.add_argument(
        "--decimals",
        type=int,
        default=4,
        metavar="D",
        help="decimals shown in text (default: 4; --json always has every digit)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--figures", metavar="DIR", help="write PNG figures of the pass into DIR")
    p.add_argument(
        "--report",
        type=report_path,
        metavar="FILE",
        help="write the whole walkthrough with its arithmetic and figures as one document: "
        "FILE.md (figures in a folder beside it) or FILE.html (self-contained, reads offline)",
    )
    p.set_defaults(run=run_walkthrough)


def report_path(text):
    if Path(text).suffix.lower() not in (".md", ".html"):
        raise argparse.ArgumentTypeError(f"{text}: a report is .md or .html")
    return text


def load_given(args):
    given = files.read_json(args.given) if args.given else {}
    where = args.given or "the given values"
    if args.pool_stride is not None:
        if not isinstance(given, dict):
            walkthrough.check_given(given, where)
        given = {**given, "pool_stride": args.pool_stride}
        where = f"{where} with --pool-stride {args.pool_stride}" if args.given else "--pool-stride"
    return walkthrough.complete_given(given, args.seed, where)


def run_walkthrough(args):
    if args.decimals < 0:
        raise InputError(f"--decimals must be >= 0, got {args.decimals}")
    given = load_given(args)
    directory = files.output_dir(args.figures) if args.figures else None
    if args.report:
        files.output_path(args.report)
    result = walkthrough.run(given)
    if args.json:
        print(walkthrough.to_json(result))
    else:
        print(explain.format_walkthrough(result, explain=args.explain, decimals=args.decimals))
    if directory is not None:
        from .figures import walkthrough_figures  # Matplotlib loads only when figures are asked for

        paths = walkthrough_figures(result, directory)
        print(f"wrote {len(paths)} figures to {directory}/", file=sys.stderr if args.json else sys.stdout)
    if args.report:
        from .figures import walkthrough_pngs
        from .report import walkthrough_document, write_document

        blocks = walkthrough_document(result, decimals=args.decimals, figures=walkthrough_pngs(result))
        write_document(blocks, args.report)
        print(f"wrote the report to {args.report}", file=sys.stderr if args.json else sys.stdout)
    return 0


def add_gradcheck(commands):
    p = commands.add_parser(
        "gradcheck",
        help="compare every analytic gradient with central finite differences",
        description="Run one forward/backward pass, then perturb every parameter entry by +-h and +-2h "
        "(five-point central differences) and compare. Prints the max relative error per parameter; "
        "exit status 1 if any "
        f"exceeds {gradcheck.TOLERANCE:g}.",
    )
    seed_option(p)
    p.add_argument("--pool-stride", type=int, metavar="S", help="max-pooling stride (default 1)")
    p.add_argument("--given", metavar="FILE", help="the exercise instance to check (as for walkthrough)")
    p.set_defaults(run=run_gradcheck)


def run_gradcheck(args):
    given = load_given(args)
    network, image, label = walkthrough.network_for(given)
    results = gradcheck.check_network(network, image, label)
    worst = 0.0
    print(f"five-point central differences, h = {gradcheck.STEP:g}; max relative error per gradient:")
    for name, (_, _, error) in results.items():
        verdict = "ok" if error <= gradcheck.TOLERANCE else "FAIL"
        print(f"  dL/d{name:<12} {error:.3e}  {verdict}")
        worst = max(worst, error)
    passed = worst <= gradcheck.TOLERANCE
    print(f"{'passed' if passed else 'FAILED'}: worst {worst:.3e} (tolerance {gradcheck.TOLERANCE:g})")
    return 0 if passed else 1


def positive(text):
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def learning_rate(text):
    value = float(text)
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def plot_path(text):
    if Path(text).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise argparse.ArgumentTypeError(f"{text}: the figure's file name must end in .png, .svg or .pdf")
    return text


def architecture_options(parser):
    group = parser.add_argument_group("architecture (defaults: the seed notebook's)")
    group.add_argument("--pool-stride", type=positive, default=1, metavar="S", help="max-pooling stride (default 1)")
    group.add_argument("--pool-size", type=positive, default=2, metavar="P", help="max-pooling window (default 2)")
    group.add_argument("--filters", type=positive, default=1, metavar="F", help="conv filters (default 1)")
    group.add_argument("--kernel-size", type=positive, default=3, metavar="K", help="conv kernel size (default 3)")
    group.add_argument("--padding", type=non_negative, default=0, metavar="P", help="conv zero padding (default 0)")


def architecture_from(args):
    arch = Architecture(
        filters=args.filters,
        kernel_size=args.kernel_size,
        conv_padding=args.padding,
        pool_size=args.pool_size,
        pool_stride=args.pool_stride,
    )
    return validate.architecture(arch, "the architecture options")


def add_train(commands):
    defaults = TrainOptions()
    p = commands.add_parser(
        "train",
        help="train and test the network with mini-batch SGD",
        description="Generate a training and a test set with the seed's generator, initialise the network "
        "as the seed does, train with mini-batch SGD and report train/test loss and accuracy. "
        "The same options and seed give the same model, bit for bit.",
    )
    p.add_argument(
        "--train-size",
        type=positive,
        default=defaults.train_size,
        metavar="N",
        help=f"training images (default {defaults.train_size})",
    )
    p.add_argument(
        "--test-size",
        type=positive,
        default=defaults.test_size,
        metavar="N",
        help=f"test images (default {defaults.test_size})",
    )
    p.add_argument(
        "--epochs",
        type=positive,
        default=defaults.epochs,
        metavar="E",
        help=f"passes over the training set (default {defaults.epochs})",
    )
    p.add_argument("--lr", type=learning_rate, default=defaults.lr, help=f"SGD learning rate (default {defaults.lr})")
    p.add_argument(
        "--batch-size",
        type=positive,
        default=defaults.batch_size,
        metavar="B",
        help=f"images per SGD step (default {defaults.batch_size})",
    )
    seed_option(p)
    architecture_options(p)
    p.add_argument("--out", metavar="MODEL.npz", help="save the trained model here")
    p.add_argument("--plot", type=plot_path, metavar="FILE.png", help="save learning curves here")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train)


def progress_bar(total, stream=sys.stderr, width=24):
    """An on_epoch callback drawing one self-overwriting line."""

    def show(epoch, row):
        done = int(width * epoch / total)
        stream.write(
            f"\repoch {epoch:>{len(str(total))}}/{total} [{'#' * done}{'.' * (width - done)}] "
            f"loss {row['train_loss']:.4f}  train {100 * row['train_accuracy']:.2f}%  "
            f"test {100 * row['test_accuracy']:.2f}%"
        )
        if epoch == total:
            stream.write("\n")
        stream.flush()

    return show


def run_train(args):
    arch = architecture_from(args)
    for path in (args.out, args.plot):
        if path:
            files.output_path(path)
    options = TrainOptions(
        train_size=args.train_size,
        test_size=args.test_size,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    show = None if args.quiet or not sys.stderr.isatty() else progress_bar(options.epochs)
    start = time.perf_counter()
    result = train(arch, options, on_epoch=show)
    wall = time.perf_counter() - start
    if args.out:
        files.save_model(args.out, arch, result["network"].params)
    if args.plot:
        from .figures import learning_curves, save

        save(learning_curves(result["history"]), args.plot)
    summary = {key: result[key] for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "relu_alive")}
    summary.update(
        seconds=result["seconds"],
        wall_seconds=wall,
        **options.to_dict(),
        architecture=arch.to_dict(),
        history=result["history"],
    )
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"trained {options.epochs} epochs on {options.train_size} images (batch {options.batch_size}, "
        f"lr {options.lr:g}, seed {options.seed}) in {result['seconds']:.2f} s of SGD steps, "
        f"{wall:.2f} s in all"
    )
    print(f"         {'loss':>8}  {'accuracy':>8}")
    for split in ("train", "test"):
        print(f"  {split:<5}  {result[f'{split}_loss']:8.4g}  {100 * result[f'{split}_accuracy']:7.2f}%")
    for path, what in ((args.out, "model"), (args.plot, "learning curves")):
        if path:
            print(f"wrote {what} to {path}")
    return 0


def add_evaluate(commands):
    p = commands.add_parser(
        "evaluate",
        help="accuracy, loss and confusion matrix of a saved model",
        description="Evaluate a model on a data file, or on freshly generated images (a stream of their "
        "own, never the images 'train' learned from).",
    )
    p.add_argument("--model", required=True, metavar="MODEL.npz", help="a model saved by 'train --out'")
    p.add_argument("--data", metavar="DATA.npz", help="a data file (see 'dataset'); default: generate images")
    p.add_argument(
        "--test-size",
        type=positive,
        default=2000,
        metavar="N",
        help="images to generate when no --data is given (default 2000)",
    )
    seed_option(p)
    p.add_argument("--plot", type=plot_path, metavar="FILE.png", help="save the misclassified images here")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args):
    arch, params = files.load_model(args.model)
    if args.data:
        images, labels = files.load_dataset(args.data, arch.image_size)
    else:
        images, labels = fresh_test_set(args.test_size, args.seed)
    if args.plot:
        files.output_path(args.plot)
    metrics = evaluate(Network(arch, params), images, labels)
    confusion = confusion_matrix(labels, metrics["probabilities"])
    if args.plot:
        from .figures import misclassified_grid, save

        save(misclassified_grid(images, labels, metrics["probabilities"]), args.plot)
    source = args.data or f"{len(images)} generated images (seed {args.seed})"
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "data": source,
                    "count": len(images),
                    "accuracy": metrics["accuracy"],
                    "loss": metrics["loss"],
                    "confusion": confusion.tolist(),
                },
                indent=2,
            )
        )
        return 0
    print(f"{args.model} on {source}:")
    print(
        f"  accuracy {100 * metrics['accuracy']:.2f}%  ({int(np.trace(confusion))} of {len(images)} right), "
        f"loss {metrics['loss']:.4g}"
    )
    print(f"  {'true / predicted':<18}{CLASSES[0]:>10}{CLASSES[1]:>11}")
    for label in (0, 1):
        print(f"  {CLASSES[label]:<18}{confusion[label, 0]:>10}{confusion[label, 1]:>11}")
    if args.plot:
        print(f"wrote misclassified images to {args.plot}")
    return 0


def add_predict(commands):
    p = commands.add_parser(
        "predict",
        help="classify images with a saved model",
        description="Print the class and P(rectangle) of every image in FILE: .npy (N, H, W), .npz with "
        "'images', .csv with H*W values a row, or .json (one image as a list of rows, or a list "
        "of them).",
    )
    p.add_argument("--model", required=True, metavar="MODEL.npz", help="a model saved by 'train --out'")
    p.add_argument("file", metavar="FILE", help="the images")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.set_defaults(run=run_predict)


def run_predict(args):
    arch, params = files.load_model(args.model)
    images = files.load_images(args.file, arch.image_size)
    probabilities = Network(arch, params).predict_proba(images)
    rows = [
        {"index": i, "label": int(p > 0.5), "class": CLASSES[int(p > 0.5)], "probability_rectangle": float(p)}
        for i, p in enumerate(probabilities)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'index':>5}  {'class':<9}  P(rectangle)")
    for row in rows:
        print(f"{row['index']:>5}  {row['class']:<9}  {row['probability_rectangle']:.6f}")
    return 0


def add_dataset(commands):
    p = commands.add_parser(
        "dataset",
        help="write a data set of generated crosses and rectangles",
        description="Generate images with the seed's generator. With the same seed, the first N images "
        "are the training images of 'train --train-size N'.",
    )
    p.add_argument("--count", type=positive, default=2000, metavar="N", help="images (default 2000)")
    seed_option(p)
    p.add_argument("--out", required=True, metavar="DATA.npz", help="where to write it")
    p.add_argument("--plot", type=plot_path, metavar="FILE.png", help="save a grid of examples here")
    p.set_defaults(run=run_dataset)


def run_dataset(args):
    if not args.out.endswith(".npz"):
        raise InputError(f"--out {args.out}: a data set is written as .npz; end the file name in .npz")
    for path in (args.out, args.plot):
        if path:
            files.output_path(path)
    images, labels = generate(args.count, random_streams(args.seed)[0])
    files.save_dataset(args.out, images, labels)
    print(
        f"wrote {args.count} images ({int((labels == 0).sum())} crosses, {int(labels.sum())} rectangles) to {args.out}"
    )
    if args.plot:
        from .figures import dataset_grid, save

        save(dataset_grid(images, labels), args.plot)
        print(f"wrote examples to {args.plot}")
    return 0


def add_exercise(commands):
    p = commands.add_parser(
        "exercise",
        help="exercise sheets and answer keys for a class",
        description="Write COUNT different instances of the exercise: for each a sheet with the given values "
        "(Markdown and HTML), a separate answer key with every answer and its arithmetic, and the "
        "instance as --given JSON. Sheet i is the instance of 'walkthrough --seed SEED+i', rounded; "
        "the key is computed from the rounded values, so a hand calculation matches it exactly.",
    )
    p.add_argument("--count", type=positive, default=10, metavar="N", help="sheets (default 10)")
    seed_option(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the sheets (created if needed)")
    p.add_argument(
        "--decimals", type=non_negative, default=2, metavar="D", help="decimals of the given values (default 2)"
    )
    p.add_argument(
        "--integers",
        action="store_true",
        help="small whole numbers instead (pixels 1-3, weights -1 to 2): for exercises done by hand",
    )
    p.add_argument(
        "--pool-stride",
        type=positive,
        nargs="+",
        default=[1],
        metavar="S",
        help="max-pooling stride (default 1); several values cycle over the sheets, e.g. 1 2",
    )
    p.add_argument(
        "--padding",
        type=non_negative,
        nargs="+",
        default=[0],
        metavar="P",
        help="conv zero padding (default 0); several values cycle over the sheets",
    )
    p.set_defaults(run=run_exercise)


def run_exercise(args):
    from .exercise import given_json, instances, key_document, label_counts, sheet_document
    from .report import write_document

    if args.decimals > 10:
        raise InputError(f"--decimals must be at most 10 for a sheet to be done by hand, got {args.decimals}")
    for padding in args.padding:
        for pool_stride in args.pool_stride:
            validate.architecture(
                Architecture(conv_padding=padding, pool_stride=pool_stride),
                f"--padding {padding} with --pool-stride {pool_stride}",
            )
    directory = files.output_dir(args.out)
    givens = instances(args.count, args.seed, args.decimals, args.integers, args.pool_stride, args.padding)
    width = len(str(args.count))
    for number, given in enumerate(givens, start=1):
        stem = directory / f"exercise_{number:0{width}d}"
        for suffix in (".md", ".html"):
            write_document(sheet_document(given, number, args.decimals), stem.with_suffix(suffix))
            write_document(key_document(given, number, args.decimals), stem.with_name(stem.name + "_key" + suffix))
        text = given_json(given)
        files.atomic_write(stem.with_suffix(".json"), lambda handle, text=text: handle.write(text.encode()))
    counts = label_counts(givens)
    print(
        f"wrote {args.count} exercises ({counts['cross']} crosses, {counts['rectangle']} rectangles) to "
        f"{directory}/: exercise_N.md/.html (sheets), exercise_N_key.md/.html (answer keys), exercise_N.json"
    )
    return 0


def build_parser():
    parser = Parser(
        prog="cnn-backprop",
        description="Backpropagation through a small CNN, from scratch in NumPy: "
        "every number of a forward and backward pass, checked.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    add_walkthrough(commands)
    add_gradcheck(commands)
    add_train(commands)
    add_evaluate(commands)
    add_predict(commands)
    add_dataset(commands)
    add_exercise(commands)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except InputError as error:
        print(f"cnn-backprop: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("cnn-backprop: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
