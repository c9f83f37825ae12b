"""Figures as the notebook draws them: each matrix as an image with its values printed on the cells.

Built with Matplotlib's object API (``Figure``), not pyplot: no backend, no
display and no global state are involved, so the same code writes files from
the command line and shows inline in a notebook (a returned Figure displays).
Every figure is laid out by Matplotlib's constrained layout, which keeps
titles, labels and tick labels inside the canvas and apart (of subfigures too,
which ``tight_layout`` ignores).
"""

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import files
from .explain import Text
from .text import formatter, scalar

LAYOUT = "constrained"


def draw_matrix(ax, array, title, decimals=2, marks=()):
    """Show ``array`` on ``ax`` with each value written in its cell; ``marks`` are [row, col] to outline."""
    array = np.asarray(array, dtype=float)
    limit = np.abs(array).max() or 1.0
    signed = array.min() < 0
    ax.imshow(array, cmap="RdBu_r" if signed else "viridis", vmin=-limit if signed else array.min(), vmax=limit)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if decimals is None:  # too many cells to write on
        return
    middle = (array.min() + array.max()) / 2
    write = formatter(array, decimals)
    for (i, j), value in np.ndenumerate(array):
        # Dark text on the light end of each colour map, white on the dark end.
        light_cell = abs(value) < limit / 2 if signed else value > middle
        ax.text(j, i, write(value), ha="center", va="center", fontsize=8, color="black" if light_cell else "white")
    for row, col in marks:
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))


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


