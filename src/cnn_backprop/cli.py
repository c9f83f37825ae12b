"""The ``cnn-backprop`` command: a thin shell that parses options, calls the package, formats results.

Every user error ends in one line on stderr and exit status 2, with no traceback.
"""

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import __version__, data, explain, export, files, gradcheck, walkthrough
from .architecture import DIGITS_SPEC, SEED_SPEC, Architecture, default_spec, grammar
from .network import INITS, Network
from .train import DTYPES, LR_DECAYS, confusion_matrix, evaluate, schedule, train
from .validate import InputError

NET_HELP = (
    "the network, as a spec: layers separated by commas, e.g. '" + DIGITS_SPEC + "' (default: the seed's '"
    + SEED_SPEC + "' on shapes, that digits network on other data); see 'cnn-backprop nets'"
)  # fmt: skip
DATA_HELP = (
    "the data: shapes (the seed's generated crosses and rectangles), digits (scikit-learn's 8x8 handwritten "
    "digits), an .npz file (images and labels, or the mnist.npz layout) or a folder of class folders of PNG images"
)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: usage is one ``--help`` away."""

    def error(self, message):
        raise InputError(f"{message} (see '{self.prog} --help')")


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


def fraction(text):
    """argparse type: a number in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def suffixed(*suffixes):
    """argparse type: a file name ending in one of ``suffixes``."""

    def check(text):
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text}: the file name must end in {' or '.join(suffixes)}")
        return text

    return check


plot_path = suffixed(".png", ".svg", ".pdf")


def add_options(parser, *names):
    """The options several commands share, each declared here once."""
    declared = {
        "seed": lambda: parser.add_argument(
            "--seed", type=int, default=0,
            help="random seed; the same seed gives the same numbers on every machine (default: 0)"),
        "net": lambda: parser.add_argument("--net", metavar="SPEC", help=NET_HELP),
        "data": lambda: parser.add_argument("--data", metavar="SOURCE", default="shapes",
                                            help=DATA_HELP + " (default: shapes)"),
        "given": lambda: parser.add_argument(
            "--given", metavar="FILE",
            help="one exercise instance as JSON: image, label and any of the network's parameters and "
                 "hyperparameters (conv_kernel, conv_bias, conv_stride, conv_padding, pool_size, pool_stride, "
                 "fc_weights, fc_bias for the seed network); the rest is drawn from --seed"),
        "pool_stride": lambda: parser.add_argument(
            "--pool-stride", type=int, metavar="S",
            help="the stride of every pooling layer (default: the spec's or the given file's; for the seed "
                 "network 1, and 2 leaves one FC input)"),
        "model": lambda: parser.add_argument("--model", required=True, metavar="MODEL.npz",
                                             help="a model saved by 'train --out'"),
        "json": lambda: parser.add_argument("--json", action="store_true", help="print JSON instead of text"),
        "plot": lambda: parser.add_argument("--plot", type=plot_path, metavar="FILE.png",
                                            help="save a figure here (.png, .svg or .pdf)"),
    }  # fmt: skip
    for name in names:
        declared[name]()


def writable(*paths):
    """Check, before any work, that every output path given can be written."""
    for path in paths:
        if path:
            files.output_path(path)


def load_given(args):
    """The complete given of walkthrough and gradcheck: --given, --net, --data, --pool-stride and --seed."""
    from .exercise import architecture_choices

    given = walkthrough.given_of(files.read_json(args.given)) if args.given else {}
    where = args.given or ("--net" if args.net else "the given values")
    if isinstance(given, dict) and args.net and given.get("net", args.net) != args.net:
        raise InputError(f"{where} is for the network '{given['net']}', but --net says '{args.net}'; give one")
    net = args.net or (given.get("net") if isinstance(given, dict) else None) or default_data_spec(args.data)
    if args.pool_stride is not None and isinstance(given, dict):
        given = {**given, **architecture_choices(net, pool_stride=args.pool_stride)}
        where = f"{where} with --pool-stride {args.pool_stride}" if args.given else "--pool-stride"
    return walkthrough.complete_given(given, args.seed, where, net=net, source=args.data)


