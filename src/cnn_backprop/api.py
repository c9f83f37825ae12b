"""What a notebook calls, and the command line too: every command's work as a function that returns data.

``import cnn_backprop as cb`` gives these (see the package's docstring).  They
check what they are given and raise ``InputError`` with the very message the
command line prints; nothing here prints.
"""

import copy
import html
import importlib.util
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import data, files, gradcheck, walkthrough
from .architecture import SEED_SPEC, Architecture, default_spec
from .network import Network, init_params
from .train import confusion_matrix, schedule
from .validate import InputError


def default_net(source="shapes"):
    """The network a command uses on ``source`` when none is given: the seed's on shapes, else the digits
    network with one output per class of the data."""
    if source in data.SOURCES:
        return default_spec(source, 10)
    return default_spec(source, len(files.load_labelled(source)[2]))


def architecture_for(spec, dataset, where="--net"):
    """The Architecture of ``spec`` (default: ``default_net``) on ``dataset``'s images, checked against its classes."""
    arch = Architecture.parse(spec or default_spec(dataset.source, len(dataset.classes)), *dataset.input_shape)
    return fits_classes(arch, dataset, where)


def fits_classes(arch, dataset, where="--net"):
    """``arch``, if it tells ``dataset``'s classes apart, else an InputError saying how to end it."""
    classes = len(dataset.classes)
    if arch.classes != classes:
        fix = "'dense 1, sigmoid'" if classes == 2 else f"'dense {classes}, softmax'"
        raise InputError(f"{where}: the data has {classes} classes ({', '.join(dataset.classes[:12])}), the network "
                         f"tells {arch.classes} apart; end it in {fix}")  # fmt: skip
    return arch


def build(spec=SEED_SPEC, input_shape=(1, 5, 5), seed=0, init=None):
    """A Network of ``spec`` on images of ``input_shape`` (C, H, W), its parameters drawn from ``seed``
    (``init``: network.INITS, default the output's)."""
    channels, size, _ = input_shape
    arch = Architecture.parse(spec, channels, size)
    return Network(arch, init_params(arch, data.random_streams(seed)[1], init))


def given_for(given=None, seed=0, net=None, source="shapes", pool_stride=None, mode=None):
    """A complete exercise instance: ``given`` (a dict, a Pass (the instance it ran on), or the path of a --given
    file: the instance itself or a whole ``walkthrough --json``), on the network ``net`` (default: the given's, else
    ``default_net``), with every pooling layer at ``pool_stride`` if given, in ``mode`` ("train" or "eval"; default:
    the given's, else "train"); the rest drawn from ``seed``, an image from ``source``."""
    from .exercise import architecture_choices

    path = str(given) if isinstance(given, (str, Path)) else None
    if isinstance(given, walkthrough.Pass):
        given = json.loads(walkthrough.to_json(given["given"]))
    given = walkthrough.given_of(files.read_json(path)) if path else {} if given is None else given
    where = path or ("--net" if net else "the given values")
    if isinstance(given, dict) and net and given.get("net", net) != net:
        raise InputError(f"{where} is for the network '{given['net']}', but --net says '{net}'; give one")
    net = net or (given.get("net") if isinstance(given, dict) else None) or default_net(source)
    if pool_stride is not None and isinstance(given, dict):
        given = {**given, **architecture_choices(net, pool_stride=pool_stride)}
        where = f"{where} with --pool-stride {pool_stride}" if path else "--pool-stride"
    if mode is not None and isinstance(given, dict):
        given = {**given, "mode": mode}
    return walkthrough.complete_given(given, seed, where, net=net, source=source)


def run(given=None, seed=0, net=None, source="shapes", pool_stride=None, model=None, mode=None):
    """One forward and one backward pass of an exercise instance (see ``given_for``), or of a trained model's
    network and parameters (``model``: see ``model_instance``), in ``mode`` ("train" or "eval", as PyTorch's
    model.train() and model.eval(); default: the given's, else "train"): a ``walkthrough.Pass``."""
    if model is not None:
        if given is not None or net or pool_stride is not None:
            raise InputError("--model brings its own network and parameters: give --model, or --given, --net and "
                             "--pool-stride, not both")  # fmt: skip
        return walkthrough.run(model_instance(model, seed, source, mode or "train")[0])
    return walkthrough.run(given_for(given, seed, net, source, pool_stride, mode))


