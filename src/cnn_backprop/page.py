"""The explorer: one self-contained HTML page that runs the whole pass in the browser, and lets you change it.

The page's code lives in ``explorer/`` as plain ES modules and CSS.  ``page``
inlines them into one file that needs no network: the modules go in as
text, which a few lines of script turn into ``data:`` URLs behind an import
map, under the names they import each other by (``cnn-backprop/engine.js``),
and the instance to start from as JSON.

Each layer kind is one module in ``explorer/kinds/`` (``kinds/conv.js``, the
kind's name and its file's), inlined as ``cnn-backprop/kinds/conv.js``; one
more module, ``cnn-backprop/kinds.js``, is written here to import them all
and export ``KINDS``.  So a kind joins the page by its file alone.
"""

import base64
import html
import json
import math
import re
from graphlib import TopologicalSorter
from importlib import resources

import numpy as np

from . import data, walkthrough
from .check import MISTAKES, VOID

# Before any module runs, the import map is made from the modules' text: written as data: URLs in the file, each
# line break would cost 3 bytes (%0A) and each " 2 (\"), 10 KB of a page that must stay under 300 KB.  The worker
# that trains reads its modules from the same map (train.js).
IMPORT_MAP = """const imports = {};
for (const text of document.querySelectorAll("script[data-module]"))
  imports[text.dataset.module] = "data:text/javascript," + encodeURIComponent(text.textContent);
const map = document.createElement("script");
map.type = "importmap";
map.textContent = JSON.stringify({ imports });
document.currentScript.after(map);"""
# What would end or derail an HTML script element's text before its end tag.
UNSAFE_IN_SCRIPT = re.compile(r"</script|<!--", re.IGNORECASE)


def _source(name):
    return resources.files("cnn_backprop").joinpath("explorer", *name.split("/")).read_text(encoding="utf-8")


def _names(*folder):
    """The module names (without .js) in ``explorer/`` or one of its folders, sorted."""
    found = resources.files("cnn_backprop").joinpath("explorer", *folder).iterdir()
    return sorted(item.name.removesuffix(".js") for item in found if item.name.endswith(".js"))


def kinds(shared=False):
    """The names of the layer kinds the page knows: one module each in ``explorer/kinds/``, sorted.  With
    ``shared``, also the modules kinds share (``_pool.js``), which are not kinds: as in Python, a leading _."""
    return [name for name in _names("kinds") if shared or not name.startswith("_")]


def registry(names):
    """The module ``cnn-backprop/kinds.js``: every kind's module imported, and ``KINDS`` {name: kind} exported."""
    lines = [f'import k{i} from "cnn-backprop/kinds/{name}.js";' for i, name in enumerate(names)]
    lines.append('import { registry } from "cnn-backprop/contract.js";')
    entries = ", ".join(f"[{json.dumps(name)}, k{i}]" for i, name in enumerate(names))
    lines.append(f"export const KINDS = registry([{entries}]);")
    return "\n".join(lines) + "\n"


def modules():
    """{module name: source} of every module the page imports, as the page holds it (``compact``)."""
    found = {f"{name}.js": _source(f"{name}.js") for name in _names()}
    found.update({f"kinds/{name}.js": _source(f"kinds/{name}.js") for name in kinds(shared=True)})
    found["kinds.js"] = registry(kinds())
    return {name: compact(source) for name, source in found.items()}


def compact(source):
    """``source`` without its indentation and its comments, each line kept (an error's line number is the file's):
    the page must fit in 300 KB, and the comments are for the files.  A module where a line may lie in a template
    literal or a string that goes on to the next line is left whole, as the text would change."""
    lines = source.split("\n")
    code = [line for line in lines if not line.lstrip().startswith("//")]
    if any(line.count("`") % 2 or line.endswith("\\") for line in code):
        return source
    return "\n".join("" if line.lstrip().startswith("//") else _uncommented(line.strip()) for line in lines)


def _uncommented(line):
    """``line`` without the comment at its end, where nothing before it may be an open string (an odd count of any
    quote: "it's" in a string keeps its line whole)."""
    at = line.find(" // ")
    if at < 0 or any(line.count(quote, 0, at) % 2 for quote in "\"'`"):
        return line
    return line[:at].rstrip()


def compact_css(css):
    """``css`` without the white space its rules do not need: after a colon, semicolon or comma, around a brace, at
    a line's ends (the sheet has no comments, and no string where that would change it)."""
    return re.sub(r"\s*([{}])\s*|([:;,])\s+|\s*\n\s*", lambda m: m.group(1) or m.group(2) or "", css)


# What a module imports: the names after "from" (a module may name another in a string of its own: train.js names
# itself to start a worker), as the loaders in widget.js and train.js rewrite them.
IMPORTED = re.compile(r'from\s*"cnn-backprop/([^"]+)"')


def in_import_order():
    """[(module name, source)] of ``modules()``, each after every module it imports: the order a loader without an
    import map (the notebook widget's) must create them in, to name each one's imports by their URLs."""
    found = modules()
    graph = {name: {dep for dep in IMPORTED.findall(source) if dep in found} for name, source in found.items()}
    return [(name, found[name]) for name in TopologicalSorter(graph).static_order()]


