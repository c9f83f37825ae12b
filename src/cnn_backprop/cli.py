"""The ``cnn-backprop`` command: it parses options, calls the package (``api.py`` and the modules), and prints.

Every user error ends in one line on stderr and exit status 2, with no traceback.
"""

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from . import DOCUMENTATION, __version__, api, explain, files, gradcheck, lms, summary, walkthrough
from .architecture import DIGITS_SPEC, SEED_SPEC, grammar
from .text import counted
from .train import CHOICES, COMMAND_LINE, option_error, schedule
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
    "the data: shapes (the seed's generated crosses and rectangles), digits (the 8x8 handwritten digits "
    "the package ships), an .npz file (images and labels, or the mnist.npz layout) or a folder of class folders of "
    "PNG images"
)
SHAPES, DIGITS = schedule("shapes"), schedule("digits")
MODEL_PASS = (
    "the pass of a trained model's network and parameters (.npz, or a .pt state_dict of the exported module) "
    "on an image of its data drawn by --seed, instead of --given and --net"
)


def both(name):
    """A training option's defaults, on shapes and on other data."""
    ours, theirs = (value if isinstance(value, str) else f"{value:g}"
                    for value in (getattr(schedule, name) for schedule in (SHAPES, DIGITS)))  # fmt: skip
    return f"default {ours}" if ours == theirs else f"default {ours} on shapes, {theirs} on other data"


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
    "model": ("--model", dict(metavar="MODEL", help="a model: the .npz 'train --out' saves, or a .pt state_dict of "
                              "the module 'export' writes, saved by torch.save(model.state_dict(), 'm.pt')")),
    "mode": ("--mode", dict(choices=list(walkthrough.MODES), help="training mode (a batch norm normalises by this "
                            "image's statistics) or evaluation mode (by its running statistics), as PyTorch's "
                            "model.train() and model.eval() (default: the given file's, else train)")),
    "json": ("--json", dict(action="store_true", help="print JSON instead of text")),
    "plot": ("--plot", dict(type=suffixed(".png", ".svg", ".pdf"), metavar="FILE.png",
                            help="save a figure here (.png, .svg or .pdf)")),
    "decimals": ("--decimals", dict(type=int, metavar="D")),
    "out": ("--out", dict(metavar="FILE")),
    "format": ("--format", dict(default="text", help="how to write the marking")),
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
    """The Pass of --given, --net, --data, --pool-stride and --seed, or of --model, in --mode."""
    return api.run(args.given, args.seed, args.net, args.data, args.pool_stride, args.model, args.mode)


def run_walkthrough(args):
    pass_ = walkthrough_of(args)
    directory = files.output_dir(args.figures) if args.figures else None
    writable(args.report)
    notes = sys.stderr if args.json else sys.stdout
    if args.json:
        print(walkthrough.to_json(pass_))
    elif isinstance(args.explain, str):
        print("\n".join(api.explain_value(pass_, args.explain, args.decimals)))
    elif args.all or explain.count_numbers(pass_) <= explain.WHOLE_LIMIT:
        print(explain.format_walkthrough(pass_, explain=args.explain, decimals=args.decimals))
    else:
        print(explain.format_summary(pass_, args.decimals))
        print(
            f"\n(a summary: this pass has {explain.count_numbers(pass_):,} numbers. --all prints every one, "
            "--json writes them as JSON, --explain NAME[i,j,...] shows how one was computed)"
        )
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
    print("\n".join(summary.gradcheck_lines(report)))
    return 0 if report.passed or report.at_kink else 1


