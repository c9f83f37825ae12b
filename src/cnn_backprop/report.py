"""Documents: the walkthrough (and exercise sheets) as Markdown or as one self-contained HTML file.

A document is a list of blocks, ``(kind, content)``:
``("title", text)``, ``("heading", text)``, ``("text", paragraph)``,
``("pre", preformatted text)`` and ``("figures", {name: (section, caption, png_bytes)})``.
Markdown puts the figures in a folder beside the file; HTML embeds them, and
writes every formula as plain text, so the file reads offline with no network.
"""

import base64
import html
import io
from pathlib import Path

import numpy as np

from . import explain, files
from .text import shown
from .walkthrough import classes_of

# Each walkthrough section's title in a document.
TITLES = {
    "given": "Given",
    "sizes": "1. Output sizes",
    "forward": "2. Forward pass: each layer's values before activation",
    "backward": "3. Backward pass: every gradient, down to the kernel",
}
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
pre { background: #f6f8fa; padding: 0.8rem; white-space: pre-wrap; font-size: 0.85rem; line-height: 1.35; }
figure { display: inline-block; margin: 0.5rem; text-align: center; }
figure img { max-width: 22rem; } figure.wide img { max-width: 100%; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def walkthrough_document(pass_, explain_arithmetic=True, decimals=4, figures=None):
    """The walkthrough's blocks: the given values, answers 1-3 with their arithmetic, the figures.

    ``figures`` is ``figures.walkthrough_pngs(pass_)``: {name: (section, caption, png)}.
    """
    figures = figures or {}
    given = pass_["given"]
    image = np.shape(given["image"])
    blocks = [
        ("title", "Backpropagation through a CNN: one forward and one backward pass"),
        (
            "text",
            f"A {'x'.join(map(str, image))} image of a {classes_of(given)[given['label']]} (label {given['label']}); "
            "every number below was computed by cnn-backprop and checked against finite differences and PyTorch.",
        ),
    ]
    for section in explain.sections(pass_, explain=explain_arithmetic, decimals=decimals):
        blocks += [("heading", TITLES[section.key]), ("pre", explain.section_text(section))]
        chosen = {name: figure for name, figure in figures.items() if figure[0] == section.key}
        if chosen:
            blocks.append(("figures", chosen))
    overview = {name: figure for name, figure in figures.items() if figure[0] is None}
    if overview:
        blocks += [("heading", "The whole pass"), ("figures", overview)]
    return blocks


MARKDOWN = {"title": "# {}", "heading": "## {}", "text": "{}", "pre": "```text\n{}\n```"}
HTML = {"title": "<h1>{}</h1>", "heading": "<h2>{}</h2>", "text": "<p>{}</p>", "pre": "<pre>{}</pre>"}


def thumbnail(array, side=48):
    """A small PNG of a map (its first channel), as a data URI: each value a square of pixels, at most ``side``."""
    from matplotlib.image import imsave

    values = np.asarray(array, dtype=float)
    while values.ndim > 2:
        values = values[0]
    values = np.atleast_2d(values)
    scale = max(1, side // max(values.shape))
    buffer = io.BytesIO()
    imsave(buffer, np.kron(values, np.ones((scale, scale))), cmap="viridis", format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def summary_html(pass_, decimals=4):
    """A pass of any size as one short HTML block (tens of KB): its summary (shapes, answer 1, ranges, the loss and
    the prediction), each layer's output and gradient as a thumbnail of its first map, and how to reach every number."""
    probabilities = pass_.arch.output.probabilities(np.asarray(pass_.values["output"])[None])[0]
    predicted = int(np.argmax(probabilities))
    rows = []
    for named in pass_.arch.named:
        if named.kind_of.reshapes or named.kind_of.is_output:
            continue
        value, grad = pass_.values[named.output], pass_.grads[named.output]
        cells = [html.escape(named.output), "x".join(map(str, np.shape(value)))]
        images = (f'<img alt="{html.escape(what)}" src="{thumbnail(array)}">' if np.ndim(array) >= 2 else
                  html.escape(shown(np.ravel(array)[:6], decimals)) + (" ..." if np.size(array) > 6 else "")
                  for what, array in ((named.output, value), (f"dL/d{named.output}", grad)))  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in (*cells, *images)) + "</tr>")
    example = next(iter(pass_.params), "image")
    index = ",".join("0" for _ in np.shape(pass_.shown(example, grad=True)))
    which = f"dL/d{example}[{index}]" if index else f"dL/d{example}"
    how = (f"Every number: <code>p.values[NAME]</code>, <code>p.grads[NAME]</code> (full shape), "
           f"<code>p[\"forward\"]</code> (the --json layout); the arithmetic of one: "
           f"<code>cb.explain_value(p, \"{html.escape(which)}\")</code>; the whole walkthrough: <code>cnn-backprop "
           "walkthrough --given FILE --all</code>, FILE holding <code>cb.to_json(p)</code>.")  # fmt: skip
    head = (f"<p><b>{html.escape(repr(pass_))}</b>: predicted class {predicted} = "
            f"{html.escape(pass_.classes[predicted])} (P = {probabilities[predicted]:.{decimals}f}), label "
            f"{pass_.label} = {html.escape(pass_.classes[pass_.label])}, {pass_.mode} mode.</p>")  # fmt: skip
    table = ("<table><tr><th>layer output</th><th>shape</th><th>value (first map)</th><th>gradient (first map)</th>"
             f"</tr>{''.join(rows)}</table>")  # fmt: skip
    text = html.escape(explain.format_summary(pass_, decimals))
    return f"<div>{head}{table}<p>{how}</p><details><summary>summary</summary><pre>{text}</pre></details></div>"


def to_markdown(blocks, figure_dir):
    """Markdown text; figures are written into ``figure_dir`` (named relative to the document)."""
    figure_dir = Path(figure_dir)
    if any(kind == "figures" for kind, _ in blocks):
        files.output_dir(figure_dir)
    out = []
    for kind, content in blocks:
        if kind != "figures":
            out.append(MARKDOWN[kind].format(content))
            continue
        links = []
        for name, (_, caption, png) in content.items():
            files.atomic_write(figure_dir / f"{name}.png", lambda handle, png=png: handle.write(png))
            links.append(f"![{caption}]({figure_dir.name}/{name}.png)")
        out.append(" ".join(links))
    return "\n\n".join(out) + "\n"


def to_html(blocks):
    """One self-contained HTML page: styles inline, figures as data: URIs, no scripts, no network."""
    title = next((content for kind, content in blocks if kind == "title"), "cnn-backprop")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n" + html_body(blocks) + "\n</body>\n</html>\n"
    )


def html_body(blocks):
    """The blocks as HTML elements, one a line (what a page's body, or a notebook's output, holds)."""
    body = []
    for kind, content in blocks:
        if kind != "figures":
            body.append(HTML[kind].format(html.escape(content)))
            continue
        for name, (_, caption, png) in content.items():
            data = base64.b64encode(png).decode("ascii")
            caption = html.escape(caption)
            wide = ' class="wide"' if name == "overview" else ""
            body.append(
                f'<figure{wide}><img alt="{caption}" src="data:image/png;base64,{data}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    return "\n".join(body)


def write_document(blocks, path):
    """Write ``blocks`` to ``path`` as .md (figures in PATH-STEM_figures/ beside it) or .html."""
    path = Path(path)
    if path.suffix == ".html":
        text = to_html(blocks)
    else:
        text = to_markdown(blocks, path.with_name(f"{path.stem}_figures"))
    return files.atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