def model_instance(model, seed=0, source="shapes", mode="train"):
    """(A complete instance of a trained model's network and parameters, the data its image is drawn from by
    ``seed``): ``model`` is a files.Model or the path of a model file (.npz, or a .pt state_dict), ``source`` the
    data (the model's own unless another is asked), in ``mode`` (evaluation: with the model's running statistics)."""
    where = "the model" if isinstance(model, files.Model) else str(model)
    trained = model if isinstance(model, files.Model) else files.load_model(model)
    source = trained.data if source == "shapes" else source
    given = walkthrough.model_given(trained, mode)
    return walkthrough.complete_given(given, seed, where, source=source), source


def pass_of(network, image, label, classes=None, mode=None):
    """The Pass of ``network`` (a Network) on one ``image`` (C, H, W) with its ``label``, in ``mode``: "train" or
    "eval" (a batch norm normalising by its running statistics), as PyTorch's model.train() and model.eval();
    default: the network's own (``network.training``; a module read by ``from_torch`` in eval() state is in eval)."""
    mode = mode or network.mode
    given = walkthrough.network_given(network.arch, network.params, classes, network.buffers, mode)
    given.update(image=np.asarray(image, dtype=float).tolist(), label=int(label))
    return walkthrough.run(walkthrough.complete_given(given))


class Explained(list):
    """The lines of ``explain_value``: a list of strings, which a notebook shows as the text and a table of the terms
    each line adds up."""

    def _repr_html_(self):
        from .explain import terms

        parts = []
        for line in self:
            parts.append(f"<pre>{html.escape(line)}</pre>")
            added = terms(line)
            if added is None:
                continue
            quantity, rows, result = added
            cells = "".join(
                f"<tr><td>{i}</td><td>{html.escape(term)}</td><td>{'' if value is None else f'{value:.6g}'}</td></tr>"
                for i, (term, value) in enumerate(rows, start=1)
            )
            parts.append(f"<table><tr><th></th><th>term</th><th>value</th></tr>{cells}<tr><th colspan=2>"
                         f"{html.escape(quantity)}</th><th>{html.escape(result)}</th></tr></table>")  # fmt: skip
        return "<div>" + "".join(parts) + "</div>"


def explain_value(pass_, which, decimals=4):
    """The arithmetic of one number of a pass, e.g. ``"conv_pre[0,1]"`` or ``"dL/dconv_kernel[0,0]"``: its lines (an
    ``Explained``, a list that shows its terms as a table in a notebook)."""
    from .explain import value_arithmetic

    return Explained(line.strip() for line in value_arithmetic(pass_, which, decimals))


@dataclass(frozen=True)
class GradcheckReport:
    """Every gradient of a pass against five-point central differences.

    ``errors``: {name: max relative error}; ``verdicts``: {name: "ok", "at a kink" or "FAIL"}; ``kinks``: the
    kinks within reach ({"relu": n, "pool": m}); ``moved``: the failing differences that change with the step.
    """

    errors: dict
    verdicts: dict
    kinks: dict
    moved: list

    @property
    def worst(self):
        return max(self.errors.values())

    @property
    def passed(self):
        return self.worst <= gradcheck.TOLERANCE

    @property
    def at_kink(self):
        """Not checkable: errors above the tolerance, each explained by a kink within reach of the steps."""
        return not self.passed and "FAIL" not in self.verdicts.values()

    def _repr_html_(self):
        """In a notebook: the verdict, and each gradient's worst relative error and verdict."""
        outcome = "passed" if self.passed else "not checkable at a kink" if self.at_kink else "FAILED"
        rows = "".join(f"<tr><td>dL/d{html.escape(name)}</td><td>{error:.3e}</td><td>{self.verdicts[name]}</td></tr>"
                       for name, error in self.errors.items())  # fmt: skip
        kinks = ", ".join(f"{count} {kind}" for kind, count in self.kinks.items() if count)
        return (f"<table><caption>gradcheck {outcome}: worst {self.worst:.3e} (tolerance {gradcheck.TOLERANCE:g})"
                f"{f'; kinks within reach: {kinks}' if kinks else ''}</caption><tr><th>gradient</th><th>max "
                f"relative error</th><th>verdict</th></tr>{rows}</table>")  # fmt: skip