def default_data_spec(source):
    """The default network for a data source, sized to its classes."""
    if source in data.SOURCES:
        return default_spec(source, 10)
    return default_spec(source, len(files.load_labelled(source)[2]))


def add_walkthrough(commands):
    p = commands.add_parser(
        "walkthrough",
        help="one forward and one backward pass, every number shown",
        description="Answer the seed notebook's exercise for one instance, on any network: (1) the output sizes of "
        "the conv and pooling layers, (2) each layer's values before activation, (3) every gradient, down to "
        "dL/dkernel.",
    )
    add_options(p, "seed", "net", "data", "given", "pool_stride")
    p.add_argument(
        "--explain", nargs="?", const=True, default=False, metavar="NAME[i,j,...]",
        help="show the arithmetic of every step (products and sums), to check by hand; with a value, e.g. "
             "'conv2_kernel[3,0,1,2]' or 'dL/dpool[0,1]' (quote it), the arithmetic of that one value alone",
    )  # fmt: skip
    p.add_argument("--decimals", type=int, default=4, metavar="D",
                   help="decimals shown in text (default: 4; --json always has every digit)")  # fmt: skip
    add_options(p, "json")
    p.add_argument("--figures", metavar="DIR", help="write PNG figures of the pass into DIR")
    p.add_argument(
        "--report", type=suffixed(".md", ".html"), metavar="FILE",
        help="write the whole walkthrough with its arithmetic and figures as one document: "
             "FILE.md (figures in a folder beside it) or FILE.html (self-contained, reads offline)",
    )  # fmt: skip
    p.set_defaults(run=run_walkthrough)


def run_walkthrough(args):
    if args.decimals < 0:
        raise InputError(f"--decimals must be >= 0, got {args.decimals}")
    given = load_given(args)
    directory = files.output_dir(args.figures) if args.figures else None
    if args.report:
        files.output_path(args.report)
    result = walkthrough.run(given)
    one_value = isinstance(args.explain, str)
    lines = explain.value_arithmetic(result, args.explain, args.decimals) if one_value else None
    notes = sys.stderr if args.json else sys.stdout
    if args.json:
        print(walkthrough.to_json(result))
    elif one_value:
        print("\n".join(line.strip() for line in lines))
    else:
        print(explain.format_walkthrough(result, explain=args.explain, decimals=args.decimals))
    if directory is not None:
        from .figures import walkthrough_figures  # Matplotlib loads only when figures are asked for

        paths = walkthrough_figures(result, directory)
        print(f"wrote {len(paths)} figures to {directory}/", file=notes)
    if args.report:
        from .figures import walkthrough_pngs
        from .report import walkthrough_document, write_document

        blocks = walkthrough_document(result, decimals=args.decimals, figures=walkthrough_pngs(result))
        write_document(blocks, args.report)
        print(f"wrote the report to {args.report}", file=notes)
    return 0


def add_gradcheck(commands):
    p = commands.add_parser(
        "gradcheck",
        help="compare every analytic gradient with central finite differences",
        description="Run one forward/backward pass, then perturb every parameter entry by +-h and +-2h "
        "(five-point central differences) and compare. Prints the max relative error per parameter; "
        f"exit status 1 if any exceeds {gradcheck.TOLERANCE:g}.",
    )
    add_options(p, "seed", "net", "data", "given", "pool_stride")
    p.set_defaults(run=run_gradcheck)


def run_gradcheck(args):
    given = load_given(args)
    network, image, label = walkthrough.network_for(given)
    results = gradcheck.check_network(network, image, label)
    kinks = gradcheck.kinks(network, image, label)
    moved = gradcheck.step_dependent(network, image, label, results)
    width = max(len(name) for name in results) + 1
    worst, failed = 0.0, False
    print(f"five-point central differences, h = {gradcheck.STEP:g}; max relative error per gradient:")
    for name, (_, _, error) in results.items():
        at_kink = any(kinks.values()) or name in moved
        verdict = "ok" if error <= gradcheck.TOLERANCE else "at a kink" if at_kink else "FAIL"
        print(f"  dL/d{name:<{max(width, 13)}}{error:.3e}  {verdict}")
        worst, failed = max(worst, error), failed or verdict == "FAIL"
    passed = worst <= gradcheck.TOLERANCE
    if not passed and not failed:
        print(f"not checkable at a kink: {kinks['pool']} max-pooling windows tie and {kinks['relu']} ReLU inputs are "
              f"within 4h of 0, and {len(moved)} finite differences change with the step (h against h/2), so the "
              "loss has kinks within reach of the steps, where finite differences give no derivative (the tests "
              "hold every gradient to PyTorch's instead)")  # fmt: skip
        return 0
    print(f"{'passed' if passed else 'FAILED'}: worst {worst:.3e} (tolerance {gradcheck.TOLERANCE:g})")
    return 0 if passed else 1