def draw(fig, array, title, decimals=2, marks=(), limit=32):
    """A 2-D array on one axes; more axes as small multiples, one per leading index (at most ``limit``)."""
    array = np.asarray(array, dtype=float)
    if array.ndim < 2:
        array = array.reshape(1, -1)
    if array.ndim == 2:
        draw_matrix(fig.subplots(), array, title, decimals, marks)
        return
    tiles = list(np.ndindex(array.shape[:-2]))[:limit]
    columns = min(len(tiles), 8)
    axes = fig.subplots(-(-len(tiles) // columns), columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    numbers = len(tiles) <= 16 and array.shape[-1] <= 5  # more cells than that are too small to write on
    for ax, index in zip(axes.flat, tiles):
        draw_matrix(ax, array[index], str(list(index)), decimals if numbers else None)
    more = f" (first {limit} of {int(np.prod(array.shape[:-2]))})" if len(tiles) < np.prod(array.shape[:-2]) else ""
    fig.suptitle(title.replace("\n", " ") + more, fontsize=11)


def walkthrough_decimals(pass_):
    """Decimals written on the cells: 4 on the seed's 5x5 image, 2 on bigger ones (wider cells would not fit)."""
    return 4 if np.shape(pass_["given"]["image"])[-1] <= 5 else 2


def panel_figure(array, title, decimals=2, marks=()):
    """One panel (``panels``) as its own figure, sized to its small multiples."""
    tiles = int(np.prod(np.shape(array)[:-2]))
    size = (4, 4) if tiles <= 1 else (2 * min(tiles, 8), 2.2 * -(-min(tiles, 32) // 8) + 0.6)
    fig = Figure(figsize=size, layout=LAYOUT)
    draw(fig, array, title, decimals, marks)
    return fig


def walkthrough_pngs(pass_, names=None):
    """{name: (section, caption, PNG bytes)} for each panel (or just ``names``) and the overview of the whole pass."""
    decimals = walkthrough_decimals(pass_)
    pngs = {}
    for name, (section, title, array, marks) in panels(pass_).items():
        if names is None or name in names:
            pngs[name] = (section, title.replace("\n", " "), _png(panel_figure(array, title, decimals, marks)))
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


def overview(pass_, decimals=3):
    """Every panel of one forward and backward pass in one figure (the first map of each), with the loss."""
    chosen = panels(pass_)
    columns = 3
    fig = Figure(figsize=(12, 4 * -(-len(chosen) // columns)), layout=LAYOUT)
    axes = fig.subplots(-(-len(chosen) // columns), columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, title, array, marks) in zip(axes.flat, chosen.values()):
        array = np.asarray(array, dtype=float)
        first = array[(0,) * (array.ndim - 2)] if array.ndim > 2 else array
        draw_matrix(
            ax,
            first,
            title + (" [first map]" if array.ndim > 2 else ""),
            decimals if first.shape[-1] <= 8 else None,
            marks,
        )
    fwd, bwd = pass_["forward"], pass_["backward"]
    if np.ndim(fwd.get("fc_pre", [])) == 0 and np.ndim(bwd.get("conv_bias", [])) == 0:  # the seed's one z, one bias
        head = (f"z = {fwd['fc_pre']:.4f}, output = {fwd['output']:.4f}, loss = {scalar(fwd['loss'], 4)}, "
                f"dL/dconv_bias = {scalar(bwd['conv_bias'], 4)}")  # fmt: skip
    else:
        head = f"loss = {scalar(fwd['loss'], 4)}"
    outlined = any(len(marks) for _, _, _, marks in chosen.values())
    note = "\n(red outlines: the positions max pooling chose)" if outlined else ""
    fig.suptitle(f"One forward and backward pass: {head}{note}", fontsize=11)
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
    """Loss and accuracy per epoch, train and test, side by side."""
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4), layout=LAYOUT)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-"), ("test", "--")):
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, label=split)
        acc_ax.plot(epochs, [100 * row[f"{split}_accuracy"] for row in history], style, label=split)
    loss_ax.set(xlabel="epoch", ylabel="mean cross-entropy loss", title="Loss", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    acc_ax.axhline(99, color="grey", linewidth=0.8, linestyle=":")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def image_grid(images, titles, suptitle, columns=8, fig=None):
    """Small multiples of (N, C, H, W) images with a title each; an empty set gets a note instead.

    Drawn on ``fig`` (a Figure or SubFigure), or on a new Figure of a fitting size.
    """
    count = max(len(images), 1)
    rows = -(-count // columns)
    if fig is None:
        fig = Figure(figsize=(1.6 * min(columns, count), 1.8 * rows + 0.6), layout=LAYOUT)
    axes = fig.subplots(rows, min(columns, count), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        # one channel in the seed's colour map; several as colours (the first three)
        ax.imshow(image[0] if len(image) == 1 else image[:3].transpose(1, 2, 0), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=14)
    fig.suptitle(suptitle, fontsize=11)
    return fig


def dataset_grid(images, labels, classes, count=32):
    titles = [f"{classes[label]} ({label})" for label in labels[:count]]
    return image_grid(images[:count], titles, f"First {min(count, len(images))} of {len(images)} images")


def evaluation_figure(images, labels, predicted, probabilities, confusion, classes, count=24):
    """The confusion matrix (counts; rows true, columns predicted) beside the first misclassified images."""
    fig = Figure(figsize=(14, 6), layout=LAYOUT)
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.4])
    ax = left.subplots()
    ax.imshow(confusion, cmap="Blues")
    ticks = range(len(classes))
    ax.set(xticks=ticks, yticks=ticks, xlabel="predicted class", ylabel="true class",
           title="Confusion matrix (images of each true class, by prediction)")  # fmt: skip
    ax.set_xticklabels(classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticklabels(classes)
    for (i, j), value in np.ndenumerate(confusion):
        ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                color="white" if value > confusion.max() / 2 else "black")  # fmt: skip
    wrong = np.flatnonzero(predicted != labels)
    titles = [f"{classes[labels[i]]} as {classes[predicted[i]]}\nP={probabilities[i, predicted[i]]:.2f}" for i in wrong]
    more = f" (first {count})" if len(wrong) > count else ""
    image_grid(images[wrong[:count]], titles, f"Misclassified: {len(wrong)} of {len(images)}{more}", 6, right)
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