def run_train(args):
    writable(args.out, args.plot)
    show = None if args.quiet else summary.progress(args.epochs or schedule(args.data).epochs)
    start = time.perf_counter()
    result = api.fit(args.net, args.data, args.seed, show, **{o.name: getattr(args, o.name) for o in COMMAND_LINE})
    wall = time.perf_counter() - start
    if args.out:
        files.save_model(args.out, result["model"])
    if args.plot:
        from .figures import learning_curves, save

        save(learning_curves(result["history"]), args.plot)
    if args.json:
        print(summary.training_json(result, wall))
        return 0
    print("\n".join(summary.training_lines(result, wall)))
    for path, what in ((args.out, "model"), (args.plot, "learning curves")):
        if path:
            print(f"wrote {what} to {path}")
    return 0


def run_evaluate(args):
    metrics = api.evaluate_model(files.load_model(args.model), args.data, args.seed, args.test_size)
    writable(args.plot)
    if args.plot:
        from .figures import evaluation_figure, save

        save(evaluation_figure(metrics["images"], metrics["labels"], metrics["predicted"], metrics["probabilities"],
                               metrics["confusion"], metrics["classes"]), args.plot)  # fmt: skip
    print(summary.evaluation_json(args.model, metrics) if args.json else "\n".join(summary.evaluation_lines(args.model,
          metrics)))  # fmt: skip
    if args.plot and not args.json:
        print(f"wrote the confusion matrix and the misclassified images to {args.plot}")
    return 0


def run_predict(args):
    model = files.load_model(args.model)
    classes, binary = model.classes, model.arch.output.binary
    rows = summary.prediction_rows(classes, binary, api.predict(model, args.file))
    print(json.dumps(rows, indent=2) if args.json else "\n".join(summary.prediction_lines(classes, binary, rows)))
    return 0


def run_dataset(args):
    writable(args.out, args.plot)
    images, labels, classes = api.dataset(args.data, args.count, args.seed)
    files.save_dataset(args.out, images, labels, classes)
    counts = summary.class_counts(args.data == "shapes", classes, labels)
    print(f"wrote {counted(len(images), 'image')} ({counts}) to {args.out}")
    if args.plot:
        from .figures import dataset_grid, save

        save(dataset_grid(images, labels, classes), args.plot)
        print(f"wrote examples to {args.plot}")
    return 0


def run_exercise(args):
    from .exercise import label_counts, write_sheets

    net = args.net or api.default_net(args.data)
    givens, directory, beyond = write_sheets(args.out, args.count, args.seed, args.decimals, args.integers,
                                             args.pool_stride, args.padding, net, args.data)  # fmt: skip
    counts = label_counts(givens)
    shown = (f"{counted(counts.get('cross', 0), 'cross')}, {counted(counts.get('rectangle', 0), 'rectangle')}"
             if "net" not in givens[0]
             else ", ".join(f"{n} x class {name}" for name, n in sorted(counts.items())))  # fmt: skip
    print(
        f"wrote {counted(args.count, 'exercise')} ({shown}) to {directory}/: exercise_N.md/.html (sheets), "
        "exercise_N_key.md/.html (answer keys), exercise_N.json (the instance), "
        "exercise_N_answers.json/.csv (blank answers for 'check')"
    )
    for number, found in beyond.items():
        print(f"sheet {number}: {'; '.join(found)} (the sheet says so; another --seed avoids it)")
    return 0


def run_check(args):
    marking, marked = api.check_answers(args.given, args.answers, args.decimals, args.points)
    if args.format in lms.PLATFORMS:
        print(lms.results_json(lms.RESULTS[args.format](marking)), end="")
    elif args.json:
        print(json.dumps({"score": round(marking.score, 6), "total": marking.total, "decimals": args.decimals,
                          "points": {q: {"earned": round(e, 6), "of": t} for q, (e, t) in marking.points.items()},
                          "entries": [entry.to_dict() for entry in marking.entries]}, indent=2))  # fmt: skip
    else:
        print("\n".join(summary.check_lines(marked)))
    return 0 if marking.score == marking.total else 1


def write_texts(directory, texts):
    """Write {relative path: text} into ``directory`` (made if needed)."""
    directory = files.output_dir(directory)
    for name, text in texts.items():
        path = directory / name
        path.parent.mkdir(exist_ok=True)
        files.atomic_write(path, lambda handle, text=text: handle.write(text.encode("utf-8")))