def add_train(commands):
    shapes, digits = schedule("shapes"), schedule("digits")

    def both(field):
        ours, theirs = getattr(shapes, field), getattr(digits, field)
        return f"default {ours:g}" if ours == theirs else f"default {ours:g} on shapes, {theirs:g} on other data"

    p = commands.add_parser(
        "train",
        help="train and test a network with mini-batch SGD",
        description="Load or generate the data, initialise the network, train with mini-batch SGD and report "
        "train/test loss and accuracy after every epoch. The same options and seed give the same model, bit for "
        "bit.",
    )
    add_options(p, "data", "net")
    p.add_argument(
        "--train-size", type=positive, metavar="N", help=f"shapes generated for training ({both('train_size')})"
    )
    p.add_argument(
        "--test-size", type=positive, metavar="N", help=f"shapes generated for testing ({both('test_size')})"
    )
    p.add_argument("--epochs", type=positive, metavar="E", help=f"passes over the training set ({both('epochs')})")
    p.add_argument("--lr", type=learning_rate, help=f"SGD learning rate ({both('lr')})")
    p.add_argument("--momentum", type=fraction, metavar="M", help=f"SGD momentum, 0 for plain SGD ({both('momentum')})")
    p.add_argument("--batch-size", type=positive, metavar="B", help=f"images per SGD step ({both('batch_size')})")
    p.add_argument(
        "--shift",
        type=non_negative,
        metavar="P",
        help=f"move each training image by up to P pixels at random, each time it is used ({both('shift')})",
    )
    p.add_argument("--lr-decay", choices=LR_DECAYS,
                   help=f"cosine: the step size falls from lr to 0 along a half cosine (default {shapes.lr_decay} "
                        f"on shapes, {digits.lr_decay} on other data)")  # fmt: skip
    p.add_argument("--init", choices=INITS, help="initialisation: " + "; ".join(f"{k}: {v}" for k, v in INITS.items())
                   + " (default: seed for sigmoid networks, pytorch for softmax ones)")  # fmt: skip
    p.add_argument("--dtype", choices=DTYPES,
                   help="the precision of training: float64 (default) matches the walkthrough to the last digit, "
                        "float32 is about 1.6x as fast on digits; the model file is float64 either way")  # fmt: skip
    add_options(p, "seed")
    p.add_argument("--out", metavar="MODEL.npz", help="save the trained model here")
    p.add_argument("--plot", type=plot_path, metavar="FILE.png", help="save learning curves here")
    add_options(p, "json")
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


def network_for_data(spec, dataset, where="--net"):
    """The Architecture of ``spec`` on ``dataset``'s images, checked against its classes."""
    arch = Architecture.parse(spec or default_spec(dataset.source, len(dataset.classes)), *dataset.input_shape)
    classes = len(dataset.classes)
    if arch.classes != classes:
        fix = "'dense 1, sigmoid'" if classes == 2 else f"'dense {classes}, softmax'"
        raise InputError(f"{where}: the data has {classes} classes ({', '.join(dataset.classes[:12])}), the network "
                         f"tells {arch.classes} apart; end it in {fix}")  # fmt: skip
    return arch


