"""Figures as the notebook draws them: each matrix as an image with its values printed on the cells.

Built with Matplotlib's object API (``Figure``), not pyplot: no backend, no
display and no global state are involved, so the same code writes files from
the command line and shows inline in a notebook (a returned Figure displays).
Every figure is laid out by Matplotlib's constrained layout, which keeps
titles, labels and tick labels inside the canvas and apart (of subfigures too,
which ``tight_layout`` ignores).

Colour says the same thing everywhere: values that are compared share one
colour scale and show it in a colour bar (the maps of one panel; the forward
maps of a pass, so that a pooled map is as bright as the maximum it took);
gradients and any values with a sign are drawn on a diverging scale centred on
0 (white), and values that are never negative on one that starts at 0.
"""

import io
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import files
from .explain import Text
from .text import formatter, scalar

LAYOUT = "constrained"


def colour_scale(*arrays, signed=False):
    """{cmap, vmin, vmax}: one colour scale for all of ``arrays``.  Diverging and centred on 0 when signs matter
    (``signed``, or any value below 0), so that white is 0 and equal magnitudes are equally dark; else from 0
    (not from the smallest value, which would paint it as if it were 0) to the largest."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    top = float(np.abs(values).max()) or 1.0
    if signed or values.min() < 0:
        return {"cmap": "RdBu_r", "vmin": -top, "vmax": top}
    return {"cmap": "viridis", "vmin": 0.0, "vmax": top}


def draw_matrix(ax, array, title, decimals=2, marks=(), scale=None, fontsize=8):
    """Show ``array`` on ``ax`` with each value written in its cell; ``marks`` are [row, col] to outline.

    ``scale`` is a ``colour_scale`` shared with other panels (by default the array's own); returns the image,
    for a colour bar."""
    array = np.asarray(array, dtype=float)
    image = ax.imshow(array, **(scale or colour_scale(array)))
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if decimals is None:  # too many cells to write on
        return image
    write = formatter(array, decimals)
    for (i, j), value in np.ndenumerate(array):
        # dark text on a light cell, white on a dark one, by the cell's own colour
        red, green, blue, _ = image.cmap(image.norm(value))
        light_cell = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
        ax.text(j, i, write(value), ha="center", va="center", fontsize=fontsize,
                color="black" if light_cell else "white")  # fmt: skip
    for row, col in marks:
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    return image


def colour_bar(fig, image, axes, label=None):
    """A colour bar for ``image`` beside ``axes`` (one axes or several that share its scale)."""
    bar = fig.colorbar(image, ax=axes, shrink=0.8, aspect=25)
    bar.ax.tick_params(labelsize=8)
    if label:
        bar.set_label(label, fontsize=8)
    return bar


def panel_scales(chosen):
    """{name: colour_scale} for the panels ``chosen`` ({name: (section, title, array, marks)}): the forward maps
    share one, so that each can be read against the others; the image and each kernel have their own; each
    gradient its own, diverging around 0."""
    forward = [array for section, _, array, _ in chosen.values() if section == "forward"]
    shared = colour_scale(*forward) if forward else None
    return {
        name: shared if section == "forward" else colour_scale(array, signed=section == "backward")
        for name, (section, _, array, _) in chosen.items()
    }


SCALE_NOTES = {"forward": "shared by the forward maps", "backward": "0 is white"}


def panels(pass_):
    """{name: (section, title, array, marks)}: what the notebook draws, for any network, named by quantity.

    The image and every kernel (given), every conv and pooling output (forward),
    every gradient routed back through a pooling layer and every kernel's
    gradient (backward): each layer's kind adds its own.  ``marks`` outline the
    positions max pooling chose.  ``pass_`` is a ``walkthrough.Pass``.
    """
    p = Text(pass_, decimals=4)
    y = p.label
    drawn = {"image": ("given", f"Input image: {p.classes[y]} (label {y})", p.given["image"], ())}
    later = {}
    for named in p.arch.named:
        later.update(named.kind_of.panels(p, named, drawn))
    return {**drawn, **dict(reversed(later.items()))}


def draw(fig, array, title, decimals=2, marks=(), limit=32, scale=None, note=None):
    """A 2-D array on one axes; more axes as small multiples, one per leading index (at most ``limit``), all on
    one colour scale (``scale``, by default the whole array's), shown in one colour bar labelled ``note``."""
    array = np.asarray(array, dtype=float)
    if array.ndim < 2:
        array = array.reshape(1, -1)
    scale = scale or colour_scale(array)
    if array.ndim == 2:
        ax = fig.subplots()
        colour_bar(fig, draw_matrix(ax, array, title, decimals, marks, scale), ax, note)
        return
    tiles = list(np.ndindex(array.shape[:-2]))[:limit]
    columns = min(len(tiles), 8)
    axes = fig.subplots(-(-len(tiles) // columns), columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    numbers = len(tiles) <= 16 and array.shape[-1] <= 5  # more cells than that are too small to write on
    for ax, index in zip(axes.flat, tiles):
        image = draw_matrix(ax, array[index], str(list(index)), decimals if numbers else None, scale=scale)
    colour_bar(fig, image, axes, note)
    more = f" (first {limit} of {int(np.prod(array.shape[:-2]))})" if len(tiles) < np.prod(array.shape[:-2]) else ""
    fig.suptitle(title.replace("\n", " ") + more, fontsize=11)


def walkthrough_decimals(pass_):
    """Decimals written on the cells: 4 on the seed's 5x5 image, 2 on bigger ones (wider cells would not fit)."""
    return 4 if np.shape(pass_["given"]["image"])[-1] <= 5 else 2


def panel_figure(array, title, decimals=2, marks=(), scale=None, note=None):
    """One panel (``panels``) as its own figure, sized to its small multiples and its colour bar."""
    tiles = int(np.prod(np.shape(array)[:-2]))
    size = (4.8, 4) if tiles <= 1 else (2 * min(tiles, 8) + 0.8, 2.2 * -(-min(tiles, 32) // 8) + 0.6)
    fig = Figure(figsize=size, layout=LAYOUT)
    draw(fig, array, title, decimals, marks, scale=scale, note=note)
    return fig


def walkthrough_pngs(pass_, names=None):
    """{name: (section, caption, PNG bytes)} for each panel (or just ``names``) and the overview of the whole pass.

    The forward maps are drawn on one colour scale in their separate files too, as in the overview."""
    decimals = walkthrough_decimals(pass_)
    chosen = panels(pass_)
    scales = panel_scales(chosen)
    pngs = {}
    for name, (section, title, array, marks) in chosen.items():
        if names is None or name in names:
            fig = panel_figure(array, title, decimals, marks, scales[name], SCALE_NOTES.get(section))
            pngs[name] = (section, title.replace("\n", " "), _png(fig))
    if names is None or "overview" in names:
        pngs["overview"] = (None, "The whole pass", _png(overview(pass_, decimals)))
    return pngs


def walkthrough_figures(pass_, directory):
    """Write one PNG per panel and an overview of the whole pass; returns the paths written."""
    directory = Path(directory)
    return [
        files.atomic_write(directory / f"{name}.png", lambda handle, png=png: handle.write(png))
        for name, (_, _, png) in walkthrough_pngs(pass_).items()
    ]


def overview(pass_, decimals=3, columns=2):
    """Every panel of one forward and backward pass in one figure (the first map of each), with the loss.

    ``columns`` of panels 4.25 inches wide: two keep the numbers legible where a page's text is some 700 pixels
    wide (the site's at 1280), one where a phone's is 370."""
    chosen = panels(pass_)
    scales = panel_scales(chosen)
    rows = -(-len(chosen) // columns)
    fig = Figure(figsize=(4.25 * columns, 3.6 * rows + 0.8), layout=LAYOUT)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, (section, title, array, marks)) in zip(axes.flat, chosen.items()):
        array = np.asarray(array, dtype=float)
        first = array[(0,) * (array.ndim - 2)] if array.ndim > 2 else array
        image = draw_matrix(
            ax,
            first,
            title + (" [first map]" if array.ndim > 2 else ""),
            decimals if first.shape[-1] <= 8 else None,
            marks,
            scales[name],
            fontsize=10,
        )
        colour_bar(fig, image, ax, SCALE_NOTES.get(section))
    fwd, bwd = pass_["forward"], pass_["backward"]
    if np.ndim(fwd.get("fc_pre", [])) == 0 and np.ndim(bwd.get("conv_bias", [])) == 0:  # the seed's one z, one bias
        head = [f"z = {fwd['fc_pre']:.4f}", f"output = {fwd['output']:.4f}", f"loss = {scalar(fwd['loss'], 4)}",
                f"dL/dconv_bias = {scalar(bwd['conv_bias'], 4)}"]  # fmt: skip
    else:
        head = [f"loss = {scalar(fwd['loss'], 4)}"]
    outlined = any(len(marks) for _, _, _, marks in chosen.values())
    note = ["(red outlines: the positions max pooling chose)"] if outlined else []
    title = textwrap.fill(", ".join(head), 50 * columns)
    fig.suptitle("\n".join(["One forward and backward pass", title, *note]), fontsize=12)
    return fig


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def save(fig, path):
    """Write the figure atomically, in the format its file name says (.png, .svg or .pdf)."""
    files.atomic_write(path, lambda handle: fig.savefig(handle, format=Path(path).suffix[1:], dpi=100))
    return path


def learning_curves(history):
    """Loss and accuracy per epoch, train and test, side by side.

    Accuracy runs on its whole scale, 0 to 100%, so that the last epochs' differences of a tenth of a percent
    are not drawn as the height of the plot; the final values are written in the legend, and the error (100%
    minus the accuracy) is what the log-scaled loss beside it resolves.
    """
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4), layout=LAYOUT)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-"), ("test", "--")):
        accuracy = [100 * row[f"{split}_accuracy"] for row in history]
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, label=split)
        acc_ax.plot(epochs, accuracy, style, label=f"{split} (last epoch {accuracy[-1]:.2f}%)")
    loss_ax.set(xlabel="epoch", ylabel="mean cross-entropy loss", title="Loss (log scale)", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy", ylim=(0, 100))
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if ax is acc_ax else "upper right")
    return fig


def image_grid(images, titles, suptitle, columns=8, fig=None):
    """Small multiples of (N, C, H, W) images with a title each, on one scale (pixels 0 to 1) shown in a colour
    bar; an empty set gets a note instead.

    Drawn on ``fig`` (a Figure or SubFigure), or on a new Figure of a fitting size.
    """
    count = max(len(images), 1)
    rows = -(-count // columns)
    if fig is None:
        fig = Figure(figsize=(1.6 * min(columns, count) + 0.8, 1.8 * rows + 0.6), layout=LAYOUT)
    axes = fig.subplots(rows, min(columns, count), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        # one channel in the seed's colour map; several as colours (the first three)
        shown = ax.imshow(image[0] if len(image) == 1 else image[:3].transpose(1, 2, 0), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=14)
    elif images.shape[1] == 1:  # (several channels are drawn as colours, which no bar explains)
        colour_bar(fig, shown, axes, "pixel value")
    fig.suptitle(suptitle, fontsize=11)
    return fig


def dataset_grid(images, labels, classes, count=32):
    titles = [f"{classes[label]} ({label})" for label in labels[:count]]
    shown = f"First {count} of {len(images)} images" if len(images) > count else f"All {len(images)} images"
    return image_grid(images[:count], titles, shown)


def evaluation_figure(images, labels, predicted, probabilities, confusion, classes, count=24):
    """The confusion matrix (counts; rows true, columns predicted) beside the first misclassified images, laid out
    near square so that a few of them fill their half rather than one row of it."""
    wrong = np.flatnonzero(predicted != labels)
    shown = min(len(wrong), count)
    columns = max(1, int(np.ceil(np.sqrt(shown))))
    rows = max(1, -(-shown // columns))
    height = max(6, 2 * rows + 0.8)
    tile = min(2.6, (height - 0.8) / rows)  # inches an image gets: as tall as the rows allow
    fig = Figure(figsize=(7 + tile * columns + 1, height), layout=LAYOUT)
    left, right = fig.subfigures(1, 2, width_ratios=[7, tile * columns + 1])
    ax = left.subplots()
    image = ax.imshow(confusion, cmap="Blues", vmin=0)
    colour_bar(left, image, ax, "images")
    ticks = range(len(classes))
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted class", ylabel="true class",
           title="Confusion matrix (images of each true class, by prediction)")  # fmt: skip
    ax.set_xticklabels(classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticklabels(classes)
    for (i, j), value in np.ndenumerate(confusion):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                color="white" if value > confusion.max() / 2 else "black")  # fmt: skip
    titles = [f"{classes[labels[i]]} as {classes[predicted[i]]}\nP={probabilities[i, predicted[i]]:.2f}" for i in wrong]
    more = f" (first {count})" if len(wrong) > count else ""
    image_grid(images[wrong[:count]], titles, f"Misclassified: {len(wrong)} of {len(images)}{more}", columns, right)
    return fig


def mistakes_figure(counts):
    """How often each known mistake occurred across a class, most frequent first."""
    fig = Figure(figsize=(8, 0.5 * max(len(counts), 1) + 1.5), layout=LAYOUT)
    ax = fig.subplots()
    ordered = sorted(counts.items(), key=lambda item: item[1])
    ax.barh([name for name, _ in ordered], [count for _, count in ordered], color="tab:red")
    ax.set(xlabel="answers showing the mistake", title="Mistakes across the class")
    if not counts:
        ax.set(xticks=[], yticks=[])  # no bars: the axes' numbers would mean nothing
        ax.text(0.5, 0.5, "no known mistakes", ha="center", va="center", transform=ax.transAxes)
    return fig