def run_grade(args):
    if args.format == "csv" and Path(args.out).suffix.lower() != ".csv":
        raise InputError(f"--out {args.out}: the grades' file name must end in .csv (with --format csv)")
    writable(args.plot, *((args.out,) if args.format == "csv" else ()))
    grades, mistakes, problems = api.grade(args.sheets, args.answers, args.decimals, args.points, args.roster)
    if args.format == "csv":
        text = summary.grades_csv(grades)
        files.atomic_write(args.out, lambda handle: handle.write(text.encode("utf-8")))
    else:
        results = lms.class_results(grades, args.format)
        write_texts(args.out, {f"{name}/results.json": text for name, text in results.items()})
    if args.feedback:
        write_texts(args.feedback, lms.feedback_pages(grades))
    print("\n".join(summary.grade_lines(grades, mistakes, args.out, problems)))
    if args.feedback:
        print(f"wrote {len(grades)} feedback pages to {Path(args.feedback)}/")
    if args.plot:
        from .figures import mistakes_figure, save

        save(mistakes_figure({m: c for m, (c, _) in mistakes.items()}), args.plot)
        print(f"wrote {args.plot}")
    return 0


def run_autograder(args):
    from . import autograder

    files.output_path(args.out)
    names = autograder.build(args.sheets, args.platform, args.out, args.decimals, args.points, args.roster)
    sheets = [name for name in names if name.startswith("sheets/")]
    others = ", ".join(name for name in names if name not in sheets)
    print(f"wrote {args.out} for {args.platform}: {others} and {len(sheets)} sheets")
    return 0


def run_explore(args):
    import tempfile
    import webbrowser

    out = args.out or tempfile.NamedTemporaryFile(prefix="cnn-backprop-", suffix=".html", delete=False).name
    files.output_path(out)
    text = api.explorer_page(args.given, args.seed, args.net, args.data, args.model)
    files.atomic_write(out, lambda handle: handle.write(text.encode("utf-8")))
    print(f"wrote {out} ({len(text.encode()) // 1024} KB)")
    if not args.no_open and not webbrowser.open(Path(out).resolve().as_uri()):
        print(f"found no browser to open it: open {Path(out).resolve().as_uri()} in one, or copy {out} to a "
              "machine that has one (the page needs no network)")  # fmt: skip
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


def walkthrough_options(p):
    add(p, "seed", "net", "data", "given", "pool_stride", "model", "mode", model={"help": MODEL_PASS})
    p.add_argument("--explain", nargs="?", const=True, default=False, metavar="NAME[i,j,...]",
                   help="show the arithmetic of every step (products and sums), to check by hand; with a value, e.g. "
                        "'conv2_kernel[3,0,1,2]' or 'dL/dpool[0,1]' (quote it), the arithmetic of that one value "
                        "alone")  # fmt: skip
    add(p, "decimals", "json", decimals={"default": 4, "help": "decimals shown in text (default: 4; --json always "
                                         "has every digit)"})  # fmt: skip
    p.add_argument("--all", action="store_true", help=f"print every number even of a pass of more than "
                   f"{explain.WHOLE_LIMIT} (without it, such a pass prints a summary)")  # fmt: skip
    p.add_argument("--figures", metavar="DIR", help="write PNG figures of the pass into DIR")
    p.add_argument("--report", type=suffixed(".md", ".html"), metavar="FILE",
                   help="write the whole walkthrough with its arithmetic and figures as one document: FILE.md "
                        "(figures in a folder beside it) or FILE.html (self-contained, reads offline)")  # fmt: skip
    return run_walkthrough


def gradcheck_options(p):
    add(p, "seed", "net", "data", "given", "pool_stride", "model", "mode", model={"help": MODEL_PASS})
    return run_gradcheck