def check_gradients(pass_):
    """A ``GradcheckReport`` of ``pass_``'s network on its image."""
    network = walkthrough.network_for(copy.deepcopy(pass_.given))[0]  # its own arrays, in the pass's mode
    image, label = pass_.image[None], np.array([pass_.label])
    results = gradcheck.check_network(network, image, label)
    kinks = gradcheck.kinks(network, image, label)
    moved = gradcheck.step_dependent(network, image, label, results)
    errors = {name: error for name, (_, _, error) in results.items()}
    verdicts = {
        name: "ok" if error <= gradcheck.TOLERANCE else "at a kink" if any(kinks.values()) or name in moved else "FAIL"
        for name, error in errors.items()
    }
    return GradcheckReport(errors, verdicts, kinks, moved)


def fit(net=None, source="shapes", seed=0, on_epoch=None, **options):
    """Train a fresh network of ``net`` (default ``default_net``) on ``source`` with the schedule of that data and
    any ``options`` (train.TrainOptions' fields) changed.  Returns {"model": files.Model, "network", "options"
    (what was used), "history" (a ``History``), "dataset", and the final metrics}."""
    from .train import train as train_network

    chosen = replace(schedule(source), seed=seed, **{key: value for key, value in options.items() if value is not None})
    dataset = data.load(chosen.data, chosen.seed, chosen.train_size, chosen.test_size)
    arch = architecture_for(net, dataset)
    result = train_network(arch, chosen, dataset, on_epoch=on_epoch)
    network = result["network"]
    # the model in float64, as its file keeps it, whatever precision trained it: what shows or checks it is float64
    # (a count, such as a batch norm's batches tracked, stays whole)
    wide = lambda arrays: {name: value.astype(np.float64) if np.issubdtype(value.dtype, np.floating) else value  # noqa: E731
                           for name, value in arrays.items()}  # fmt: skip
    model = files.Model(arch, wide(network.params), dataset.classes, dataset.source, chosen.seed, wide(network.buffers))
    return {**result, "history": History(result["history"]), "model": model, "dataset": dataset}


class History(list):
    """A training run, one row an epoch ({"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
    "relu_alive"}): a list, which a notebook shows as its learning curves."""

    def __repr__(self):
        last = self[-1]
        return (f"History({len(self)} epochs; last: test accuracy {100 * last['test_accuracy']:.2f}%, test loss "
                f"{last['test_loss']:.4g})")  # fmt: skip

    def _repr_png_(self):
        from .figures import _png, learning_curves  # figures.py's own PNG writer (another branch changes figures.py)

        return _png(learning_curves(self))


def evaluate_model(model, source=None, seed=None, test_size=2000):
    """A model (files.Model, or the path of a model file) on data (default: what it was trained on): loss,
    accuracy, the confusion matrix and per-class accuracy, the images and what was predicted."""
    from .train import evaluate as evaluate_network

    model = files.load_model(model) if isinstance(model, (str, Path)) else model
    arch, classes = model.arch, model.classes
    source = source or model.data
    seed = model.seed if seed is None else seed
    images, labels, _, description = data.evaluation_set(source, seed, test_size)
    if images.shape[1:3] != (arch.channels, arch.image_size):
        raise InputError(f"{source}: images are {images.shape[1]}x{images.shape[2]}x{images.shape[3]}, the model "
                         f"expects {arch.channels}x{arch.image_size}x{arch.image_size}")  # fmt: skip
    if labels.max() >= len(classes):
        raise InputError(f"{source}: label {labels.max()} is not one of the model's {len(classes)} classes")
    metrics = evaluate_network(Network(arch, model.params, buffers=model.buffers), images, labels)
    k = len(classes)
    confusion = confusion_matrix(labels, metrics["predicted"], k)
    per_class = [float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None for c in range(k)]
    return {**metrics, "confusion": confusion, "class_accuracy": per_class, "description": description,
            "images": images, "labels": labels, "classes": classes}  # fmt: skip


