"""The explorer as a notebook widget: its instance synced with Python both ways, and its static fallback; run for real
in JupyterLab 4 and through nbconvert, in Debian's Chromium."""

import html
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
import test_page
from ipywidgets.widgets.widget import _put_buffers, _remove_buffers
from test_page import CHROMIUM, assert_page_is, every_number_shown, expected_value

import cnn_backprop as cb
from cnn_backprop import api, walkthrough
from cnn_backprop.architecture import DIGITS_SPEC
from cnn_backprop.page import in_import_order, page, scoped_css, starting_given, training_set
from cnn_backprop.validate import InputError
from cnn_backprop.widget import from_wire, to_wire

browser = test_page.browser  # the explorer's tests' Chromium, one per module
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it where it can)"
)


def from_page(widget, change):
    """What the page does: take the widget's state as the front end holds it (big arrays as binary buffers), change
    it with ``change(given)``, and send it back as Jupyter sends a front end's update."""
    state, paths, buffers = _remove_buffers(widget.get_state(["given"]))
    _put_buffers(state, paths, [memoryview(bytes(buffer)) for buffer in buffers])
    given = {key: from_wire({key: value})[key] for key, value in state["given"].items()}
    change(given)
    state, paths, buffers = _remove_buffers({"given": to_wire(given)})
    _put_buffers(state, paths, [memoryview(buffer) for buffer in buffers])
    widget.set_state(state)


@pytest.mark.parametrize("net", [None, DIGITS_SPEC])
def test_a_change_on_the_page_is_widget_given_and_its_pass(net):
    widget = cb.explore(net=net, seed=1, source="digits" if net else "shapes")
    start = walkthrough.complete_given(widget.given)
    assert widget.pass_.loss == walkthrough.run(start).loss

    def change(given):
        kernel = np.asarray(given["conv_kernel" if net is None else "conv2_kernel"])
        kernel.flat[0] = -0.75
        given["conv_kernel" if net is None else "conv2_kernel"] = kernel.tolist()
        given["label"] = 1 - given["label"] if net is None else (given["label"] + 1) % 10

    from_page(widget, change)
    name = "conv_kernel" if net is None else "conv2_kernel"
    assert np.asarray(widget.given[name]).flat[0] == -0.75
    assert widget.given["label"] != start["label"]
    # every other number as it was, to the last bit
    for key, value in start.items():
        if key not in (name, "label"):
            np.testing.assert_array_equal(np.asarray(widget.given[key]), np.asarray(value))
    assert np.asarray(widget.pass_.params[name]).flat[0] == -0.75


def test_a_packed_array_goes_as_float64_bytes_and_comes_back_exact():
    given = {"big": np.random.default_rng(0).normal(size=(4, 3, 3, 30)).tolist(), "small": [[0.1, 0.2]], "label": 3}
    wire = to_wire(given)
    assert isinstance(wire["big"]["float64"], bytes) and wire["big"]["shape"] == [4, 3, 3, 30]
    assert wire["small"] == [[0.1, 0.2]] and wire["label"] == 3
    assert from_wire({**wire, "big": {**wire["big"], "float64": memoryview(wire["big"]["float64"])}}) == given


def test_setting_given_from_python_changes_the_pass():
    widget = cb.explore(seed=1)
    kernel = [[0.25, 0.5, -0.125], [1.5, -2.0, 0.75], [0.0, 0.3, 0.6]]
    widget.given = {**widget.given, "conv_kernel": kernel, "conv_bias": 0.5}
    image = np.asarray(widget.given["image"])
    # conv_pre[0, 0] by hand: the kernel over the image's top-left 3x3 window, plus the bias
    expected = np.sum(np.asarray(kernel) * image[:3, :3]) + 0.5
    assert widget.pass_.values["conv_pre"][0, 0, 0] == pytest.approx(expected, abs=1e-12)
    # a partial instance is completed: the seed draws the rest, as --given does
    widget.given = {"image": image.tolist(), "label": 0}
    assert set(widget.given) == set(walkthrough.complete_given(seed=0))


def test_given_for_another_network_or_a_bad_one_is_refused_in_one_line():
    widget = cb.explore(seed=1)
    before = widget.given
    with pytest.raises(
        InputError, match=r"^widget.given is for the network 'conv 2x3x3.*make a new one with cb.explore$"
    ):
        widget.given = {"net": "conv 2x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid"}
    with pytest.raises(InputError, match="^widget.given"):
        widget.given = {**before, "conv_kernel": [[1.0, 2.0]]}
    assert widget.given == before


def test_the_bundle_carries_the_live_view_and_the_page_in_an_iframe():
    widget = cb.explore(seed=1)
    data, _ = widget._repr_mimebundle_()
    assert data[WIDGET_VIEW]["model_id"] == widget.model_id
    found = re.fullmatch(r'<iframe srcdoc="([^"]*)" title="cnn-backprop explorer" style="[^"]*"></iframe>',
                         data["text/html"])  # fmt: skip
    given = walkthrough.complete_given(widget.given)
    assert html.unescape(found.group(1)) == page(given, training_set("shapes", 1))