def train_options(p):
    add(p, "data", "net")
    for option in COMMAND_LINE:  # each declared once, in TrainOptions
        name, meta = option.name, option.metadata
        kind = {"choices": CHOICES[name]} if name in CHOICES else {"type": training(name, option.type)}
        defaults = f" ({both(name)})" if meta["shows_default"] else ""
        p.add_argument(f"--{name.replace('_', '-')}", metavar=meta["metavar"], help=meta["help"] + defaults, **kind)
    add(p, "seed", "out", "plot", "json", out={"metavar": "MODEL.npz", "help": "save the trained model here"},
        plot={"help": "save learning curves here"})  # fmt: skip
    p.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (a bar on a terminal, else a line every few seconds)")  # fmt: skip
    return run_train


def evaluate_options(p):
    add(p, "model", "data", model={"required": True},
        data={"default": None, "help": DATA_HELP + " (default: what the model was trained on)"})  # fmt: skip
    p.add_argument("--test-size", type=training("test_size", int), default=2000, metavar="N",
                   help="shapes to generate, on shapes (default 2000)")  # fmt: skip
    add(p, "seed", "plot", "json", seed={"default": None, "help": "shapes: the stream to generate them from; data "
        "without a split of its own: the split (default: the model's training seed, so that its test set is held "
        "out)"}, plot={"help": "save the confusion matrix and the misclassified images here"})  # fmt: skip
    return run_evaluate


def predict_options(p):
    add(p, "model", model={"required": True})
    p.add_argument("file", metavar="FILE", help="the images")
    add(p, "json", json={"help": "print a JSON list, one object per image"})
    return run_predict


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


def check_options(p):
    add(p, "given", given={"required": True, "metavar": "SHEET.json", "help": "the sheet's instance "
                           "(exercise_N.json)"})  # fmt: skip
    p.add_argument("answers", metavar="ANSWERS", help="the answers, .json or .csv")
    add(p, "decimals", "json", "format", decimals={"default": 4, "help": "answers are right within one unit of their "
        "D-th decimal (default 4, the key's)"}, format={"choices": ("text", *lms.PLATFORMS), "help": "text (or "
        "--json), or the results.json a platform reads: gradescope (points, one test per question, feedback in "
        "Markdown) or prairielearn (score 0 to 1) (default: text)"})  # fmt: skip
    points_option(p)
    return run_check


def points_option(p):
    p.add_argument("--points", metavar="POINTS.json", help="points per quantity or question, e.g. {\"shapes\": 2, "
                   "\"backward.conv_kernel\": 3}: a question's points are shared by its quantities not named "
                   "(default: 1 point a quantity)")  # fmt: skip


def grade_options(p):
    p.add_argument("--sheets", required=True, metavar="DIR", help="the folder 'exercise --out' wrote")
    p.add_argument("--answers", required=True, metavar="DIR", help="the students' answer files")
    add(p, "out", "format", "decimals", "plot", out={"required": True, "metavar": "GRADES.csv|DIR", "help": "the "
        "grades to write: a .csv file, or with --format gradescope or prairielearn a folder of STUDENT_N/results.json"},
        format={"choices": lms.FORMATS, "default": "csv", "help": "csv: one row per student and sheet; gradescope, "
        "prairielearn: one results.json per student and sheet, as the platform reads it (default: csv)"},
        decimals={"default": 4, "help": "as for check (default 4)"},
        plot={"help": "draw how often each mistake occurred"})  # fmt: skip
    p.add_argument("--feedback", metavar="DIR", help="also write one Markdown page per student and sheet into DIR "
                   "(STUDENT_N.md): a line a quantity, and where and why for what did not earn")  # fmt: skip
    p.add_argument("--roster", metavar="ROSTER.csv", help="student,sheet: each student's own sheet, which their file "
                   "is marked against whatever its name says")  # fmt: skip
    points_option(p)
    return run_grade


