"""The explorer's overview in a real browser: the whole network, its prediction and its loss on one screen at
1280x800, pinned on a phone, stacked in a 360 px notebook cell; a layer's numbers opened from it; a kernel
gradient's two factors lit where they are shown."""

import json

import numpy as np
import pytest
import test_page
from conftest import PROJECTED, RESIDUAL
from test_page import PAGES, open_page, python_result

from cnn_backprop import walkthrough
from cnn_backprop.page import starting_given

browser = test_page.browser  # the explorer's tests' Chromium, one per module

LENET = ("conv 6x5x5 pad 2, sigmoid, avgpool 2, conv 16x5x5, sigmoid, avgpool 2, dense 120, sigmoid, dense 84, "
         "sigmoid, dense 10, softmax")  # fmt: skip
# The seed's, a 4-filter digits network, the digits network we train, LeNet-5 on a 3x32x32 image, and the block.
NETWORKS = {
    **PAGES,
    "lenet": lambda: walkthrough.complete_given(
        {"net": LENET, "image": np.random.default_rng(0).random((3, 32, 32)).tolist(), "label": 3}, 0
    ),
    "residual": lambda: walkthrough.complete_given({"net": RESIDUAL}, 0, source="digits"),
}

BOX = "(n) => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"


def boxes(tab, selector):
    return tab.eval_on_selector_all(selector, f"(ns) => ns.map({BOX})")


def inside(box, width, height):
    left, top, right, bottom = box
    return left >= 0 and top >= 0 and right <= width + 0.5 and bottom <= height + 0.5


@pytest.mark.parametrize("name", NETWORKS)
def test_the_whole_network_its_prediction_and_its_loss_fit_1280x800(browser, tmp_path, name):
    given = starting_given(NETWORKS[name]())
    tab = open_page(browser, tmp_path, given)
    arch = walkthrough.architecture_of(walkthrough.complete_given(given))
    layers = ["image"] + [n.name for n in arch.named if not (n.kind_of.reshapes or n.kind_of.is_output)]
    assert tab.eval_on_selector_all(".overview .glance", "(ns) => ns.map((n) => n.dataset.layer)") == layers
    for selector in ("#loss", "#probabilities", ".overview .glance", ".overview canvas[data-bank]"):
        found = boxes(tab, selector)
        assert found and all(inside(box, 1280, 800) for box in found), (selector, found)
    assert tab.evaluate("[scrollX, scrollY, document.documentElement.scrollWidth]") == [0, 0, 1280]
    # Every channel of every layer's output is drawn, and every kernel and weight matrix beside it.
    banks = tab.eval_on_selector_all(".overview canvas[data-bank]", "(ns) => ns.map((n) => n.dataset.bank)")
    assert set(banks) == {"image"} | {n.output for n in arch.named if n.name in layers} | {
        key for n in arch.named for key, shape in n.param_shapes.items() if len(shape) > 1
    }
    pixels = tab.evaluate(
        """() => [...document.querySelectorAll('.overview canvas[data-bank]')].map((c) =>
            [c.dataset.bank, c.width * c.height, c.getContext('2d').getImageData(0, 0, c.width, c.height).data
                .filter((v, i) => i % 4 === 3 && v === 255).length])"""
    )
    result = python_result(given)
    for bank, area, painted in pixels:
        entries = np.size(result["forward"].get(bank, given.get(bank)))
        assert painted == entries <= area, bank  # one canvas pixel an entry, each painted
    assert tab.errors == []


def test_the_maps_grow_as_the_network_shrinks(browser, tmp_path):
    sides = {}
    for name in ("seed", "digits"):
        tab = open_page(browser, tmp_path, starting_given(NETWORKS[name]()))
        conv = "conv_pre" if name == "seed" else "conv1_pre"
        sides[name] = tab.evaluate(
            f"""() => {{ const c = document.querySelector('.overview canvas[data-bank="{conv}"]');
                return c.getBoundingClientRect().height / c.height; }}"""
        )
        tab.close()
    assert sides["seed"] > 4 * sides["digits"] > 4  # css px a value: a 3x3 map drawn larger than 32 of 8x8