def widget_module():
    """The ES module of the notebook widget (anywidget's ``_esm``): the page's modules in import order as JSON, then
    ``explorer/widget/widget.js``, which loads them from blob: URLs and draws the explorer in the output cell."""
    modules_json = json.dumps(in_import_order(), separators=(",", ":"))
    return f"const MODULES = {modules_json};\n" + _source("widget/widget.js")


SCOPE = "cnn-backprop"  # the class of the element a notebook widget draws into
BRACE = re.compile(r"[{}]")
ROOT = re.compile(r"^(body|main)\b")


def scoped_css(scope=f".{SCOPE}"):
    """The page's style sheet with every rule held to the element ``scope`` (a notebook keeps its own look):
    ``body`` and ``main`` (the page's root, as the widget's element is) become the element itself, every other
    selector one inside it, @media and @container blocks scoped within."""
    css, out, at = _source("style.css"), [], 0
    while brace := BRACE.search(css, at):
        head = css[at : brace.start()].strip()
        if brace.group() == "}" or head.startswith("@"):
            out.append(f"{head} {brace.group()}\n")
            at = brace.end()
            continue
        end = css.index("}", brace.end())
        selectors = (part.strip() for part in head.split(","))
        out.append(", ".join(ROOT.sub(scope, part) if ROOT.match(part) else f"{scope} {part}" for part in selectors))
        out.append(f" {{{css[brace.end() : end]}}}\n")
        at = end + 1
    return "".join(out)


DECIMALS = 5  # the starting instance's numbers, rounded so that the page stays small...
PACKED = 1000  # ...but an array of more numbers than this is float32, packed in base64: 5.3 characters a number


def page(given, training=None, title="cnn-backprop explorer"):
    """The HTML text of the explorer, starting from the complete ``given`` rounded to ``DECIMALS``.

    ``training`` is {"images": [...], "labels": [...]} for the Train button
    (a small data set of the instance's kind), or None to leave Train out.
    The page computes from exactly the numbers it starts with.
    """
    texts = "".join(
        f'<script type="text/plain" data-module="cnn-backprop/{name}">{_in_script(source, name)}</script>\n'
        for name, source in modules().items()
    )
    start = {"given": _packed(starting_given(given)), **beside_the_instance(given, training)}
    data = json.dumps(_whole_numbers(start), separators=(",", ":")).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{compact_css(_source("style.css"))}</style>
{texts}<script>
{IMPORT_MAP}
</script>
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


def _in_script(source, name):
    """``source`` as it goes in a script element's text, where "</script" or "<!--" would end or derail it."""
    if UNSAFE_IN_SCRIPT.search(source):
        raise ValueError(f"explorer/{name} holds {UNSAFE_IN_SCRIPT.search(source).group()!r}, which an HTML page's "
                         "script text cannot")  # fmt: skip
    return source


def beside_the_instance(given, training=None):
    """What the page starts from besides the instance: ``training`` (see ``page``), the notebook's mistakes, and
    each layer as a spec writes it."""
    layers = [str(layer) for layer in walkthrough.architecture_of(given).layers]
    return {"training": training, "mistakes": MISTAKES, "voids": VOID, "layers": layers}


TRAINING = 100  # the page's Train button's images: enough to see the loss fall, few enough for a small page


def training_set(source="shapes", seed=0, count=TRAINING):
    """{"images", "labels"}: ``count`` training images of ``source`` for the page's Train button (``training_of``)."""
    return training_of(data.load(source, seed, train_size=count, test_size=1), count)


def training_of(dataset, count=TRAINING):
    """{"images", "labels"}: a data set's first ``count`` training images, 4 decimals each."""
    images = np.round(dataset.train_images[:count], 4)
    keep = walkthrough.IMAGE_KEEP
    return {"images": [walkthrough.squeeze(image, keep).tolist() for image in images],
            "labels": dataset.train_labels[:count].tolist()}  # fmt: skip


def starting_given(given):
    """The instance the page starts from: ``given`` as JSON carries it, every number rounded to ``DECIMALS``, but
    in an array of more than ``PACKED`` numbers, each the nearest float32 (as the page unpacks it)."""
    plain = json.loads(walkthrough.to_json({"given": given}))["given"]
    return {key: _float32(value) if np.size(value) > PACKED else _rounded(value) for key, value in plain.items()}


def _float32(nested):
    return np.asarray(nested, dtype=np.float32).astype(np.float64).tolist()


def _packed(given):
    """``given`` with each array of more than ``PACKED`` numbers as {"float32": base64 of its little-endian
    float32 bytes, "shape": its shape}: a digits network's 20,000 weights in 107 KB instead of 190 KB."""
    return {
        key: {"float32": base64.b64encode(np.asarray(value, dtype="<f4").tobytes()).decode(), "shape": np.shape(value)}
        if np.size(value) > PACKED
        else value
        for key, value in given.items()
    }


def _whole_numbers(value):
    """``value`` with each whole float an int, written 0 rather than 0.0: the page reads the same number (JSON has
    one kind), and half of a digit image is 0.0, in a file that must stay under 300 KB.  -0.0 keeps its sign."""
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 and math.copysign(1, value) > 0:
        return int(value)
    return value


def _rounded(value):
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return round(value, DECIMALS) if isinstance(value, float) else value