def run_train(args):
    options = schedule(args.data)
    keys = ("train_size", "test_size", "epochs", "lr", "momentum", "batch_size", "shift", "lr_decay", "init", "dtype")
    chosen = {key: getattr(args, key) for key in keys}
    options = replace(options, seed=args.seed, **{key: value for key, value in chosen.items() if value is not None})
    writable(args.out, args.plot)
    dataset = data.load(options.data, options.seed, options.train_size, options.test_size)
    arch = network_for_data(args.net, dataset)
    show = None if args.quiet or not sys.stderr.isatty() else progress_bar(options.epochs)
    start = time.perf_counter()
    result = train(arch, options, dataset, on_epoch=show)
    wall = time.perf_counter() - start
    if args.out:
        network = result["network"]
        model = files.Model(arch, network.params, dataset.classes, dataset.source, options.seed, network.buffers)
        files.save_model(args.out, model)
    if args.plot:
        from .figures import learning_curves, save

        save(learning_curves(result["history"]), args.plot)
    summary = {key: result[key] for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "relu_alive")}
    summary.update(seconds=result["seconds"], wall_seconds=wall, **result["options"].to_dict(), net=str(arch),
                   split=dataset.split, history=result["history"])  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    count = len(dataset.train_images)
    print(
        f"trained {options.epochs} epochs on {count} images (batch {options.batch_size}, "
        f"lr {options.lr:g}, seed {options.seed}) in {result['seconds']:.2f} s of SGD steps, "
        f"{wall:.2f} s in all"
    )
    if options.data != "shapes":
        print(f"  {options.data}: {dataset.split}; network: {arch}")
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
        description="Evaluate a model on data: generated shapes from a stream of their own (never the images "
        "'train' learned from), the digits' test split, a file's test set (mnist.npz), or every image of any "
        "other file or folder. Default: the data the model was trained on.",
    )
    add_options(p, "model")
    p.add_argument("--data", metavar="SOURCE", help=DATA_HELP + " (default: what the model was trained on)")
    p.add_argument("--test-size", type=positive, default=2000, metavar="N",
                   help="shapes to generate, on shapes (default 2000)")  # fmt: skip
    p.add_argument("--seed", type=int, help="shapes: the stream to generate them from; data without a split of its "
                   "own: the split (default: the model's training seed, so that its test set is held out)")  # fmt: skip
    p.add_argument("--plot", type=plot_path, metavar="FILE.png",
                   help="save the confusion matrix and the misclassified images here")  # fmt: skip
    add_options(p, "json")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args):
    model = files.load_model(args.model)
    arch, classes = model.arch, model.classes
    source = args.data or model.data
    seed = model.seed if args.seed is None else args.seed
    images, labels, _, description = data.evaluation_set(source, seed, args.test_size)
    if images.shape[1:3] != (arch.channels, arch.image_size):
        raise InputError(f"{source}: images are {images.shape[1]}x{images.shape[2]}x{images.shape[3]}, the model "
                         f"expects {arch.channels}x{arch.image_size}x{arch.image_size}")  # fmt: skip
    if labels.max() >= len(classes):
        raise InputError(f"{source}: label {labels.max()} is not one of the model's {len(classes)} classes")
    writable(args.plot)
    metrics = evaluate(Network(arch, model.params, buffers=model.buffers), images, labels)
    k = len(classes)
    confusion = confusion_matrix(labels, metrics["predicted"], k)
    per_class = [float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None for c in range(k)]
    if args.plot:
        from .figures import evaluation_figure, save

        save(evaluation_figure(images, labels, metrics["predicted"], metrics["probabilities"], confusion, classes),
             args.plot)  # fmt: skip
    if args.json:
        report = {"model": args.model, "data": description, "count": len(images), "accuracy": metrics["accuracy"],
                  "loss": metrics["loss"], "classes": list(classes), "confusion": confusion.tolist(),
                  "class_accuracy": per_class}  # fmt: skip
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.model} on {description}:")
    print(f"  accuracy {100 * metrics['accuracy']:.2f}%  ({int(np.trace(confusion))} of {len(images)} right), "
          f"loss {metrics['loss']:.4g}")  # fmt: skip
    width = max(6, *(len(name) + 1 for name in classes), len(str(confusion.max())) + 1)
    first = max(18, *(len(name) + 2 for name in classes))
    print(f"  {'true / predicted':<{first}}" + "".join(f"{name:>{width}}" for name in classes) + "   accuracy")
    for c, name in enumerate(classes):
        accuracy = f"{100 * per_class[c]:9.2f}%" if per_class[c] is not None else "        -"
        print(f"  {name:<{first}}" + "".join(f"{n:>{width}}" for n in confusion[c]) + f"  {accuracy}")
    if args.plot:
        print(f"wrote the confusion matrix and the misclassified images to {args.plot}")
    return 0