def autograder_options(p):
    p.add_argument("--sheets", required=True, metavar="DIR", help="the folder 'exercise --out' wrote")
    p.add_argument("--platform", required=True, choices=lms.PLATFORMS, help="gradescope (upload the zip as the "
                   "assignment's autograder) or prairielearn (unzip it into an externally graded question's tests "
                   "folder)")  # fmt: skip
    add(p, "out", "decimals", out={"required": True, "type": suffixed(".zip"), "metavar": "AUTOGRADER.zip",
        "help": "the zip to write"}, decimals={"default": 4, "help": "as for check (default 4)"})  # fmt: skip
    p.add_argument("--roster", metavar="ROSTER.csv", help="student,sheet: each student's sheet, the student named "
                   "as Gradescope's submission metadata has them (email, student id or name); a file is marked "
                   "against its student's sheet, and another sheet's answers score 0")  # fmt: skip
    points_option(p)
    return run_autograder


def explore_options(p):
    add(p, "seed", "net", "data", "given", "model", "out", model={"help": "start from a trained model's network and "
        "parameters"}, out={"type": suffixed(".html"), "metavar": "FILE.html", "help": "where to write it (default: "
        "a temporary file)"})  # fmt: skip
    p.add_argument("--no-open", action="store_true", help="write the page, do not open it in a browser")
    return run_explore


def export_options(p):
    which = p.add_mutually_exclusive_group(required=True)
    add(which, "model", "net")
    add(p, "data", "out", data={"help": "with --net: the data whose images it reads, for their size (default: "
        "shapes)"}, out={"required": True, "type": suffixed(".py"), "metavar": "MODEL.py",
        "help": "the file to write"})  # fmt: skip
    return run_export


def nets_options(p):
    return run_nets


