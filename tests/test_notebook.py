"""The notebooks run top to bottom on a fresh kernel, and are stored without outputs."""

import html
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import cnn_backprop as cb

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK = NOTEBOOKS / "backprop_walkthrough.ipynb"
YOUR_OWN_MODEL = NOTEBOOKS / "your_own_model.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.mark.parametrize("path", [NOTEBOOK, YOUR_OWN_MODEL], ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def executed(path, folder):
    """The notebook at ``path`` after running every cell on a fresh kernel in ``folder``; any cell that raises (its
    own asserts check every number against the package, or PyTorch) fails the test."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_notebook_executes_without_errors(tmp_path):
    outputs = executed(NOTEBOOK, tmp_path)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 7  # five show() calls, the overview and the learning curves
    text = "".join(output.get("text", "") for output in outputs)
    assert "relative error" in text and "test accuracy" in text
    explorer = outputs[-2]["data"]  # the inline explorer, then what Python reads of it
    assert WIDGET_VIEW in explorer and explorer["text/html"].startswith('<iframe srcdoc="')
    loss = cb.run(seed=1).loss
    assert f"label 0, loss {loss:.6f}" in outputs[-1]["text"]


def test_your_own_model_notebook_brings_a_pytorch_model_in(tmp_path):
    pytest.importorskip("torch")
    outputs = executed(YOUR_OWN_MODEL, tmp_path)
    shown = [output["data"]["text/html"] for output in outputs if "text/html" in output.get("data", {})]
    assert len(shown) == 3  # the network's table of layers, the pass, and the explorer's page for HTML
    assert "conv 8x3x3 pad 1, batchnorm, relu, maxpool 2, dense 10, softmax" in shown[0]
    assert "predicted class" in shown[1] and "cb.explain_value(p, " in shown[1]  # more numbers than a page: a summary
    text = "".join(output.get("text", "") for output in outputs)
    assert "epoch 5: test accuracy" in text and "every gradient equals PyTorch's to 1e-12" in text
    assert text.count("dL/dkernel[0,0,1,1] = ") == 1
    assert WIDGET_VIEW in outputs[-1]["data"]
    page = html.unescape(shown[2])
    assert page.startswith("<iframe srcdoc=") and "conv 8x3x3 pad 1, batchnorm" in page