def add_predict(commands):
    p = commands.add_parser(
        "predict",
        help="classify images with a saved model",
        description="Print the class and its probability for every image in FILE: .npy (N, H, W) or (N, C, H, W), "
        ".npz with 'images', .csv with C*H*W values a row, or .json (one image as a list of rows, or a list of "
        "them).",
    )
    add_options(p, "model")
    p.add_argument("file", metavar="FILE", help="the images")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.set_defaults(run=run_predict)


def run_predict(args):
    model = files.load_model(args.model)
    arch, classes = model.arch, model.classes
    images = files.load_images(args.file, (arch.channels, arch.image_size))
    probabilities = Network(arch, model.params, buffers=model.buffers).eval().predict_proba(images)
    rows = []
    for i, p in enumerate(probabilities):
        label = int(p.argmax())
        row = {"index": i, "label": label, "class": classes[label], "probabilities": p.tolist()}
        if arch.output.binary:
            row[f"probability_{classes[1]}"] = float(p[1])
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if arch.output.binary:
        print(f"{'index':>5}  {'class':<9}  P({classes[1]})")
        for row in rows:
            print(f"{row['index']:>5}  {row['class']:<9}  {row['probabilities'][1]:.6f}")
        return 0
    print(f"{'index':>5}  {'class':<9}  P(class)  runner-up")
    for row in rows:
        order = np.argsort(row["probabilities"])[::-1]
        print(f"{row['index']:>5}  {row['class']:<9}  {row['probabilities'][order[0]]:.6f}  "
              f"{classes[order[1]]} ({row['probabilities'][order[1]]:.6f})")  # fmt: skip
    return 0


def add_dataset(commands):
    p = commands.add_parser(
        "dataset",
        help="write a data set as .npz (generated shapes, or another source's test set)",
        description="Write images, labels and class names to an .npz file. Shapes: COUNT images from the seed's "
        "generator; with the same seed they are the training images of 'train --train-size N'. Other data: its "
        "test set (for digits, the split of --seed), ready for 'predict' and 'evaluate'.",
    )
    add_options(p, "data")
    p.add_argument("--count", type=positive, default=2000, metavar="N", help="shapes to generate (default 2000)")
    add_options(p, "seed")
    p.add_argument("--out", required=True, type=suffixed(".npz"), metavar="DATA.npz", help="where to write it")
    p.add_argument("--plot", type=plot_path, metavar="FILE.png", help="save a grid of examples here")
    p.set_defaults(run=run_dataset)


def run_dataset(args):
    writable(args.out, args.plot)
    if args.data == "shapes":
        images, labels = data.generate(args.count, data.random_streams(args.seed)[0])
        classes = data.CLASSES
    else:
        dataset = data.load(args.data, args.seed)
        images, labels, classes = dataset.test_images, dataset.test_labels, dataset.classes
    files.save_dataset(args.out, images, labels, classes)
    counts = ", ".join(f"{int((labels == k).sum())} {name}" for k, name in enumerate(classes))
    if args.data == "shapes":
        counts = f"{int((labels == 0).sum())} crosses, {int(labels.sum())} rectangles"
    print(f"wrote {len(images)} images ({counts}) to {args.out}")
    if args.plot:
        from .figures import dataset_grid, save

        save(dataset_grid(images, labels, classes), args.plot)
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
    add_options(p, "seed", "net", "data")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the sheets (created if needed)")
    p.add_argument("--decimals", type=non_negative, default=2, metavar="D",
                   help="decimals of the given values (default 2)")  # fmt: skip
    p.add_argument("--integers", action="store_true",
                   help="small whole numbers instead (pixels 1-3, weights -1 to 2): for exercises by hand")  # fmt: skip
    p.add_argument("--pool-stride", type=positive, nargs="+", default=[None], metavar="S",
                   help="every pooling layer's stride (default: the spec's, 1 for the seed network); several values "
                        "cycle over the sheets, e.g. 1 2")  # fmt: skip
    p.add_argument("--padding", type=non_negative, nargs="+", default=[None], metavar="P",
                   help="every conv layer's padding (default: the spec's); several cycle over the sheets")  # fmt: skip
    p.set_defaults(run=run_exercise)