def predict(model, images):
    """P(class k) for each image, (N, K), by a model (files.Model or a path) in evaluation mode; ``images`` is an
    array (N, C, H, W) or a file ``files.load_images`` reads."""
    model = files.load_model(model) if isinstance(model, (str, Path)) else model
    arch = model.arch
    if isinstance(images, (str, Path)):
        images = files.load_images(images, (arch.channels, arch.image_size))
    return Network(arch, model.params, buffers=model.buffers).eval().predict_proba(np.asarray(images, dtype=float))


def grade(sheets, answers, decimals=4, points=None, roster=None):
    """Mark every answers file in the folder ``answers`` against its sheet in the folder ``sheets``: the sheet its
    name says, or with a ``roster`` (a student,sheet CSV) the student's own.  ``points`` is a JSON file or dict of
    points per quantity or part (``check.points_of``).  Returns (rows, mistakes, problems) as ``check.grade_class``
    gives them, with ``problems`` [(file, why)] of the files that are not answer files; a file that cannot be
    marked is a row of 0 with its problem, and never stops the others."""
    from .check import Key, grade_class

    numbered = files.numbered_files(sheets, r"exercise_0*(\d+)\.json", "exercise_N.json sheets")
    points = points_file(points)
    assigned = files.read_roster(roster) if roster is not None else None
    submissions, problems = files.student_files(answers)
    keys, marked = {}, []
    for student, number, path in submissions:
        if assigned is not None:
            if student not in assigned:
                problems.append((path, f"{student} is not on the roster {roster}"))
                continue
            number = assigned[student]
        if number not in numbered:
            problems.append((path, f"sheet {number} is not in {sheets} (it has "
                                   f"{', '.join(map(str, sorted(numbered)))})"))  # fmt: skip
            continue
        if number not in keys:
            given = walkthrough.complete_given(files.read_json(numbered[number]), where=str(numbered[number]))
            keys[number] = (given, Key(given))
        marked.append((student, number, path))
    rows, mistakes = grade_class(marked, keys, decimals, points)
    return rows, mistakes, problems


def points_file(points):
    """Points per quantity or part: a dict as it is, a JSON file's object, or None (one point a quantity)."""
    if points is None or isinstance(points, dict):
        return points
    value = files.read_json(points)
    if not isinstance(value, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value.values()
    ):
        raise InputError(f"{points}: points must be a JSON object of quantity or part: points (numbers, at least 0)")
    return value


def check_answers(sheet, answers, decimals=4, points=None):
    """Mark an answers file (``answers``: .json or .csv) against a sheet (``sheet``: its instance, a path or a
    dict): (marking, report) as ``check.mark`` and ``check.report`` give them."""
    from .check import Key, mark, read_answers, report

    where = str(sheet) if isinstance(sheet, (str, Path)) else "the given values"
    given = walkthrough.given_of(files.read_json(sheet)) if isinstance(sheet, (str, Path)) else sheet
    given = walkthrough.complete_given(given, where=where)
    key = Key(given)
    marking = mark(key, read_answers(answers, key), decimals, points_file(points))
    return marking, report(marking, decimals)


def explorer_start(given=None, seed=0, net=None, source="shapes", model=None):
    """(The complete instance the explorer starts from, its Train button's data): an instance (see ``given_for``) or
    a trained model's network and parameters (``model``: see ``model_instance``), training on ``source`` (a model's
    own data unless given)."""
    from .page import TRAINING, training_of

    if model is not None:
        given, source = model_instance(model, seed, source)
    else:
        given = given_for(given, seed, net, source)
    dataset = data.load(source, seed, train_size=TRAINING, test_size=1)
    arch = walkthrough.architecture_of(given)
    if net:
        fits_classes(arch, dataset)  # a network chosen for the data: what its Train would refuse, refused here
    channels, side = dataset.input_shape  # square images
    fits = arch.classes == len(dataset.classes) and tuple(arch.input_shape) == (channels, side, side)
    return given, training_of(dataset) if fits else None  # no Train button on data the network cannot read