@pytest.mark.parametrize("name", NETWORKS)
def test_on_a_phone_the_layers_stack_and_the_prediction_and_loss_stay_in_view(browser, tmp_path, name):
    tab = open_page(browser, tmp_path, starting_given(NETWORKS[name]()), width=400, height=800)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    lefts = {round(box[0]) for box in boxes(tab, ".overview .glance")}
    assert len(lefts) == 1  # one above the other
    for y in (0, 1500, 4000):
        tab.evaluate(f"scrollTo(0, {y})")
        for selector in ("#loss", "#probabilities"):
            assert inside(boxes(tab, selector)[0], 400, 800), (y, selector)
    assert tab.errors == []


def widget_host(tmp_path, given, width):
    """A page that draws the notebook widget (its module and its scoped style, as anywidget loads them) into an
    output cell ``width`` px wide, with a model that holds its state as anywidget's does."""
    pytest.importorskip("anywidget")
    from cnn_backprop.page import beside_the_instance, scoped_css, widget_module
    from cnn_backprop.widget import layout

    state = json.dumps({"given": layout(given), "_start": beside_the_instance(given)}).replace("</", "<\\/")
    esm = widget_module()
    assert "</script" not in esm
    path = tmp_path / "cell.html"
    path.write_text(f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>a notebook cell</title>
<style>{scoped_css(".cnn-backprop")}</style></head>
<body style="margin: 0"><div id="cell" style="width: {width}px"></div>
<script type="application/json" id="state">{state}</script>
<script type="text/plain" id="esm">{esm}</script>
<script type="module">
const state = JSON.parse(document.getElementById("state").textContent);
const model = {{ get: (key) => state[key], set: (key, value) => (state[key] = value), save_changes() {{}},
                on() {{}}, off() {{}} }};
const url = URL.createObjectURL(new Blob([document.getElementById("esm").textContent], {{ type: "text/javascript" }}));
(await import(url)).default.render({{ model, el: document.getElementById("cell") }});
</script>
</body></html>""")
    return path


@pytest.mark.parametrize("name", ["seed", "digits"])
def test_in_a_360_px_notebook_cell_the_overview_fits_its_cell(browser, tmp_path, name):
    given = walkthrough.complete_given(NETWORKS[name]())
    tab = browser.new_page(viewport={"width": 1280, "height": 800})  # a wide window: the cell, not it, decides
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(widget_host(tmp_path, given, 360).as_uri())
    tab.wait_for_selector(".cnn-backprop #loss")
    cell = boxes(tab, "#cell")[0]
    for selector in (".overview .glance", ".overview canvas[data-bank]", ".output", "#loss"):
        for left, _, right, _ in boxes(tab, selector):
            assert cell[0] <= left and right <= cell[2] + 0.5, selector
    assert len({round(box[0]) for box in boxes(tab, ".overview .glance")}) == 1  # stacked
    assert tab.evaluate("document.getElementById('cell').scrollWidth") <= 360
    assert tab.evaluate("getComputedStyle(document.querySelector('.cnn-backprop > .output')).position") == "sticky"
    assert errors == []


def test_a_click_or_enter_on_a_layer_opens_its_numbers_beside_the_explanation(browser, tmp_path):
    given = starting_given(NETWORKS["digits"]())
    tab = open_page(browser, tmp_path, given)
    tab.click('.glance[data-layer="conv2"] button.open')
    column = '.column[data-layer="conv2"]'
    assert tab.evaluate("document.activeElement.dataset.layer") == "conv2"
    assert tab.locator(f"{column}.open #arithmetic").count() == 1 and tab.locator(".column.open").count() == 1
    top = boxes(tab, column)[0][1]
    assert 0 <= top < 50  # brought to the top of the window
    # The keyboard: Tab to a layer's heading, Enter.
    tab.evaluate("scrollTo(0, 0)")
    tab.focus('.glance[data-layer="pool1"] button.open')
    tab.keyboard.press("Enter")
    assert tab.locator('.column[data-layer="pool1"].open #arithmetic').count() == 1
    assert tab.evaluate("document.activeElement.dataset.layer") == "pool1"
    # A click on a map's entry: that entry among the numbers, focused and explained.
    tab.evaluate("scrollTo(0, 0)")
    f, i, j = 5, 2, 3
    x, y = tab.evaluate(
        f"""() => window.cnnBackprop.explorer.overview.banks.find((b) => b.quantity === "conv2_pre")
            .pointOf({(f * 4 + i) * 4 + j})"""
    )
    tab.mouse.click(x, y)
    assert tab.evaluate("[document.activeElement.dataset.quantity, document.activeElement.dataset.index]") == [
        "conv2_pre",
        f"{f},{i},{j}",
    ]
    assert tab.inner_text("#lines").startswith(f"conv2_pre[{f},{i},{j}]")
    assert tab.locator('[data-array="conv2_pre"] caption').inner_text().startswith(f"[{f}]")
    value = float(tab.get_attribute(f'td[data-quantity="conv2_pre"][data-index="{f},{i},{j}"]', "data-value"))
    assert value == pytest.approx(python_result(given)["forward"]["conv2_pre"][f][i][j], abs=1e-12)
    assert tab.errors == []


def test_a_stroke_on_the_overviews_image_moves_the_bars_on_the_same_screen(browser, tmp_path):
    given = starting_given(NETWORKS["four"]())
    tab = open_page(browser, tmp_path, given)
    column = next(j for j in range(8) if given["image"][1][j] < 0.5)
    image = "window.cnnBackprop.explorer.overview.banks[0]"
    top, bottom = (tab.evaluate(f"{image}.pointOf({i * 8 + column})") for i in (1, 6))
    tab.mouse.move(*top)
    tab.mouse.down()
    tab.mouse.move(*bottom, steps=12)
    tab.mouse.up()
    tab.wait_for_timeout(50)
    drawn = tab.evaluate("window.cnnBackprop.explorer.given")
    assert [row[column] for row in drawn["image"][1:7]] == [1] * 6
    assert tab.evaluate("[scrollX, scrollY]") == [0, 0]  # drawn, and nothing opened: the same screen
    result = python_result(drawn)
    assert test_page.shown(tab, "loss", "") == pytest.approx(result["forward"]["loss"], abs=1e-12)
    probabilities = tab.eval_on_selector_all("[data-quantity='probability']", test_page.DATA)
    assert [v for _, _, v in probabilities] == pytest.approx(result["forward"]["output"], abs=1e-12)
    assert inside(boxes(tab, "#probabilities")[0], 1280, 800) and tab.errors == []


def test_a_kernel_gradient_lights_both_its_factors_with_their_values(browser, tmp_path):
    """dL/dconv_kernel[f, c, m, n] = sum over i, j of dL/dconv_pre[f, i, j] * X[c, i+m-1, j+n-1] (padding 1): in the
    backward view its dL/dconv_pre cells are lit among the numbers and its X entries on the overview's image."""
    given = starting_given(NETWORKS["four"]())
    result = python_result(given)
    grad, image = np.asarray(result["backward"]["conv_pre"]), np.asarray(given["image"])
    tab = open_page(browser, tmp_path, given)
    tab.check("#gradients")
    for f, m, n in [(2, 0, 1), (0, 1, 1), (3, 2, 2)]:
        tab.hover(f'td[data-quantity="backward.conv_kernel"][data-index="{f},0,{m},{n}"]')
        assert tab.inner_text("#lines").startswith(f"dL/dconv_kernel[{f},0,{m},{n}]")
        lit = tab.eval_on_selector_all(".flow .source", test_page.DATA)
        assert {index for _, index, _ in lit} == {f"{f},{i},{j}" for i in range(8) for j in range(8)}
        for quantity, index, value in lit:
            assert quantity == "backward.conv_pre" and value == pytest.approx(grad[tuple(map(int, index.split(",")))],
                                                                               abs=1e-12)  # fmt: skip
        pixels = tab.get_attribute('.overview canvas[data-bank="image"]', "data-lit").split()
        expected = {f"{r},{s}" for r in range(m - 1, m + 7) for s in range(n - 1, n + 7) if 0 <= r < 8 and 0 <= s < 8}
        assert {p.split(",", 1)[1] for p in pixels} == expected and all(p.startswith("0,") for p in pixels)
        # The lit factors, paired as the windows pair them, sum to the number explained.
        entries = [tuple(map(int, p.split(",")[1:])) for p in pixels]
        total = sum(grad[f, r - m + 1, s - n + 1] * image[r, s] for r, s in entries)
        shown = float(tab.get_attribute(f'td[data-quantity="backward.conv_kernel"][data-index="{f},0,{m},{n}"]',
                                        "data-value"))  # fmt: skip
        assert shown == pytest.approx(total, abs=1e-12)
        assert shown == pytest.approx(result["backward"]["conv_kernel"][f][0][m][n], abs=1e-12)
    assert tab.errors == []


def test_a_forward_quiz_blanks_the_overviews_maps_it_asks(browser, tmp_path):
    tab = open_page(browser, tmp_path, starting_given(NETWORKS["four"]()))
    tab.select_option("#quiz", "forward")
    painted = tab.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.overview canvas[data-bank]')].map((c) =>
            [c.dataset.bank, c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v)]))"""
    )
    assert painted == {"image": True, "conv_kernel": True, "conv_pre": False, "conv_relu": False, "pool": False,
                       "fc_weights": True, "fc_pre": False}  # fmt: skip
    tab.select_option("#quiz", "")
    assert tab.evaluate("[...document.querySelectorAll('.overview canvas')].every((c) => c.width > 0)")
    assert tab.errors == []


def test_the_pass_plays_forward_then_backward_along_the_overview(browser, tmp_path):
    given = starting_given(NETWORKS["seed"]())
    result = python_result(given)
    largest = lambda values: np.ravel(values)[np.argmax(np.abs(np.ravel(values)))]  # noqa: E731
    tab = open_page(browser, tmp_path, given)
    said, labels, now = [], [], []
    for _ in range(12):  # the image, four layers and the loss; the loss and back to the image
        tab.click("#pass-step")
        said.append(tab.inner_text("#pass-said"))
        labels.append(tab.get_attribute('[data-bank="conv_pre"]', "aria-label"))
        now.append(tab.eval_on_selector_all(".glance.now", "(ns) => ns.map((n) => n.dataset.layer).join()"))
    layers = ["image", "conv", "conv_relu", "pool", "fc"]
    assert now == [*layers, "", "", *layers[::-1]]
    assert said[0] == "forward: the image X, given" and labels[0] == "conv_pre: not computed yet"
    assert said[1].startswith("forward: conv_pre[")
    assert said[1].endswith(f"= {largest(result['forward']['conv_pre']):.4f}")
    assert labels[1] == "conv_pre: 1x3x3 as heat maps"
    assert said[5] == f"forward: loss L = -log P(y) = {result['forward']['loss']:.6f}"
    assert said[10].startswith("backward: dL/dconv_pre[") and labels[10] == "dL/dconv_pre: 1x3x3 as heat maps"
    assert said[11].startswith("backward: dL/dimage[")
    assert said[11].endswith(f"= {largest(result['backward']['image']):.4f}")
    assert tab.inner_text("#lines").startswith("dL/dimage[")  # the whole arithmetic, in the explanation
    tab.click("#pass-step")  # past the end: the forward values again
    assert tab.inner_text("#pass-said") == "" and tab.locator(".glance.now").count() == 0
    assert tab.get_attribute('[data-bank="conv_pre"]', "aria-label") == "conv_pre: 1x3x3 as heat maps"
    tab.click("#pass-play")
    tab.wait_for_function("document.getElementById('pass-said').textContent.startsWith('forward: conv_pre')")
    tab.click("#pass-play")  # Pause
    assert tab.inner_text("#pass-play") == "Play the pass"
    shown = tab.inner_text("#pass-said")
    tab.wait_for_timeout(1200)
    assert tab.inner_text("#pass-said") == shown  # paused
    tab.select_option("#quiz", "forward")  # a quiz stops it and keeps it still
    assert tab.locator("#pass-play").is_disabled() and tab.inner_text("#pass-said") == ""
    duration = "getComputedStyle(document.querySelector('.glance')).transitionDuration"
    assert tab.evaluate(duration) != "0s"
    tab.emulate_media(reduced_motion="reduce")
    assert tab.evaluate(duration) == "0s" and tab.errors == []


def skip_arrows(tab):
    """Each shortcut arrow: [from, to, its path's box, lit]."""
    return tab.eval_on_selector_all(
        ".overview .skip", f"(ns) => ns.map((n) => [n.dataset.from, n.dataset.to, ({BOX})(n.querySelector('path')), "
        "n.classList.contains('now')])"
    )  # fmt: skip


@pytest.mark.parametrize("spec, source, ends", [(RESIDUAL, "digits", ("conv1_relu", "res")),
                                                (PROJECTED, "shapes", ("conv1_relu", "res"))])  # fmt: skip
@pytest.mark.parametrize("width", [1280, 400])
def test_a_residual_blocks_shortcut_is_an_arrow_from_its_input_column_to_its_add(browser, tmp_path, spec, source,
                                                                                   ends, width):  # fmt: skip
    """Side by side the arrow runs over the columns from the middle of the block input's to the add's; stacked, down
    their left side from the one to the other; nothing else is an arrow, and the page is no wider than the window."""
    given = starting_given(walkthrough.complete_given({"net": spec}, 0, source=source))
    tab = open_page(browser, tmp_path, given, width=width)
    [(start, end, (left, top, right, bottom), lit)] = skip_arrows(tab)
    assert (start, end, lit) == (*ends, False)
    a, b = (boxes(tab, f'.glance[data-layer="{name}"]')[0] for name in ends)
    if width == 1280:  # above the columns, down into them (its head 4 px to either side)
        assert abs(left - (a[0] + a[2]) / 2) < 1 and abs(right - 4 - (b[0] + b[2]) / 2) < 1
        assert bottom == pytest.approx(a[1], abs=1) and top < a[1] - 8
    else:  # beside the columns, into them
        assert abs(top - (a[1] + a[3]) / 2) < 1 and abs(bottom - 4 - (b[1] + b[3]) / 2) < 1
        assert right == pytest.approx(a[0], abs=1) and left < a[0] - 8
    assert tab.evaluate("document.documentElement.scrollWidth") <= width
    if spec == PROJECTED and width == 1280:
        assert tab.text_content(".overview .skip text") == "shortcut: res_shortcut"
    assert tab.errors == []


def test_the_backward_pass_carries_both_gradients_to_the_block_input_and_adds_them(browser, tmp_path):
    """Stepping backward, the shortcut is lit from the add's column to the block input's, and at the block input
    the step says the two gradients meet and writes their sum with the values of the Python pass's parts."""
    given = starting_given(NETWORKS["residual"]())
    result = python_result(given)
    tab = open_page(browser, tmp_path, given)
    columns = tab.eval_on_selector_all(".overview .glance", "(ns) => ns.map((n) => n.dataset.layer)")
    steps = [*columns, "loss", "loss", *columns[::-1]]
    lit = {}
    for layer in steps:
        tab.click("#pass-step")
        lit[layer] = skip_arrows(tab)[0][3]  # the last time each column is current: backward
        said = tab.inner_text("#pass-said")
        if layer == "conv1_relu" and said.startswith("backward"):  # the block's input
            break
    inside = columns[columns.index("conv1_relu") : columns.index("res") + 1]
    assert [layer for layer, on in lit.items() if on] == inside
    grad = np.asarray(result["backward"]["conv1_relu"])
    at = np.unravel_index(np.argmax(np.abs(grad)), grad.shape)
    parts = [np.asarray(result["parts"]["conv1_relu"][layer])[at] for layer in ("res", "conv2")]
    head = f"backward, two gradients add: dL/dconv1_relu[{','.join(map(str, at))}] = "
    assert said.startswith(head), said
    paths, added, total = said.removeprefix(head).split(" = ")
    assert paths == "(via res) + (via conv2)"
    assert [float(v.strip("()")) for v in added.split(" + ")] == pytest.approx(parts, abs=5e-5)
    assert float(total) == pytest.approx(grad[at], abs=5e-5) and sum(parts) == pytest.approx(grad[at], abs=1e-12)
    tab.click("#pass-step")
    assert not skip_arrows(tab)[0][3] and tab.errors == []