def test_the_widget_for_the_digits_network_sends_under_1_mb():
    widget = cb.explore(net=DIGITS_SPEC, source="digits")
    state, _, buffers = _remove_buffers(widget.get_state())
    data, metadata = widget._repr_mimebundle_()
    sent = len(json.dumps(state)) + sum(len(buffer) for buffer in buffers) + len(json.dumps([data, metadata]))
    assert sent < 1_000_000
    assert 500_000 < sent  # the page, its modules and 21,000 weights: a check that counts everything


def test_the_widget_loads_every_module_of_the_page_after_those_it_imports():
    order = [name for name, _ in in_import_order()]
    assert order[-1] == "page.js" and set(order) >= {"engine.js", "kinds.js", "kinds/conv.js"}
    for position, (_, source) in enumerate(in_import_order()):
        for dep in re.findall(r'from\s*"cnn-backprop/([^"]+)"', source):
            assert order.index(dep) < position
    esm = cb.explore()._esm
    for _, source in in_import_order():
        assert json.dumps(source) in esm


def test_the_widgets_style_is_the_pages_held_to_its_element():
    css = scoped_css(".cb")
    rules = [line for line in css.splitlines() if "{" in line and not line.startswith("@")]
    original = (Path(cb.__file__).parent / "explorer" / "style.css").read_text()
    assert len(rules) == original.count("{") - original.count("@media") - original.count("@container") > 50
    assert all(rule.startswith(".cb ") for rule in rules)
    assert ".cb { font-family: system-ui" in css and ".cb > .output {" in css  # body and main: the element itself
    assert ".cb button { font: inherit" in css and ".cb :focus-visible {" in css
    assert "@media (max-width: 700px) {\n.cb { padding" in css
    assert cb.explore()._css == scoped_css(".cnn-backprop")


def test_explore_starts_where_explorer_page_does():
    widget = cb.explore(seed=2, net=DIGITS_SPEC, source="digits")
    given, training = api.explorer_start(seed=2, net=DIGITS_SPEC, source="digits")
    assert widget._start["training"] == training
    assert widget.given == json.loads(walkthrough.to_json({"given": given}))["given"]  # the --given layout, exact
    assert widget.pass_.loss == walkthrough.run(given).loss


def test_explore_without_anywidget_says_how_to_install_it(monkeypatch):
    real = api.importlib.util.find_spec
    monkeypatch.setattr(api.importlib.util, "find_spec", lambda name: None if name == "anywidget" else real(name))
    with pytest.raises(InputError, match=r"^cb.explore needs anywidget.*pip install 'cnn-backprop\[notebook\]'$"):
        cb.explore()


def test_importing_the_package_imports_no_widget_library():
    code = "import cnn_backprop, sys; assert not {'anywidget', 'ipywidgets', 'torch'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})


# The browser tests: the kernel imports the package these tests import.
PACKAGE_ROOT = str(Path(cb.__file__).resolve().parents[1])


def notebook(folder, name, sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path


def environment(folder):
    """The environment of a Jupyter process: its own config, runtime and workspace folders under ``folder``."""
    paths = {name: str(Path(folder) / name) for name in ("config", "runtime", "workspaces", "settings")}
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
            "JUPYTER_CONFIG_DIR": paths["config"], "JUPYTER_RUNTIME_DIR": paths["runtime"],
            "JUPYTERLAB_WORKSPACES_DIR": paths["workspaces"], "JUPYTERLAB_SETTINGS_DIR": paths["settings"]}  # fmt: skip


@needs_chromium
def test_a_notebook_saved_as_html_shows_a_working_explorer_offline(browser, tmp_path):
    path = notebook(tmp_path, "saved.ipynb", ["import cnn_backprop as cb\ncb.explore(seed=1)"])
    # Without the widget's state in the notebook (JupyterLab saves none by default), nbconvert shows the text/html.
    convert = [
        sys.executable,
        "-m",
        "nbconvert",
        "--to",
        "html",
        "--execute",
        "--ExecutePreprocessor.store_widget_state=False",
    ]
    subprocess.run([*convert, str(path)], check=True, capture_output=True, env=environment(tmp_path), timeout=120)
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.route(re.compile(r"^https?://"), lambda route: route.abort())  # offline: nothing but the file
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(path.with_suffix(".html").as_uri())
    tab.wait_for_selector("iframe[srcdoc]")
    frame = next(frame for frame in tab.frames if frame.parent_frame is not None)
    frame.wait_for_selector("#loss", state="attached")
    given = starting_given(walkthrough.complete_given(seed=1))  # the numbers the page starts from
    ours = frame.evaluate("(g) => window.cnnBackprop.run(g)", json.loads(walkthrough.to_json({"g": given}))["g"])
    assert ours["forward"]["loss"] == pytest.approx(walkthrough.run(given).loss, abs=1e-12)
    assert_page_is(frame, given)
    tab.close()


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab 4 server on a free port with a token, rooted in a temporary folder: (its URL, the folder)."""
    folder = tmp_path_factory.mktemp("lab")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.extension_manager=readonly",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=environment(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start (exit status {server.poll()})") from None
                time.sleep(0.3)
        yield url, token, folder
    finally:
        server.terminate()  # the server shuts its kernels down
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def run_cell(tab, index):
    """Click into cell ``index`` and press Shift+Enter, as a person runs it."""
    tab.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    tab.keyboard.press("Shift+Enter")


def output_of(tab, index, containing, timeout=60):
    """The text of cell ``index``'s output once it contains ``containing``."""
    output = tab.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = " ".join(output.all_inner_texts())
        if containing in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"cell {index} did not print {containing!r}; it shows {' '.join(output.all_inner_texts())!r}")


