"""Rewrite every command output shown in README.md, and the README's figures, from the current code.

Run by `make docs`.  tests/test_readme.py fails when the README and the commands disagree.
"""

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from cnn_backprop import walkthrough
from cnn_backprop.cli import main
from cnn_backprop.kinds import conv, grammar_table, maxpool, relu

ROOT = Path(__file__).resolve().parent.parent
# "output" blocks are compared with the command by tests/test_readme.py; "example" blocks hold
# timings (or training results whose last digit may vary with the CPU) and are only regenerated.
# The grammar table is the registry's: one row per module in src/cnn_backprop/kinds/.
GRAMMAR = re.compile(r"(<!-- grammar: .*? -->\n)(.*?)(\n<!-- /grammar -->)", re.S)
BLOCK = re.compile(r"(<!-- (?:output|example): cnn-backprop (.*?) -->\n```text\n)(.*?)(^```$)", re.S | re.M)


def output_of(args):
    """What the command prints, its error line included (an example may show how a mistake is reported)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        main(shlex.split(args))
    return buffer.getvalue().rstrip("\n")


def main_update():
    readme = ROOT / "README.md"
    figures = ROOT / "docs" / "figures"
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # the README's examples write model.npz and data.npz here, in order
        with contextlib.redirect_stdout(sys.stderr):
            main(["exercise", "--count", "1", "--integers", "--out", "sheets"])
        write_answers_with_a_carried_mistake("sheets/exercise_1.json", "ben_1.json")
        text = BLOCK.sub(lambda m: m.group(1) + output_of(m.group(2)) + "\n" + m.group(4), readme.read_text())
        text = GRAMMAR.sub(lambda m: m.group(1) + grammar_table() + m.group(3), text)
        with contextlib.redirect_stdout(sys.stderr):
            main(["walkthrough", "--figures", str(figures)])
            main(["train", "--quiet", "--out", "model.npz", "--plot", str(figures / "learning_curves.png")])
            main(["dataset", "--count", "32", "--out", "data.npz", "--plot", str(figures / "dataset.png")])
            main(["evaluate", "--model", "digits.npz", "--plot", str(figures / "digits_evaluation.png")])
            main(["walkthrough", "--seed", "1", "--report", "report.html"])
            main(["explore", "--seed", "1", "--no-open", "--out", "explore.html"])
        screenshot(Path(scratch) / "report.html", figures / "report.png", height=1400)
        explorer_screenshot(Path(scratch) / "explore.html", figures / "explorer.png")
        screenshot(Path(scratch) / "sheets" / "exercise_1_key.html", figures / "exercise_key.png", height=1100)
    readme.write_text(text)


def write_answers_with_a_carried_mistake(sheet, path):
    """A student's answers to ``sheet``: right up to dL/dpool, where they send dL/dw_fc back (the notebook's
    fc-weight-grad), then every later gradient computed correctly from that, rounded to 4 decimals."""
    given = walkthrough.complete_given(json.loads(Path(sheet).read_text()))
    result = json.loads(walkthrough.to_json(walkthrough.run(given)))
    fwd, bwd = result["forward"], result["backward"]
    image, kernel = np.array(given["image"])[None], np.array(given["conv_kernel"])[None, None]
    grad_pool = np.array(bwd["fc_weights"]).reshape(np.shape(fwd["pool"]))
    argmax = np.array(fwd["pool_argmax"]).reshape(grad_pool.shape + (2,))
    grad_relu = maxpool.maxpool_backward(grad_pool[None], argmax[None], (1, *np.shape(fwd["conv_relu"])))[0]
    grad_pre = relu.relu_backward(grad_relu, np.array(fwd["conv_pre"]))
    grad_kernel, grad_bias, _ = conv.conv_backward(grad_pre[None], image, kernel)
    backward = {key: bwd[key] for key in ("fc_pre", "fc_weights", "fc_bias")}
    backward.update(pool=grad_pool, conv_relu=grad_relu, conv_pre=grad_pre, conv_kernel=grad_kernel[0, 0],
                    conv_bias=grad_bias[0])  # fmt: skip
    forward = {key: value for key, value in fwd.items() if key != "pool_argmax"}
    answers = {"forward": forward, "backward": {key: np.round(value, 4).tolist() for key, value in backward.items()}}
    Path(path).write_text(json.dumps(answers))


def screenshot(page, png, width=1000, height=1200):
    """A PNG of ``page`` as headless Chromium draws it (skipped, with a note, without Chromium)."""
    if shutil.which("chromium") is None:
        print(f"no chromium: {png.name} not updated", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def explorer_screenshot(page, png):
    """The explorer wide, in the backward view, a kernel gradient hovered: its terms, and lines to both factors."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print(f"no playwright (make test installs it): {png.name} not updated", file=sys.stderr)
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1400, "height": 860})
        tab.goto(page.as_uri())
        tab.check("#gradients")
        tab.hover('td[data-quantity="backward.conv_kernel"][data-index="1,1"]')
        tab.screenshot(path=png)
        browser.close()


if __name__ == "__main__":
    main_update()
