"""The notebook runs top to bottom on a fresh kernel, and is stored without outputs."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "backprop_walkthrough.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_executes_without_errors(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Any cell that raises (its own asserts check every number against the package) fails the test.
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 7  # five show() calls, the overview and the learning curves
    text = "".join(output.get("text", "") for output in outputs)
    assert "relative error" in text and "test accuracy" in text