def run_exercise(args):
    from .check import Key, template, template_csv
    from .exercise import architecture_choices, given_json, instances, key_document, label_counts, sheet_document
    from .report import write_document

    if args.decimals > 10:
        raise InputError(f"--decimals must be at most 10 for a sheet to be done by hand, got {args.decimals}")
    net = args.net or default_data_spec(args.data)
    for padding in args.padding:
        for pool_stride in args.pool_stride:
            chosen = (("padding", padding), ("pool-stride", pool_stride))
            where = " with ".join(f"--{name} {value}" for name, value in chosen if value is not None) or "--net"
            walkthrough.complete_given({"net": net, **architecture_choices(net, pool_stride, padding)}, 0, where)
    directory = files.output_dir(args.out)
    givens = instances(args.count, args.seed, args.decimals, args.integers, args.pool_stride, args.padding, net,
                       args.data)  # fmt: skip
    width = len(str(args.count))
    for number, given in enumerate(givens, start=1):
        stem = directory / f"exercise_{number:0{width}d}"
        for suffix in (".md", ".html"):
            write_document(sheet_document(given, number, args.decimals), stem.with_suffix(suffix))
            write_document(key_document(given, number, args.decimals), stem.with_name(stem.name + "_key" + suffix))
        key = Key(given)
        blank = {
            ".json": given_json(given),
            "_answers.json": walkthrough.to_json(template(key)) + "\n",
            "_answers.csv": template_csv(key),
        }
        for suffix, text in blank.items():
            path = stem.with_name(stem.name + suffix)
            files.atomic_write(path, lambda handle, text=text: handle.write(text.encode()))
    counts = label_counts(givens)
    shown = (f"{counts.get('cross', 0)} crosses, {counts.get('rectangle', 0)} rectangles" if "net" not in givens[0]
             else ", ".join(f"{n} x class {name}" for name, n in sorted(counts.items())))  # fmt: skip
    print(
        f"wrote {args.count} exercises ({shown}) to {directory}/: exercise_N.md/.html (sheets), "
        "exercise_N_key.md/.html (answer keys), exercise_N.json (the instance), "
        "exercise_N_answers.json/.csv (blank answers for 'check')"
    )
    return 0


def add_check(commands):
    p = commands.add_parser(
        "check",
        help="mark a student's answers to one exercise sheet, naming the mistake behind each wrong one",
        description="Mark ANSWERS (the answer template 'exercise' writes, filled in: JSON in the walkthrough "
        "--json layout with null for a blank, or CSV with columns quantity,index,answer) against the sheet's "
        "instance. Each answer is right (within one unit of its last decimal, --decimals), carried (wrong only "
        "because an earlier answer was: computed correctly from the student's own values), wrong (with the "
        "known mistake that gives that value, where one does) or blank. Exit status 0 when all are right, 1 "
        "when not, 2 on bad input.",
    )
    p.add_argument("--given", required=True, metavar="SHEET.json", help="the sheet's instance (exercise_N.json)")
    p.add_argument("answers", metavar="ANSWERS", help="the answers, .json or .csv")
    p.add_argument("--decimals", type=non_negative, default=4, metavar="D",
                   help="answers are right within one unit of their D-th decimal (default 4, the key's)")  # fmt: skip
    add_options(p, "json")
    p.set_defaults(run=run_check)


