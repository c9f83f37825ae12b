"""The registry of layer kinds: every module in this folder is one kind, and everything that kind is.

A kind's module (``conv.py``, ``maxpool.py``, ...) holds its grammar in a
spec, how its layers are named, its parameters and hyperparameters, its shape
rule, its vectorised layer (forward and backward), its loop reference, its
arithmetic for ``--explain``, its figures, its PyTorch module (written by
``torch_module``, read back by ``from_torch``) and the mistakes a student can
make in it.  It ends with ``KIND = TheKind()``; this package
finds it by listing the folder, so adding a kind is adding one module here
(and one in ``explorer/kinds/`` for the page).  The contract every kind
follows, with the defaults most kinds keep, is ``Kind`` in ``_kind.py``.

Nothing outside a kind's own module compares a kind's name: the rest of the
package asks the kind (``KINDS[layer.kind]``) what it needs.
"""

import importlib
import pkgutil
from importlib import resources

from ._kind import Kind, Option


def _overrides(kind, method):
    return getattr(type(kind), method) is not getattr(Kind, method)


# The pieces every kind must have, each a test of the kind: what makes it a kind that works in every view.
PIECES = {
    "grammar (name, summary, example_net)": lambda kind: bool(kind.name and kind.summary and kind.example_net),
    "names (base, activation, is_output, or its own names())": lambda kind: bool(
        kind.base or kind.activation or kind.is_output or _overrides(kind, "names")
    ),
    "what its base implies (base 'pool': pools, reading and giving maps)": lambda kind: (
        (kind.base == "pool") <= (kind.pools and kind.reads == kind.gives == "map")
    ),
    "parameters (keep, written, torch_keys for each)": lambda kind: all(
        key in kind.keep and key in kind.written and key in kind.torch_keys for key in kind.param_keys
    ),
    "engine (build)": lambda kind: _overrides(kind, "build"),
    "reference (loops)": lambda kind: _overrides(kind, "reference_loss" if kind.is_output else "reference"),
    "explain (value_line, input_gradient_line)": lambda kind: (
        _overrides(kind, "value_line") and _overrides(kind, "input_gradient_line")
    ),
    "parameter gradients explained (param_gradient_line)": lambda kind: (
        not kind.param_keys or _overrides(kind, "param_gradient_line")
    ),
    "torch module": lambda kind: bool(  # its torch_class both ways: torch_module out, from_torch in
        (kind.torch_class and (kind.is_output or _overrides(kind, "torch_module")))
        or (kind.joins and kind.torch_functions and _overrides(kind, "torch_line"))  # an add: no module, a +
    ),
    "draws (draw, torch_with_draws for its given_draws)": lambda kind: (
        not kind.given_draws or (_overrides(kind, "draw") and _overrides(kind, "torch_with_draws"))
    ),
    "page (explorer/kinds/NAME.js)": lambda kind: (
        resources.files("cnn_backprop").joinpath("explorer", "kinds", f"{kind.name}.js").is_file()
    ),
}


def missing(kind):
    """The pieces (``PIECES``) a kind lacks: empty for a kind that works everywhere."""
    return [piece for piece, has in PIECES.items() if not has(kind)]


def _discover():
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            kind = importlib.import_module(f"{__name__}.{module.name}").KIND
            found.append(kind)
    return {kind.name: kind for kind in sorted(found, key=lambda kind: kind.order)}


KINDS = _discover()  # {name: Kind}, in the order the grammar lists them


def spelled(word, last):
    """The kind a spec's ``word`` is: where two kinds share the word, the output kind ``last``, the other elsewhere;
    None for no kind."""
    kinds = [kind for kind in KINDS.values() if kind.spelled == word]
    return next((kind for kind in sorted(kinds, key=lambda kind: kind.is_output != last)), None)


def words():
    """The words a spec may write, in the grammar's order."""
    return list(dict.fromkeys(kind.spelled for kind in KINDS.values()))


def grammar_lines():
    """The grammar, one kind a line: its usage and what it is (for ``cnn-backprop nets`` and the README)."""
    width = max(len(kind.form) for kind in KINDS.values()) + 2
    return [f"    {kind.form:<{width}}{kind.summary}" for kind in KINDS.values()]


def grammar_table():
    """The grammar as a Markdown table, one kind a row: how a spec writes it, what it is, a network with it."""
    rows = ["| layer | meaning | e.g. |", "|---|---|---|"]
    rows += [f"| `{kind.form}` | {kind.summary} | `{kind.example_net}` |" for kind in KINDS.values()]
    return "\n".join(rows)


__all__ = ["KINDS", "PIECES", "Kind", "Option", "grammar_lines", "grammar_table", "missing", "spelled", "words"]
