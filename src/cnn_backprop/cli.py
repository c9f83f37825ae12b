"""The ``cnn-backprop`` command: it parses options, calls the package (``api.py`` and the modules), and prints.

Every user error ends in one line on stderr and exit status 2, with no traceback.
"""

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, api, explain, files, gradcheck, walkthrough
from .architecture import DIGITS_SPEC, SEED_SPEC, grammar
from .check import MISTAKES
from .network import INITS
from .train import DTYPES, LR_DECAYS, option_error, schedule
from .validate import InputError


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: usage is one ``--help`` away."""

    def error(self, message):
        raise InputError(f"{message} (see '{self.prog} --help')")


def whole(minimum):
    """argparse type: a whole number >= ``minimum``."""

    def check(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    check.__name__ = "int"
    return check


def training(field, convert):
    """argparse type: a training option, checked by the rule TrainOptions checks it by (train.OPTION_RULES)."""

    def check(text):
        value = convert(text)
        message = option_error(field, value)
        if message:
            raise argparse.ArgumentTypeError(f"{message}, got {text}")
        return value

    check.__name__ = convert.__name__
    return check


def suffixed(*suffixes):
    """argparse type: a file name ending in one of ``suffixes``."""

    def check(text):
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text}: the file name must end in {' or '.join(suffixes)}")
        return text

    return check


DATA_HELP = (
    "the data: shapes (the seed's generated crosses and rectangles), digits (scikit-learn's 8x8 handwritten "
    "digits), an .npz file (images and labels, or the mnist.npz layout) or a folder of class folders of PNG images"
)
SHAPES, DIGITS = schedule("shapes"), schedule("digits")


def both(field):
    """A training option's defaults, on shapes and on other data."""
    ours, theirs = getattr(SHAPES, field), getattr(DIGITS, field)
    return f"default {ours:g}" if ours == theirs else f"default {ours:g} on shapes, {theirs:g} on other data"


# Every option, declared once: (flags, argparse keywords).  A command takes the ones it names, and may change
# their default, help or required (``add``).
OPTIONS = {
    "seed": ("--seed", dict(type=int, default=0, help="random seed; the same seed gives the same numbers on every "
                            "machine (default: 0)")),
    "net": ("--net", dict(metavar="SPEC", help=f"the network, as a spec: layers separated by commas, e.g. "
                          f"'{DIGITS_SPEC}' (default: the seed's '{SEED_SPEC}' on shapes, that digits network on "
                          "other data); see 'cnn-backprop nets'")),
    "data": ("--data", dict(metavar="SOURCE", default="shapes", help=DATA_HELP + " (default: shapes)")),
    "given": ("--given", dict(metavar="FILE", help="one exercise instance as JSON: image, label and any of the "
                              "network's parameters and hyperparameters (conv_kernel, conv_bias, conv_stride, "
                              "conv_padding, pool_size, pool_stride, fc_weights, fc_bias for the seed network); the "
                              "rest is drawn from --seed")),
    "pool_stride": ("--pool-stride", dict(type=int, metavar="S", help="the stride of every pooling layer (default: "
                                          "the spec's or the given file's; for the seed network 1, and 2 leaves one "
                                          "FC input)")),
    "model": ("--model", dict(metavar="MODEL.npz", help="a model saved by 'train --out'")),
    "json": ("--json", dict(action="store_true", help="print JSON instead of text")),
    "plot": ("--plot", dict(type=suffixed(".png", ".svg", ".pdf"), metavar="FILE.png",
                            help="save a figure here (.png, .svg or .pdf)")),
    "decimals": ("--decimals", dict(type=int, metavar="D")),
    "out": ("--out", dict(metavar="FILE")),
    "test_size": ("--test-size", dict(type=training("test_size", int), metavar="N",
                                      help=f"shapes generated for testing ({both('test_size')})")),
}  # fmt: skip


def add(parser, *names, **changes):
    """Add the options ``names`` (keys of OPTIONS) to ``parser``; ``changes`` {name: {keyword: value}}."""
    for name in names:
        flags, keywords = OPTIONS[name]
        parser.add_argument(flags, **{**keywords, **changes.get(name, {})})


