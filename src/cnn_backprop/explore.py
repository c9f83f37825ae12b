"""The explorer: one self-contained HTML page that runs the whole pass in the browser, and lets you change it.

The page's code lives in ``explorer/`` as plain ES modules and CSS.  ``page``
inlines them into one file that needs no network: the modules go in as
``data:`` URLs behind an import map, under the names they import each other
by (``cnn-backprop/engine.js``), and the instance to start from as JSON.
"""

import html
import json
from importlib import resources
from urllib.parse import quote

import numpy as np

from . import data, walkthrough
from .check import MISTAKES

MODULES = ("engine.js", "explain.js", "quiz.js", "page.js")
SAFE = " !$&'()*+,-./:;=?@[]^_`{|}~"  # left as they are in a data: URL; quotes, <, > and % are encoded


def _source(name):
    return resources.files("cnn_backprop").joinpath("explorer", name).read_text(encoding="utf-8")


DECIMALS = 5  # the starting instance's numbers, rounded so that a network of 20,000 weights fits in 300 KB


def page(given, training=None, title="cnn-backprop explorer"):
    """The HTML text of the explorer, starting from the complete ``given`` rounded to ``DECIMALS``.

    ``training`` is {"images": [...], "labels": [...]} for the Train button
    (a small data set of the instance's kind), or None to leave Train out.
    The page computes from exactly the numbers it starts with.
    """
    imports = {
        # percent-encoded rather than base64: smaller, and the file must stay under 300 KB
        f"cnn-backprop/{name}": "data:text/javascript," + quote(_source(name), safe=SAFE)
        for name in MODULES
    }
    start = {"given": starting_given(given), "training": training, "mistakes": MISTAKES}
    data = json.dumps(start, separators=(",", ":")).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_source("style.css")}</style>
<script type="importmap">{json.dumps({"imports": imports})}</script>
</head>
<body>
<script type="application/json" id="start">{data}</script>
<main id="app" aria-live="polite"></main>
<script type="module">
import {{ start }} from "cnn-backprop/page.js";
start(JSON.parse(document.getElementById("start").textContent));
</script>
</body>
</html>
"""


def training_set(source="shapes", seed=0, count=100):
    """{"images", "labels"}: ``count`` training images for the page's Train button, 4 decimals each."""
    dataset = data.load(source, seed, train_size=count, test_size=1)
    images = np.round(dataset.train_images[:count], 4)
    keep = walkthrough.IMAGE_KEEP
    return {"images": [walkthrough.squeeze(image, keep).tolist() for image in images],
            "labels": dataset.train_labels[:count].tolist()}  # fmt: skip


def starting_given(given):
    """The instance the page starts from: ``given`` as JSON carries it, every number rounded to ``DECIMALS``."""
    return _rounded(json.loads(walkthrough.to_json({"given": given}))["given"])


def _rounded(value):
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return round(value, DECIMALS) if isinstance(value, float) else value