def run_check(args):
    from .check import MISTAKES, Key, mark, read_answers, report

    given = walkthrough.complete_given(walkthrough.given_of(files.read_json(args.given)), where=args.given)
    answers = read_answers(args.answers, Key(given))
    entries = mark(given, answers, args.decimals)
    marked = report(entries, args.decimals)
    all_right = all(entry.verdict == "right" for entry in entries)
    if args.json:
        print(json.dumps({"score": marked["score"], "total": marked["total"], "decimals": args.decimals,
                          "entries": [entry.to_dict() for entry in entries]}, indent=2))  # fmt: skip
        return 0 if all_right else 1
    for question, rows in marked["questions"].items():
        print(question)
        print(format_check_rows(rows, args.decimals))
    if marked["mistakes"]:
        print("mistakes:")
        for mistake, count in marked["mistakes"].items():
            print(f"  {mistake} ({count}x): {MISTAKES[mistake]}")
    print(f"score: {marked['score']} of {marked['total']} (right within {10.0 ** -args.decimals:g}; carried answers "
          "earn their mark)")  # fmt: skip
    return 0 if all_right else 1


def format_check_rows(entries, decimals):
    """One line per quantity with its counts, and one per answer that is not right."""
    by_quantity = {}
    for entry in entries:
        by_quantity.setdefault(entry.quantity, []).append(entry)
    width = max(len(q) for q in by_quantity) + 2
    lines = [f"  {'quantity':<{width}}{'right':>6}{'carried':>8}{'wrong':>6}{'blank':>6}"]
    for quantity, rows in by_quantity.items():
        counts = [sum(e.verdict == v for e in rows) for v in ("right", "carried", "wrong", "blank")]
        lines.append(f"  {quantity:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(counts, (6, 8, 6, 6))))
        for e in rows:
            if e.verdict in ("wrong", "carried"):
                where = f"[{','.join(map(str, e.index))}]" if e.index else ""
                key = "-" if e.expected is None else f"{e.expected:.{decimals}f}"
                why = f" ({e.mistake})" if e.mistake else ""
                lines.append(f"      {where or 'value'}: {e.answer:.{decimals}f}, key {key}: {e.verdict}{why}")
    return "\n".join(lines)


def add_grade(commands):
    p = commands.add_parser(
        "grade",
        help="mark a whole class: a folder of answer files against a folder of sheets",
        description="Mark every answers file in --answers against its sheet in --sheets, and write one CSV row per "
        "student and sheet with the score per question and in all. An answers file is named STUDENT_N.json or "
        "STUDENT_N.csv (also STUDENT_exercise_N_answers.json, the template's name with the student's in front): "
        "N is the sheet's number, exercise_N.json in --sheets. Prints, and with --plot draws, how often each "
        "mistake occurred across the class.",
    )
    p.add_argument("--sheets", required=True, metavar="DIR", help="the folder 'exercise --out' wrote")
    p.add_argument("--answers", required=True, metavar="DIR", help="the students' answer files")
    p.add_argument("--out", required=True, type=suffixed(".csv"), metavar="GRADES.csv", help="the grades to write")
    p.add_argument("--decimals", type=non_negative, default=4, metavar="D", help="as for check (default 4)")
    p.add_argument("--plot", type=plot_path, metavar="FILE.png", help="draw how often each mistake occurred")
    p.set_defaults(run=run_grade)


def run_grade(args):
    from .check import Key, grade_class

    writable(args.out, args.plot)
    sheets = files.numbered_files(args.sheets, r"exercise_0*(\d+)\.json", "exercise_N.json sheets")
    submissions = files.student_files(args.answers)
    keys = {}
    for _, number, path in submissions:
        if number not in sheets:
            raise InputError(
                f"{path}: sheet {number} is not in {args.sheets} (it has {', '.join(map(str, sorted(sheets)))})"
            )
        if number not in keys:
            given = walkthrough.complete_given(files.read_json(sheets[number]), where=str(sheets[number]))
            keys[number] = (given, Key(given))
    grades, mistakes = grade_class(submissions, keys, args.decimals)
    text = format_grades_csv(grades)
    files.atomic_write(args.out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"marked {len(grades)} answer files from {len({g['student'] for g in grades})} students; "
          f"wrote {args.out}")  # fmt: skip
    total = sum(g["total"] for g in grades)
    print(f"class score: {sum(g['score'] for g in grades)} of {total}")
    if mistakes:
        print("mistakes across the class (answers, students):")
        for mistake, (count, students) in sorted(mistakes.items(), key=lambda item: -item[1][0]):
            print(f"  {mistake:<24}{count:>5}{len(students):>5}")
    else:
        print("no known mistakes in the class")
    if args.plot:
        from .figures import mistakes_figure, save

        save(mistakes_figure({m: c for m, (c, _) in mistakes.items()}), args.plot)
        print(f"wrote {args.plot}")
    return 0


def format_grades_csv(grades):
    import csv
    import io

    out = io.StringIO()
    columns = ["student", "sheet", "q1", "q1_total", "q2", "q2_total", "q3", "q3_total", "score", "total", "mistakes"]
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(grades)
    return out.getvalue()


def add_explore(commands):
    p = commands.add_parser(
        "explore",
        help="the whole pass in the browser: every value and gradient, to see and change",
        description="Write one self-contained HTML page (no network needed: it works from file:// and offline) that "
        "runs the forward and backward pass in the browser, and open it. Hover or focus any number to see where it "
        "comes from; draw on the image, type a kernel value, change the label, take an SGD step or train.",
    )
    add_options(p, "seed", "net", "data", "given")
    p.add_argument("--model", metavar="MODEL.npz", help="start from a trained model's network and parameters")
    p.add_argument(
        "--out", type=suffixed(".html"), metavar="FILE.html", help="where to write it (default: a temporary file)"
    )
    p.add_argument("--no-open", action="store_true", help="write the page, do not open it in a browser")
    p.set_defaults(run=run_explore, pool_stride=None)


def run_explore(args):
    import tempfile
    import webbrowser

    from .explore import page, training_set

    source = args.data
    if args.model:
        model = files.load_model(args.model)
        source = model.data if args.data == "shapes" else args.data  # the model's own data, unless --data says
        given = walkthrough.complete_given(walkthrough.model_given(model), args.seed, args.model, source=source)
    else:
        given = load_given(args)
    out = args.out or tempfile.NamedTemporaryFile(prefix="cnn-backprop-", suffix=".html", delete=False).name
    files.output_path(out)
    text = page(given, training_set(source, args.seed))
    files.atomic_write(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"wrote {out} ({len(text.encode()) // 1024} KB)")
    if not args.no_open:
        webbrowser.open(Path(out).resolve().as_uri())
    return 0


def add_export(commands):
    p = commands.add_parser(
        "export",
        help="write a network as a standalone PyTorch module file",
        description="Write a Python file whose build() returns the network as a torch.nn.Sequential (float64) and "
        "whose LOSS names its loss ('bce' or 'cross_entropy'). With --model, build() loads the trained weights "
        "from that model file (found relative to the exported file), or from the path it is given.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="MODEL.npz", help="a model saved by 'train --out'")
    which.add_argument("--net", metavar="SPEC", help=NET_HELP)
    p.add_argument("--data", metavar="SOURCE", default="shapes",
                   help="with --net: the data whose images it reads, for their size (default: shapes)")  # fmt: skip
    p.add_argument("--out", required=True, type=suffixed(".py"), metavar="MODEL.py", help="the file to write")
    p.set_defaults(run=run_export)


def run_export(args):
    out = files.output_path(args.out)
    if args.model:
        arch = files.load_model(args.model).arch
    else:
        arch = Architecture.parse(args.net, *data.load(args.data, 0, 1, 1).input_shape)
    text = export.source(arch, args.model, out.parent)
    files.atomic_write(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"wrote {out}: build() returns {arch} as a torch.nn.Sequential; LOSS = {arch.output.loss!r}")
    return 0


def add_nets(commands):
    p = commands.add_parser("nets", help="how to write a network (--net)",
                            description="Print the grammar of network specs, with the default networks.")  # fmt: skip
    p.set_defaults(run=run_nets)


def run_nets(args):
    print(grammar())
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
    for add in (add_walkthrough, add_gradcheck, add_train, add_evaluate, add_predict, add_dataset, add_exercise,
                add_check, add_grade, add_explore, add_export, add_nets):  # fmt: skip
        add(commands)
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
