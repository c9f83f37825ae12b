"""Figures as the notebook draws them: each matrix as an image with its values printed on the cells.

Built with Matplotlib's object API (``Figure``), not pyplot: no backend, no
display and no global state are involved, so the same code writes files from
the command line and shows inline in a notebook (a returned Figure displays).
"""

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import files
from .data import CLASSES
from .explain import formatter, scalar


def draw_matrix(ax, array, title, decimals=2, marks=()):
    """Show ``array`` on ``ax`` with each value written in its cell; ``marks`` are [row, col] to outline."""
    array = np.asarray(array, dtype=float)
    limit = np.abs(array).max() or 1.0
    signed = array.min() < 0
    ax.imshow(array, cmap="RdBu_r" if signed else "viridis", vmin=-limit if signed else array.min(), vmax=limit)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    middle = (array.min() + array.max()) / 2
    write = formatter(array, decimals)
    for (i, j), value in np.ndenumerate(array):
        # Dark text on the light end of each colour map, white on the dark end.
        light_cell = abs(value) < limit / 2 if signed else value > middle
        ax.text(j, i, write(value), ha="center", va="center", fontsize=8, color="black" if light_cell else "white")
    for row, col in marks:
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))


def _panels(result):
    g, fwd, bwd = result["given"], result["forward"], result["backward"]
    return {
        "input": (g["image"], f"Input image: {CLASSES[g['label']]} (label {g['label']})", ()),
        "kernel": (g["conv_kernel"], "Convolution kernel", ()),
        "conv": (fwd["conv_pre"], "Convolution result (conv_pre)", fwd["pool_argmax"]),
        "pool": (fwd["pool"], "Max pooled map", ()),
        "pool_gradient": (bwd["conv_relu"], "Gradient routed through pooling\n(dL/dconv_relu)", ()),
        "kernel_gradient": (bwd["conv_kernel"], "Gradient of the loss w.r.t. the kernel\n(dL/dkernel)", ()),
    }


def walkthrough_pngs(result, names=None):
    """{name: PNG bytes} for each panel (or just ``names``) and the overview of the whole pass."""
    panels = _panels(result)
    decimals = 4 if len(result["given"]["image"]) <= 5 else 2
    pngs = {}
    for name, (array, title, marks) in panels.items():
        if names is None or name in names:
            fig = Figure(figsize=(4, 4))
            draw_matrix(fig.subplots(), array, title, decimals, marks)
            pngs[name] = _png(fig)
    if names is None or "overview" in names:
        pngs["overview"] = _png(overview(result, decimals))
    return pngs


def walkthrough_figures(result, directory):
    """Write one PNG per panel and an overview of the whole pass; returns the paths written."""
    directory = Path(directory)
    return [
        files.atomic_write(directory / f"{name}.png", lambda handle, png=png: handle.write(png))
        for name, png in walkthrough_pngs(result).items()
    ]


def overview(result, decimals=3):
    """All panels of one forward and backward pass in one figure, with z, output and loss."""
    panels = _panels(result)
    fig = Figure(figsize=(12, 8))
    axes = fig.subplots(2, 3)
    for ax, (array, title, marks) in zip(axes.flat, panels.values()):
        draw_matrix(ax, array, title, decimals, marks)
    fwd, bwd = result["forward"], result["backward"]
    fig.suptitle(
        f"One forward and backward pass: z = {fwd['fc_pre']:.4f}, output = {fwd['output']:.4f}, "
        f"loss = {scalar(fwd['loss'], 4)}, dL/dconv_bias = {scalar(bwd['conv_bias'], 4)}\n"
        "(red outlines: the conv positions max pooling chose)",
        fontsize=11,
    )
    return fig


def _png(fig):
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def save(fig, path):
    """Write the figure atomically, in the format its file name says (.png, .svg or .pdf)."""
    fig.tight_layout()
    files.atomic_write(path, lambda handle: fig.savefig(handle, format=Path(path).suffix[1:], dpi=100))
    return path


def learning_curves(history):
    """Loss and accuracy per epoch, train and test, side by side."""
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "-"), ("test", "--")):
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, label=split)
        acc_ax.plot(epochs, [100 * row[f"{split}_accuracy"] for row in history], style, label=split)
    loss_ax.set(xlabel="epoch", ylabel="mean BCE loss", title="Loss", yscale="log")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    acc_ax.axhline(99, color="grey", linewidth=0.8, linestyle=":")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def image_grid(images, titles, suptitle, columns=8):
    """Small multiples of (N, 1, H, W) images with a title each; an empty set gets a note instead."""
    count = max(len(images), 1)
    rows = -(-count // columns)
    fig = Figure(figsize=(1.6 * min(columns, count), 1.8 * rows + 0.6))
    axes = fig.subplots(rows, min(columns, count), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image[0], cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center", fontsize=14)
    fig.suptitle(suptitle, fontsize=11)
    return fig


def dataset_grid(images, labels, count=32):
    titles = [f"{CLASSES[label]} ({label})" for label in labels[:count]]
    return image_grid(images[:count], titles, f"First {min(count, len(images))} of {len(images)} images")


def misclassified_grid(images, labels, probabilities, count=32):
    wrong = np.flatnonzero((probabilities > 0.5) != labels)
    titles = [f"{CLASSES[labels[i]]}\nP(rect)={probabilities[i]:.3f}" for i in wrong[:count]]
    return image_grid(
        images[wrong[:count]],
        titles,
        f"Misclassified: {len(wrong)} of {len(images)}" + (f" (first {count})" if len(wrong) > count else ""),
    )