LAB_NET = "conv 8x3x3 pad 1, relu, maxpool 2, dense 10, softmax"  # its 1,280 dense weights go as a binary buffer
LAB_CELLS = [
    f"import json, time\nfrom pathlib import Path\nimport numpy as np\nimport cnn_backprop as cb\n"
    f"w = cb.explore(net={LAB_NET!r}, source='digits', seed=1)\nw",
    'print("kernel", json.dumps(w.given["conv_kernel"][0][0][0][0]))',
    'k = np.array(w.given["conv_kernel"])\nk[0, 0, 1, 1] = -2.0\nw.given = {**w.given, "conv_kernel": k.tolist()}',
    'times = []\nw.observe(lambda change: times.append(time.monotonic()), names="given")\nprint("listening")',
    'Path("pass.json").write_text(cb.to_json(w.pass_))\nprint("changes", len(times))',
]


@needs_chromium
def test_in_jupyterlab_the_explorer_talks_to_python_both_ways(browser, jupyterlab):
    url, token, folder = jupyterlab
    notebook(folder, "explore.ipynb", LAB_CELLS)
    tab = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{url}/lab/tree/explore.ipynb?token={token}")
    tab.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=60_000)
    run_cell(tab, 0)
    tab.wait_for_selector(".jp-OutputArea-output .cnn-backprop h1 >> text=cnn-backprop explorer", timeout=60_000)
    # Type a kernel value on the page; the next cell prints it from Python.
    field = tab.get_by_label("conv_kernel[0,0,0,0]")
    field.click()
    tab.keyboard.press("Control+A")
    tab.keyboard.type("-0.75")
    tab.keyboard.press("Enter")
    tab.wait_for_function("() => window.cnnBackprop.explorer.given.conv_kernel[0][0][0][0] === -0.75")  # Enter took it
    time.sleep(0.5)  # the page sends at most every 200 ms
    run_cell(tab, 1)
    assert "kernel -0.75" in output_of(tab, 1, "kernel ")
    # Set a kernel value from Python: the page shows it.
    run_cell(tab, 2)
    tab.wait_for_function(
        """() => document.querySelector('.cnn-backprop input[aria-label="conv_kernel[0,0,1,1]"]')?.value === "-2" """
    )
    # A drawn pixel, the label, an SGD step and a second of training on the page reach Python, at most every 200 ms.
    run_cell(tab, 3)
    output_of(tab, 3, "listening")
    began = time.monotonic()
    tab.click('.cnn-backprop td[data-quantity="image"][data-index="2,2"]')
    tab.click(".cnn-backprop #flip")
    tab.click(".cnn-backprop #step")
    tab.click(".cnn-backprop #train")
    time.sleep(1.5)
    tab.click(".cnn-backprop #train")
    time.sleep(0.6)
    elapsed = time.monotonic() - began
    run_cell(tab, 4)
    changes = int(output_of(tab, 4, "changes ").split()[-1])
    assert 3 <= changes <= elapsed / 0.2 + 1
    # Python's instance is the page's to the last bit, and every number the page shows is the Python pass's.
    result = json.loads((folder / "pass.json").read_text())
    ours = tab.evaluate("() => window.cnnBackprop.explorer.given")
    assert set(ours) == set(result["given"])
    for key, value in result["given"].items():
        assert ours[key] == value, key
    start = api.explorer_start(net=LAB_NET, source="digits", seed=1)[0]
    assert result["given"]["label"] == (start["label"] + 1) % 10
    assert result["given"]["image"][2][2] == (0 if start["image"][2][2] > 0.5 else 1)
    assert np.abs(np.asarray(result["given"]["fc_weights"]) - start["fc_weights"]).max() > 0.01  # trained
    shown = every_number_shown(tab)
    assert len(shown) > 10
    for quantity, index, value in shown:
        assert value == pytest.approx(expected_value(result, result["given"], quantity, index), abs=1e-12)
    assert errors == []
    tab.close()
