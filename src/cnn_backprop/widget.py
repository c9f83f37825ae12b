"""The explorer as a notebook widget: the page's own modules drawn in the output cell, its instance synced with Python.

``cb.explore(...)`` makes one.  ``widget.given`` is the instance in the ``--given``
layout: a value typed or a pixel drawn on the page, an SGD step or training
there, show up in it (at most every 200 ms); setting it redraws the page.
``widget.pass_`` is that instance's Pass.  Where no kernel runs (a notebook
saved as HTML) the output is the self-contained page in an iframe.  Needs
anywidget (``pip install 'cnn-backprop[notebook]'``); ``import cnn_backprop``
does not import this module.
"""

import html
import json
from functools import cache

import anywidget
import numpy as np
import traitlets

from . import walkthrough
from .page import PACKED, beside_the_instance, page, scoped_css, widget_module
from .validate import InputError

FALLBACK_HEIGHT = 900  # px: the iframe of the static page shows the flow, the arithmetic and the panels below


@cache
def _esm():
    return widget_module()


def layout(given):
    """A complete instance as JSON carries it (``--given``): lists and numbers.  Not through ``walkthrough.to_json``,
    whose line layout costs 50 ms on a digits network, for each of the page's updates (5 a second in training)."""
    return json.loads(json.dumps(given, default=lambda value: value.tolist()))


def to_wire(given, widget=None):
    """``given`` as the widget sends it: each array of more than ``PACKED`` numbers as {"float64": its bytes,
    "shape"}, a binary buffer (a digits network's weights: 170 KB, exact, where their JSON is 490 KB).  ipywidgets
    calls it with the widget, as it does ``from_wire``."""
    return {
        key: {"float64": np.asarray(value, dtype="<f8").tobytes(), "shape": list(np.shape(value))}
        if np.size(value) > PACKED
        else value
        for key, value in given.items()
    }


def from_wire(given, widget=None):
    """``given`` as the page sends it back, each packed array as nested lists again."""
    return {
        key: np.frombuffer(value["float64"], dtype="<f8").reshape(value["shape"]).tolist()
        if isinstance(value, dict) and "float64" in value
        else value
        for key, value in given.items()
    }


class Explorer(anywidget.AnyWidget):
    """The explorer in a notebook output cell, started from a complete instance ``given`` (see ``api.given_for``);
    ``training`` is the Train button's data ({"images", "labels"}, as ``page.training_set`` gives it)."""

    _esm = traitlets.Unicode().tag(sync=True)
    _css = traitlets.Unicode().tag(sync=True)
    # the page sends its instance; echoing it back to every front end would double the traffic of training
    given = traitlets.Dict().tag(sync=True, to_json=to_wire, from_json=from_wire, echo_update=False)
    # what the page starts from besides the instance (page.beside_the_instance)
    _start = traitlets.Dict().tag(sync=True)

    def __init__(self, given, training=None):
        self._net = str(walkthrough.architecture_of(given))
        super().__init__(
            _esm=_esm(), _css=scoped_css(), given=layout(given), _start=beside_the_instance(given, training)
        )

    @traitlets.validate("given")
    def _complete(self, proposal):
        """Every given, from Python or from the page, completed and checked; the page shows one network."""
        complete = walkthrough.complete_given(proposal["value"], where="widget.given")
        net = str(walkthrough.architecture_of(complete))
        if net != self._net:
            raise InputError(f"widget.given is for the network '{net}', the explorer shows '{self._net}'; "
                             "for another network, make a new one with cb.explore")  # fmt: skip
        return layout(complete)

    @property
    def pass_(self):
        """The Pass of the instance the page shows now."""
        return walkthrough.run(walkthrough.complete_given(self.given, where="widget.given"))

    def _repr_mimebundle_(self, **kwargs):
        """anywidget's bundle (the live view, for a front end with a kernel), and the page itself in an iframe as
        text/html, which a notebook saved as HTML shows instead."""
        data, metadata = super()._repr_mimebundle_(**kwargs)
        text = page(walkthrough.complete_given(self.given), self._start["training"])
        data["text/html"] = (f'<iframe srcdoc="{html.escape(text)}" title="cnn-backprop explorer" '
                             f'style="width: 100%; height: {FALLBACK_HEIGHT}px; border: 0"></iframe>')  # fmt: skip
        return data, metadata