# Each command: the function that adds its options (and returns the function that runs it), its help in
# the list of commands, and the description its --help starts with.
COMMANDS = {
    "walkthrough": (walkthrough_options,
        "one forward and one backward pass, every number shown",
        "Answer the seed notebook's exercise for one instance, on any network: (1) the output sizes of the conv and "
        "pooling layers, (2) each layer's values before activation, (3) every gradient, down to dL/dkernel."),
    "gradcheck": (gradcheck_options,
        "compare every analytic gradient with central finite differences",
        "Run one forward/backward pass, then perturb every parameter entry by +-h and +-2h (five-point central "
        "differences) and compare. Prints the max relative error per parameter; exit status 1 if any exceeds "
        f"{gradcheck.TOLERANCE:g}."),
    "train": (train_options,
        "train and test a network with mini-batch SGD",
        "Load or generate the data, initialise the network, train with mini-batch SGD and report train/test loss "
        "and accuracy after every epoch. The same options and seed give the same model, bit for bit."),
    "evaluate": (evaluate_options,
        "accuracy, loss and confusion matrix of a saved model",
        "Evaluate a model on data: generated shapes from a stream of their own (never the images 'train' learned "
        "from), the digits' test split, a file's test set (mnist.npz), or every image of any other file or folder. "
        "Default: the data the model was trained on."),
    "predict": (predict_options,
        "classify images with a saved model",
        "Print the class and its probability for every image in FILE: .npy (N, H, W) or (N, C, H, W), .npz with "
        "'images', .csv with C*H*W values a row, or .json (one image as a list of rows, or a list of them)."),
    "dataset": (dataset_options,
        "write a data set as .npz (generated shapes, or another source's test set)",
        "Write images, labels and class names to an .npz file. Shapes: COUNT images from the seed's generator; "
        "with the same seed they are the training images of 'train --train-size N'. Other data: its test set (for "
        "digits, the split of --seed), ready for 'predict' and 'evaluate'."),
    "exercise": (exercise_options,
        "exercise sheets and answer keys for a class",
        "Write COUNT different instances of the exercise: for each a sheet with the given values (Markdown and "
        "HTML), a separate answer key with every answer and its arithmetic, and the instance as --given JSON. Sheet "
        "i is the instance of 'walkthrough --seed SEED+i', rounded; the key is computed from the rounded values, so "
        "a hand calculation matches it exactly."),
    "check": (check_options,
        "mark a student's answers to one exercise sheet, naming the mistake behind each wrong one",
        "Mark ANSWERS (the answer template 'exercise' writes, filled in: JSON in the walkthrough --json layout with "
        "null for a blank, or CSV with columns quantity,index,answer) against the sheet's instance. Each answer is "
        "right (within one unit of its last decimal, --decimals), carried (wrong only because an earlier answer "
        "was: computed correctly from the student's own values), wrong (with the known mistake that gives that "
        "value, where one does) or blank. Exit status 0 when all are right, 1 when not, 2 on bad input."),
    "grade": (grade_options,
        "mark a whole class: a folder of answer files against a folder of sheets",
        "Mark every answers file in --answers against its sheet in --sheets, and write one CSV row per student and "
        "sheet with the score per question and in all. An answers file is named STUDENT_N.json or STUDENT_N.csv "
        "(also STUDENT_exercise_N_answers.json, the template's name with the student's in front): N is the "
        "sheet's number, exercise_N.json in --sheets. Prints, and with --plot draws, how often each mistake "
        "occurred across the class."),
    "autograder": (autograder_options,
        "a ready autograder for Gradescope or PrairieLearn: this package, the sheets and the scripts, in one zip",
        "Write a zip that marks each student's answers file on the platform as 'check' does: Gradescope's "
        "autograder (setup.sh installs this package from the wheel in the zip; run_autograder marks the file in "
        "/autograder/submission and writes /autograder/results/results.json) or PrairieLearn's external grader "
        "(run.sh, as the question's tests: /grade/student to /grade/results/results.json). The root comes from "
        "$AUTOGRADER_ROOT where set. A submission that cannot be marked scores 0 with a message saying what to "
        "fix."),
    "explore": (explore_options,
        "the whole pass in the browser: every value and gradient, to see and change",
        "Write one self-contained HTML page (no network needed: it works from file:// and offline) that runs the "
        "forward and backward pass in the browser, and open it. Hover or focus any number to see where it comes "
        "from; draw on the image, type a kernel value, change the label, take an SGD step or train."),
    "export": (export_options,
        "write a network as a standalone PyTorch module file",
        "Write a Python file whose build() returns the network as a torch.nn.Sequential (float64) and whose LOSS "
        "names its loss ('bce' or 'cross_entropy'). With --model, build() loads the trained weights from that "
        "model file (found relative to the exported file), or from the path it is given."),
    "nets": (nets_options, "how to write a network (--net)",
        "Print the grammar of network specs, from the registry of layer kinds, with the default networks."),
}  # fmt: skip


def build_parser():
    parser = Parser(prog="cnn-backprop", description="Backpropagation through a small CNN, from scratch in NumPy: "
                    "every number of a forward and backward pass, checked.",
                    epilog=f"Documentation: {DOCUMENTATION}")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for name, (options, help, description) in COMMANDS.items():
        p = commands.add_parser(name, help=help, description=description)
        p.set_defaults(run=options(p))
    return parser


def checked(args):
    """The checks argparse cannot make: --decimals at least 0."""
    if getattr(args, "decimals", 0) < 0:
        raise InputError(f"--decimals must be >= 0, got {args.decimals}")
    return args


def note(message, category, filename, lineno, file=None, line=None):
    """A warning of ours (a conversion) as one line on stderr, as errors are; any other as Python shows it."""
    if issubclass(category, files.Converted):
        print(f"cnn-backprop: note: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=sys.stderr)


def main(argv=None):
    try:
        with warnings.catch_warnings():
            warnings.showwarning = note
            warnings.simplefilter("default", files.Converted)  # once for each file, whatever filters are set
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