def writable(*paths):
    """Check, before any work, that every output path given can be written."""
    for path in paths:
        if path:
            files.output_path(path)


def walkthrough_of(args):
    """The Pass of --given, --net, --data, --pool-stride and --seed."""
    return api.run(args.given, args.seed, args.net, args.data, args.pool_stride)


def run_walkthrough(args):
    pass_ = walkthrough_of(args)
    directory = files.output_dir(args.figures) if args.figures else None
    writable(args.report)
    notes = sys.stderr if args.json else sys.stdout
    if args.json:
        print(walkthrough.to_json(pass_))
    elif isinstance(args.explain, str):
        print("\n".join(api.explain_value(pass_, args.explain, args.decimals)))
    else:
        print(explain.format_walkthrough(pass_, explain=args.explain, decimals=args.decimals))
    if directory is not None:
        from .figures import walkthrough_figures  # Matplotlib loads only when figures are asked for

        print(f"wrote {len(walkthrough_figures(pass_, directory))} figures to {directory}/", file=notes)
    if args.report:
        from .figures import walkthrough_pngs
        from .report import walkthrough_document, write_document

        write_document(
            walkthrough_document(pass_, decimals=args.decimals, figures=walkthrough_pngs(pass_)), args.report
        )
        print(f"wrote the report to {args.report}", file=notes)
    return 0


def run_gradcheck(args):
    report = api.check_gradients(walkthrough_of(args))
    width = max(len(name) for name in report.errors) + 1
    print(f"five-point central differences, h = {gradcheck.STEP:g}; max relative error per gradient:")
    for name, error in report.errors.items():
        print(f"  dL/d{name:<{max(width, 13)}}{error:.3e}  {report.verdicts[name]}")
    if report.at_kink:
        kinks = report.kinks
        print(f"not checkable at a kink: {kinks['pool']} max-pooling windows tie and {kinks['relu']} ReLU inputs are "
              f"within 4h of 0, and {len(report.moved)} finite differences change with the step (h against h/2), so "
              "the loss has kinks within reach of the steps, where finite differences give no derivative (the tests "
              "hold every gradient to PyTorch's instead)")  # fmt: skip
        return 0
    print(f"{'passed' if report.passed else 'FAILED'}: worst {report.worst:.3e} (tolerance {gradcheck.TOLERANCE:g})")
    return 0 if report.passed else 1


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


TRAIN_OPTIONS = ("train_size", "test_size", "epochs", "lr", "momentum", "batch_size", "shift", "lr_decay", "init",
                 "dtype")  # fmt: skip


def run_train(args):
    writable(args.out, args.plot)
    epochs = args.epochs or schedule(args.data).epochs
    show = None if args.quiet or not sys.stderr.isatty() else progress_bar(epochs)
    start = time.perf_counter()
    result = api.fit(args.net, args.data, args.seed, show, **{key: getattr(args, key) for key in TRAIN_OPTIONS})
    wall = time.perf_counter() - start
    options, arch, dataset = result["options"], result["model"].arch, result["dataset"]
    if args.out:
        files.save_model(args.out, result["model"])
    if args.plot:
        from .figures import learning_curves, save

        save(learning_curves(result["history"]), args.plot)
    if args.json:
        summary = {key: result[key] for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss",
                                                "relu_alive", "seconds")}  # fmt: skip
        summary.update(wall_seconds=wall, **options.to_dict(), net=str(arch), split=dataset.split,
                       history=result["history"])  # fmt: skip
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"trained {options.epochs} epochs on {len(dataset.train_images)} images (batch {options.batch_size}, "
        f"lr {options.lr:g}, seed {options.seed}) in {result['seconds']:.2f} s of SGD steps, {wall:.2f} s in all"
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