def explorer_page(given=None, seed=0, net=None, source="shapes", model=None):
    """The explorer's HTML text, starting where ``explorer_start`` says."""
    from .page import page

    return page(*explorer_start(given, seed, net, source, model))


def explore(given=None, seed=0, net=None, source="shapes", model=None):
    """The explorer in a notebook, starting where ``explorer_start`` says: a widget whose ``given`` (the instance in
    the ``--given`` layout) and ``pass_`` (its Pass) follow every change made on the page, and which redraws when
    ``given`` is set.  Needs anywidget (pip install 'cnn-backprop[notebook]')."""
    if importlib.util.find_spec("anywidget") is None:
        raise InputError("cb.explore needs anywidget, which is not installed; install it with: "
                         "pip install 'cnn-backprop[notebook]'")  # fmt: skip
    from .widget import Explorer

    return Explorer(*explorer_start(given, seed, net, source, model))


def export_source(model=None, net=None, source="shapes", out_dir="."):
    """(Architecture, the text of a standalone PyTorch module file) for a model file or a spec on ``source``."""
    from .export import source as module_source

    if model is not None:
        loaded = files.load_model(model)
        arch, classes, source, seed = loaded.arch, loaded.classes, loaded.data, loaded.seed
    else:
        dataset = data.load(source, 0, 1, 1)
        arch, seed = Architecture.parse(net, *dataset.input_shape), 0
        classes = dataset.classes if len(dataset.classes) == arch.classes else None
    return arch, module_source(arch, model, out_dir, files.model_config(arch, classes, source, seed))


def from_torch(module, input_shape, loss="cross_entropy"):
    """The Network a torch module is, with its weights, on images of ``input_shape`` (C, H, W), in the module's mode
    (train or eval): a ``torch.nn.Sequential``, or a class of your own whose forward torch.fx can trace, calling
    modules (Conv2d, BatchNorm2d, ReLU, Tanh, LeakyReLU, MaxPool2d, AvgPool2d, Flatten, Linear) and functions
    (F.relu, F.max_pool2d, torch.flatten, x.view(x.size(0), -1), ...) one after another, ending in logits or in
    log_softmax.  ``loss`` ("cross_entropy", "bce", or nn.CrossEntropyLoss(), nn.NLLLoss(), nn.BCEWithLogitsLoss())
    adds the softmax or the sigmoid.  A layer, option or order it cannot take raises an InputError naming it (its
    position, or the forward's line).  Needs PyTorch (pip install torch==2.13.0)."""
    from .from_pytorch import from_torch as convert

    return convert(module, input_shape, loss)


def dataset(source="shapes", count=2000, seed=0):
    """(images, labels, classes) to write as a data set: ``count`` generated shapes (the training images of
    ``train --seed`` with that many), or another source's test set."""
    if source == "shapes":
        images, labels = data.generate(count, data.random_streams(seed)[0])
        return images, labels, data.CLASSES
    loaded = data.load(source, seed)
    return loaded.test_images, loaded.test_labels, loaded.classes


def shown(fig):
    """``fig``, which a notebook then shows as its PNG even in a fresh kernel (no %matplotlib, which is what
    displays a Figure otherwise)."""
    from .figures import _png

    fig._repr_png_ = lambda: _png(fig)
    return fig


def overview_figure(pass_):
    """A Matplotlib Figure of a whole pass: every panel the notebook draws (the first map of each), with the loss."""
    from .figures import overview

    return shown(overview(pass_))


def learning_curves(history):
    """A Matplotlib Figure of loss and accuracy per epoch, train and test (``fit(...)["history"]``)."""
    from .figures import learning_curves as curves

    return shown(curves(history))


def draw_matrix(ax, array, title, decimals=2):
    """Draw a matrix on Matplotlib axes ``ax`` with each value written on its cell, as the seed notebook does, and
    its colour scale in a colour bar beside it."""
    from .figures import colour_bar
    from .figures import draw_matrix as draw

    colour_bar(ax.figure, draw(ax, array, title, decimals), ax)
