"""The registry of layer kinds: every module in this folder is one kind, and everything that kind is.

A kind's module (``conv.py``, ``maxpool.py``, ...) holds its grammar in a
spec, how its layers are named, its parameters and hyperparameters, its shape
rule, its vectorised layer (forward and backward), its loop reference, its
arithmetic for ``--explain``, its figures, its PyTorch module and the mistakes
a student can make in it.  It ends with ``KIND = TheKind()``; this package
finds it by listing the folder, so adding a kind is adding one module here
(and one in ``explorer/kinds/`` for the page).  The contract every kind
follows, with the defaults most kinds keep, is ``Kind`` in ``_kind.py``.

Nothing outside a kind's own module compares a kind's name: the rest of the
package asks the kind (``KINDS[layer.kind]``) what it needs.
"""

import importlib
import pkgutil

from ._kind import Kind, Option


def _discover():
    found = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            kind = importlib.import_module(f"{__name__}.{module.name}").KIND
            found.append(kind)
    return {kind.name: kind for kind in sorted(found, key=lambda kind: kind.order)}


KINDS = _discover()  # {name: Kind}, in the order the grammar lists them


def of(layer):
    """The Kind of a spec item (an ``architecture.Layer``) or of a named layer."""
    return KINDS[layer.kind]


def grammar_lines():
    """The grammar, one kind a line: its usage and what it is (for ``cnn-backprop nets`` and the README)."""
    width = max(len(kind.usage or kind.name) for kind in KINDS.values()) + 2
    return [f"    {kind.usage or kind.name:<{width}}{kind.summary}" for kind in KINDS.values()]


__all__ = ["KINDS", "Kind", "Option", "of", "grammar_lines"]