def run_evaluate(args):
    model = files.load_model(args.model)
    metrics = api.evaluate_model(model, args.data, args.seed, args.test_size)
    writable(args.plot)
    classes, confusion, per_class = model.classes, metrics["confusion"], metrics["class_accuracy"]
    if args.plot:
        from .figures import evaluation_figure, save

        save(evaluation_figure(metrics["images"], metrics["labels"], metrics["predicted"], metrics["probabilities"],
                               confusion, classes), args.plot)  # fmt: skip
    count = len(metrics["images"])
    if args.json:
        print(json.dumps({"model": args.model, "data": metrics["description"], "count": count,
                          "accuracy": metrics["accuracy"], "loss": metrics["loss"], "classes": list(classes),
                          "confusion": confusion.tolist(), "class_accuracy": per_class}, indent=2))  # fmt: skip
        return 0
    print(f"{args.model} on {metrics['description']}:")
    print(f"  accuracy {100 * metrics['accuracy']:.2f}%  ({int(np.trace(confusion))} of {count} right), "
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


def run_predict(args):
    model = files.load_model(args.model)
    classes, binary = model.classes, model.arch.output.binary
    rows = []
    for i, p in enumerate(api.predict(model, args.file)):
        label = int(p.argmax())
        row = {"index": i, "label": label, "class": classes[label], "probabilities": p.tolist()}
        if binary:
            row[f"probability_{classes[1]}"] = float(p[1])
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif binary:
        print(f"{'index':>5}  {'class':<9}  P({classes[1]})")
        for row in rows:
            print(f"{row['index']:>5}  {row['class']:<9}  {row['probabilities'][1]:.6f}")
    else:
        print(f"{'index':>5}  {'class':<9}  P(class)  runner-up")
        for row in rows:
            order = np.argsort(row["probabilities"])[::-1]
            print(f"{row['index']:>5}  {row['class']:<9}  {row['probabilities'][order[0]]:.6f}  "
                  f"{classes[order[1]]} ({row['probabilities'][order[1]]:.6f})")  # fmt: skip
    return 0


def run_dataset(args):
    writable(args.out, args.plot)
    images, labels, classes = api.dataset(args.data, args.count, args.seed)
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


def run_exercise(args):
    from .exercise import label_counts, write_sheets

    net = args.net or api.default_net(args.data)
    givens, directory = write_sheets(args.out, args.count, args.seed, args.decimals, args.integers, args.pool_stride,
                                     args.padding, net, args.data)  # fmt: skip
    counts = label_counts(givens)
    shown = (f"{counts.get('cross', 0)} crosses, {counts.get('rectangle', 0)} rectangles" if "net" not in givens[0]
             else ", ".join(f"{n} x class {name}" for name, n in sorted(counts.items())))  # fmt: skip
    print(
        f"wrote {args.count} exercises ({shown}) to {directory}/: exercise_N.md/.html (sheets), "
        "exercise_N_key.md/.html (answer keys), exercise_N.json (the instance), "
        "exercise_N_answers.json/.csv (blank answers for 'check')"
    )
    return 0


def run_check(args):
    entries, marked = api.check_answers(args.given, args.answers, args.decimals)
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


def run_grade(args):
    writable(args.out, args.plot)
    grades, mistakes = api.grade(args.sheets, args.answers, args.decimals)
    out = io.StringIO()
    columns = ["student", "sheet", "q1", "q1_total", "q2", "q2_total", "q3", "q3_total", "score", "total", "mistakes"]
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(grades)
    files.atomic_write(args.out, lambda handle: handle.write(out.getvalue().encode("utf-8")))
    print(f"marked {len(grades)} answer files from {len({g['student'] for g in grades})} students; wrote {args.out}")
    print(f"class score: {sum(g['score'] for g in grades)} of {sum(g['total'] for g in grades)}")
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


def run_explore(args):
    import tempfile
    import webbrowser

    out = args.out or tempfile.NamedTemporaryFile(prefix="cnn-backprop-", suffix=".html", delete=False).name
    files.output_path(out)
    text = api.explorer_page(args.given, args.seed, args.net, args.data, args.model)
    files.atomic_write(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"wrote {out} ({len(text.encode()) // 1024} KB)")
    if not args.no_open:
        webbrowser.open(Path(out).resolve().as_uri())
    return 0


def run_export(args):
    out = files.output_path(args.out)
    arch, text = api.export_source(args.model, args.net, args.data, out.parent)
    files.atomic_write(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"wrote {out}: build() returns {arch} as a torch.nn.Sequential; LOSS = {arch.output.loss!r}")
    return 0


def run_nets(args):
    print(grammar())
    return 0


# Each command: (name, help, description, its options, and how it reads them).
COMMANDS = {}


def command(name, help, description):
    """Declare a command: the decorated function adds its options to the parser."""

    def declare(options):
        COMMANDS[name] = (help, description, options)
        return options

    return declare


@command(
    "walkthrough",
    "one forward and one backward pass, every number shown",
    "Answer the seed notebook's exercise for one instance, on any network: (1) the output sizes of the conv and "
    "pooling layers, (2) each layer's values before activation, (3) every gradient, down to dL/dkernel.",
)
def walkthrough_options(p):
    add(p, "seed", "net", "data", "given", "pool_stride")
    p.add_argument("--explain", nargs="?", const=True, default=False, metavar="NAME[i,j,...]",
                   help="show the arithmetic of every step (products and sums), to check by hand; with a value, e.g. "
                        "'conv2_kernel[3,0,1,2]' or 'dL/dpool[0,1]' (quote it), the arithmetic of that one value "
                        "alone")  # fmt: skip
    add(p, "decimals", "json", decimals={"default": 4, "help": "decimals shown in text (default: 4; --json always "
                                         "has every digit)"})  # fmt: skip
    p.add_argument("--figures", metavar="DIR", help="write PNG figures of the pass into DIR")
    p.add_argument("--report", type=suffixed(".md", ".html"), metavar="FILE",
                   help="write the whole walkthrough with its arithmetic and figures as one document: FILE.md "
                        "(figures in a folder beside it) or FILE.html (self-contained, reads offline)")  # fmt: skip
    return run_walkthrough


@command(
    "gradcheck",
    "compare every analytic gradient with central finite differences",
    "Run one forward/backward pass, then perturb every parameter entry by +-h and +-2h (five-point central "
    "differences) and compare. Prints the max relative error per parameter; exit status 1 if any exceeds "
    f"{gradcheck.TOLERANCE:g}.",
)
def gradcheck_options(p):
    add(p, "seed", "net", "data", "given", "pool_stride")
    return run_gradcheck


@command(
    "train",
    "train and test a network with mini-batch SGD",
    "Load or generate the data, initialise the network, train with mini-batch SGD and report train/test loss "
    "and accuracy after every epoch. The same options and seed give the same model, bit for bit.",
)
def train_options(p):
    add(p, "data", "net")
    p.add_argument("--train-size", type=training("train_size", int), metavar="N",
                   help=f"shapes generated for training ({both('train_size')})")  # fmt: skip
    add(p, "test_size")
    p.add_argument("--epochs", type=training("epochs", int), metavar="E",
                   help=f"passes over the training set ({both('epochs')})")  # fmt: skip
    p.add_argument("--lr", type=training("lr", float), help=f"SGD learning rate ({both('lr')})")
    p.add_argument("--momentum", type=training("momentum", float), metavar="M",
                   help=f"SGD momentum, 0 for plain SGD ({both('momentum')})")  # fmt: skip
    p.add_argument("--batch-size", type=training("batch_size", int), metavar="B",
                   help=f"images per SGD step ({both('batch_size')})")  # fmt: skip
    p.add_argument("--shift", type=training("shift", int), metavar="P",
                   help=f"move each training image by up to P pixels at random, each time it is used "
                        f"({both('shift')})")  # fmt: skip
    p.add_argument("--lr-decay", choices=LR_DECAYS,
                   help=f"cosine: the step size falls from lr to 0 along a half cosine (default {SHAPES.lr_decay} "
                        f"on shapes, {DIGITS.lr_decay} on other data)")  # fmt: skip
    p.add_argument("--init", choices=INITS, help="initialisation: " + "; ".join(f"{k}: {v}" for k, v in INITS.items())
                   + " (default: seed for sigmoid networks, pytorch for softmax ones)")  # fmt: skip
    p.add_argument("--dtype", choices=DTYPES,
                   help="the precision of training: float64 (default) matches the walkthrough to the last digit, "
                        "float32 is about 1.6x as fast on digits; the model file is float64 either way")  # fmt: skip
    add(p, "seed", "out", "plot", "json", out={"metavar": "MODEL.npz", "help": "save the trained model here"},
        plot={"help": "save learning curves here"})  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return run_train


@command(
    "evaluate",
    "accuracy, loss and confusion matrix of a saved model",
    "Evaluate a model on data: generated shapes from a stream of their own (never the images 'train' learned "
    "from), the digits' test split, a file's test set (mnist.npz), or every image of any other file or folder. "
    "Default: the data the model was trained on.",
)
def evaluate_options(p):
    add(p, "model", "data", "test_size", "seed", "plot", "json", model={"required": True},
        data={"default": None, "help": DATA_HELP + " (default: what the model was trained on)"},
        test_size={"default": 2000, "help": "shapes to generate, on shapes (default 2000)"},
        seed={"default": None, "help": "shapes: the stream to generate them from; data without a split of its own: "
              "the split (default: the model's training seed, so that its test set is held out)"},
        plot={"help": "save the confusion matrix and the misclassified images here"})  # fmt: skip
    return run_evaluate


@command(
    "predict",
    "classify images with a saved model",
    "Print the class and its probability for every image in FILE: .npy (N, H, W) or (N, C, H, W), .npz with "
    "'images', .csv with C*H*W values a row, or .json (one image as a list of rows, or a list of them).",
)
def predict_options(p):
    add(p, "model", model={"required": True})
    p.add_argument("file", metavar="FILE", help="the images")
    add(p, "json", json={"help": "print a JSON list, one object per image"})
    return run_predict


@command(
    "dataset",
    "write a data set as .npz (generated shapes, or another source's test set)",
    "Write images, labels and class names to an .npz file. Shapes: COUNT images from the seed's generator; "
    "with the same seed they are the training images of 'train --train-size N'. Other data: its test set (for "
    "digits, the split of --seed), ready for 'predict' and 'evaluate'.",
)
def dataset_options(p):
    add(p, "data")
    p.add_argument("--count", type=whole(1), default=2000, metavar="N", help="shapes to generate (default 2000)")
    add(
        p,
        "seed",
        "out",
        "plot",
        out={"required": True, "type": suffixed(".npz"), "metavar": "DATA.npz", "help": "where to write it"},
        plot={"help": "save a grid of examples here"},
    )
    return run_dataset


@command(
    "exercise",
    "exercise sheets and answer keys for a class",
    "Write COUNT different instances of the exercise: for each a sheet with the given values (Markdown and "
    "HTML), a separate answer key with every answer and its arithmetic, and the instance as --given JSON. Sheet "
    "i is the instance of 'walkthrough --seed SEED+i', rounded; the key is computed from the rounded values, so "
    "a hand calculation matches it exactly.",
)
def exercise_options(p):
    p.add_argument("--count", type=whole(1), default=10, metavar="N", help="sheets (default 10)")
    add(p, "seed", "net", "data", "out", "decimals", out={"required": True, "metavar": "DIR",
        "help": "folder for the sheets (created if needed)"},
        decimals={"default": 2, "help": "decimals of the given values (default 2)"})  # fmt: skip
    p.add_argument(
        "--integers",
        action="store_true",
        help="small whole numbers instead (pixels 1-3, weights -1 to 2): for exercises by hand",
    )
    p.add_argument("--pool-stride", type=whole(1), nargs="+", default=[None], metavar="S",
                   help="every pooling layer's stride (default: the spec's, 1 for the seed network); several values "
                        "cycle over the sheets, e.g. 1 2")  # fmt: skip
    p.add_argument(
        "--padding",
        type=whole(0),
        nargs="+",
        default=[None],
        metavar="P",
        help="every conv layer's padding (default: the spec's); several cycle over the sheets",
    )
    return run_exercise


@command(
    "check",
    "mark a student's answers to one exercise sheet, naming the mistake behind each wrong one",
    "Mark ANSWERS (the answer template 'exercise' writes, filled in: JSON in the walkthrough --json layout with "
    "null for a blank, or CSV with columns quantity,index,answer) against the sheet's instance. Each answer is "
    "right (within one unit of its last decimal, --decimals), carried (wrong only because an earlier answer "
    "was: computed correctly from the student's own values), wrong (with the known mistake that gives that "
    "value, where one does) or blank. Exit status 0 when all are right, 1 when not, 2 on bad input.",
)
def check_options(p):
    add(p, "given", given={"required": True, "metavar": "SHEET.json", "help": "the sheet's instance "
                           "(exercise_N.json)"})  # fmt: skip
    p.add_argument("answers", metavar="ANSWERS", help="the answers, .json or .csv")
    add(p, "decimals", "json", decimals={"default": 4, "help": "answers are right within one unit of their D-th "
                                         "decimal (default 4, the key's)"})  # fmt: skip
    return run_check


@command(
    "grade",
    "mark a whole class: a folder of answer files against a folder of sheets",
    "Mark every answers file in --answers against its sheet in --sheets, and write one CSV row per student and "
    "sheet with the score per question and in all. An answers file is named STUDENT_N.json or STUDENT_N.csv "
    "(also STUDENT_exercise_N_answers.json, the template's name with the student's in front): N is the "
    "sheet's number, exercise_N.json in --sheets. Prints, and with --plot draws, how often each mistake "
    "occurred across the class.",
)
def grade_options(p):
    p.add_argument("--sheets", required=True, metavar="DIR", help="the folder 'exercise --out' wrote")
    p.add_argument("--answers", required=True, metavar="DIR", help="the students' answer files")
    add(p, "out", "decimals", "plot", out={"required": True, "type": suffixed(".csv"), "metavar": "GRADES.csv",
        "help": "the grades to write"}, decimals={"default": 4, "help": "as for check (default 4)"},
        plot={"help": "draw how often each mistake occurred"})  # fmt: skip
    return run_grade


@command(
    "explore",
    "the whole pass in the browser: every value and gradient, to see and change",
    "Write one self-contained HTML page (no network needed: it works from file:// and offline) that runs the "
    "forward and backward pass in the browser, and open it. Hover or focus any number to see where it comes "
    "from; draw on the image, type a kernel value, change the label, take an SGD step or train.",
)
def explore_options(p):
    add(p, "seed", "net", "data", "given", "model", "out", model={"help": "start from a trained model's network and "
        "parameters"}, out={"type": suffixed(".html"), "metavar": "FILE.html", "help": "where to write it (default: "
        "a temporary file)"})  # fmt: skip
    p.add_argument("--no-open", action="store_true", help="write the page, do not open it in a browser")
    return run_explore


@command(
    "export",
    "write a network as a standalone PyTorch module file",
    "Write a Python file whose build() returns the network as a torch.nn.Sequential (float64) and whose LOSS "
    "names its loss ('bce' or 'cross_entropy'). With --model, build() loads the trained weights from that "
    "model file (found relative to the exported file), or from the path it is given.",
)
def export_options(p):
    which = p.add_mutually_exclusive_group(required=True)
    add(which, "model", "net")
    add(p, "data", "out", data={"help": "with --net: the data whose images it reads, for their size (default: "
        "shapes)"}, out={"required": True, "type": suffixed(".py"), "metavar": "MODEL.py",
        "help": "the file to write"})  # fmt: skip
    return run_export


@command("nets", "how to write a network (--net)", "Print the grammar of network specs, from the registry of layer "
         "kinds, with the default networks.")  # fmt: skip
def nets_options(p):
    return run_nets


def build_parser():
    parser = Parser(prog="cnn-backprop", description="Backpropagation through a small CNN, from scratch in NumPy: "
                    "every number of a forward and backward pass, checked.")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for name, (help, description, options) in COMMANDS.items():
        p = commands.add_parser(name, help=help, description=description)
        p.set_defaults(run=options(p))
    return parser


def checked(args):
    """The checks argparse cannot make: --decimals at least 0."""
    if getattr(args, "decimals", 0) < 0:
        raise InputError(f"--decimals must be >= 0, got {args.decimals}")
    return args


def main(argv=None):
    try:
        args = checked(build_parser().parse_args(argv))
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
