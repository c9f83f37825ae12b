"""cnn-backprop: backpropagation through a small CNN, from scratch in NumPy, every number checked.

Start here.  The ``cnn-backprop`` command does nothing these functions do not;
they return data, check what they are given, and raise ``InputError`` with the
message the command prints::

    import cnn_backprop as cb

    p = cb.run(seed=0)                          # the seed exercise: one forward and one backward pass (a Pass)
    p.values["conv_pre"], p.grads["conv_kernel"]  # every value and gradient, in full shape, by name
    cb.explain_value(p, "dL/dconv_kernel[0,0]")  # the arithmetic of one number
    cb.check_gradients(p).passed                # every gradient against finite differences
    w = cb.explore(p)                           # in a notebook: the explorer inline; w.given, w.pass_ follow the page

    net = cb.build("conv 8x3x3 pad 1, relu, maxpool 2, dense 10, softmax", input_shape=(1, 8, 8))
    digits = cb.load_data("digits")
    q = cb.pass_of(net, digits.test_images[0], digits.test_labels[0])
    trained = cb.fit("conv 8x3x3 pad 1, relu, maxpool 2, dense 10, softmax", "digits", epochs=5)
    cb.evaluate_model(trained["model"])["accuracy"]

The main entry points:

- one pass: ``run`` (the seed exercise, or any network on any data), ``pass_of`` (a network you built, an
  image you have), ``explain_value``, ``check_gradients``, ``to_json``, ``overview_figure``;
- networks: ``build``, ``Architecture``, ``grammar()`` (how to write a spec), ``KINDS`` (one module of
  ``cnn_backprop.kinds`` per kind of layer);
- training: ``fit``, ``TrainOptions``, ``evaluate_model``, ``predict``, ``save_model``, ``load_model``,
  ``load_data``, ``learning_curves``;
- teaching: ``write_sheets``, ``check_answers``, ``grade``, ``explorer_page``;
- PyTorch: ``export_source`` (a network as a module), ``from_torch`` (a module of your own in, as you wrote it).

The command line, ``cnn-backprop COMMAND`` (``cnn-backprop --help``, and ``--help`` of each command):
walkthrough, gradcheck, train, evaluate, predict, dataset, exercise, check, grade, autograder, explore, export,
nets.

The documentation, a page for each and the reference (in a clone, docs/, which ``make site`` builds into a
site): the address below, which the installed package's metadata holds.
"""

__version__ = "0.1.0"  # the one place; pyproject.toml reads it


from .api import (
    GradcheckReport,
    build,
    check_answers,
    check_gradients,
    dataset,
    default_net,
    draw_matrix,
    evaluate_model,
    explain_value,
    explore,
    explorer_page,
    export_source,
    fit,
    from_torch,
    given_for,
    grade,
    learning_curves,
    overview_figure,
    pass_of,
    predict,
    run,
)
from .architecture import DIGITS_SPEC, SEED_SPEC, Architecture, Layer, grammar
from .data import load as load_data
from .exercise import write_sheets
from .files import Model, load_model, save_model
from .kinds import KINDS
from .network import Network
from .train import TrainOptions, schedule
from .validate import InputError
from .walkthrough import Pass, to_json

__all__ = [
    "DIGITS_SPEC",
    "KINDS",
    "SEED_SPEC",
    "Architecture",
    "GradcheckReport",
    "InputError",
    "Layer",
    "Model",
    "Network",
    "Pass",
    "TrainOptions",
    "build",
    "check_answers",
    "check_gradients",
    "dataset",
    "default_net",
    "draw_matrix",
    "evaluate_model",
    "explain_value",
    "explore",
    "explorer_page",
    "export_source",
    "fit",
    "from_torch",
    "given_for",
    "grade",
    "grammar",
    "learning_curves",
    "load_data",
    "load_model",
    "overview_figure",
    "pass_of",
    "predict",
    "run",
    "save_model",
    "schedule",
    "to_json",
    "write_sheets",
]


def _documentation():
    """The documentation's address as the installed package's metadata has it (setup.py builds it from the one
    home in pyproject.toml), or where it is in a source tree the package was not installed from."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = dict(url.split(", ", 1) for url in metadata("cnn-backprop").get_all("Project-URL") or [])
    except PackageNotFoundError:
        urls = {}
    return urls.get("Documentation", "docs/ in the source tree")


DOCUMENTATION = _documentation()
__doc__ = f"{__doc__ or ''}\nDocumentation: {DOCUMENTATION}\n"  # (no docstring under python -OO)
