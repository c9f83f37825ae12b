"""The explorer in a real browser: its engine against the Python engine, and what a person does on the page."""

import json
import shutil

import numpy as np
import pytest
from conftest import SMALL_DIGITS_SPEC, seed_family

from cnn_backprop import walkthrough
from cnn_backprop.cli import main
from cnn_backprop.page import page, starting_given, training_set

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it where it can)"
)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def open_page(browser, tmp_path, given, width=1280, height=800, training=None):
    path = tmp_path / "explore.html"
    path.write_text(page(given, training))
    tab = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(path.as_uri())
    tab.wait_for_selector("#loss")
    tab.errors = errors
    return tab


def shown(tab, quantity, index):
    return float(tab.get_attribute(f'[data-quantity="{quantity}"][data-index="{index}"]', "data-value"))


def plain(given):
    """A given as JSON would carry it: lists and numbers."""
    return json.loads(walkthrough.to_json({"given": given}))["given"]


def python_result(given):
    return json.loads(walkthrough.to_json(walkthrough.run(walkthrough.complete_given(given))))


def assert_same(ours, theirs, where=""):
    if isinstance(theirs, dict):
        assert set(ours) == set(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
    else:
        np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float), rtol=0,
                                   atol=1e-12, err_msg=where)  # fmt: skip


NETWORKS = [
    None,
    str(seed_family(pool_stride=2)),
    str(seed_family(padding=1, filters=2)),
    str(seed_family(stride=2, padding=1, pool=1)),
    SMALL_DIGITS_SPEC,
    "conv 3x2x2 pad 1, relu, avgpool 2 stride 1, conv 2x2x2, relu, avgpool 2, dense 4, softmax",
    "conv 2x2x2 stride 2, relu, dense 5, relu, dense 3, relu, dense 1, sigmoid",
    "avgpool 2, dense 3, softmax",
]


def test_the_pages_engine_computes_in_the_givens_mode(browser, tmp_path):
    net = "conv 2x3x3, batchnorm, relu, conv 2x2x2, batchnorm, dense 3, softmax"
    rng = np.random.default_rng(0)
    givens = []
    for seed in range(5):
        stats = {f"bn{i}_running_{key}": rng.uniform(0.5, 2, 2).tolist() for i in (1, 2) for key in ("mean", "var")}
        for mode in ("train", "eval"):
            given = walkthrough.complete_given({"net": net, "mode": mode, **stats}, seed)
            givens.append(json.loads(walkthrough.to_json({"g": given}))["g"])
    tab = open_page(browser, tmp_path, givens[1])
    assert tab.inner_text(".spec") == f"network: {net}, in evaluation mode (model.eval())"
    results = tab.evaluate("(givens) => givens.map((g) => window.cnnBackprop.run(g))", givens)
    for given, ours in zip(givens, results):
        theirs = python_result(given)
        for part in ("forward", "backward"):
            assert_same(ours[part], theirs[part], f"{given.get('mode')}: {part}")
    assert results[0]["forward"]["loss"] != results[1]["forward"]["loss"]
    assert tab.errors == []


def test_the_pages_engine_is_the_python_engine_on_240_instances(browser, tmp_path):
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0))
    givens = []
    for seed in range(30):
        for net in NETWORKS:
            extra = {"net": net} if net else {}
            source = "digits" if net == SMALL_DIGITS_SPEC else "shapes"
            givens.append(
                json.loads(walkthrough.to_json({"g": walkthrough.complete_given(extra, seed, source=source)}))["g"]
            )
    results = tab.evaluate("(givens) => givens.map((g) => window.cnnBackprop.run(g))", givens)
    assert len(results) == 240
    for given, ours in zip(givens, results):
        theirs = python_result(given)
        for part in ("shapes", "forward", "backward", "torch"):
            assert list(ours[part]) == list(theirs[part]) or part == "torch"
            assert_same(ours[part], theirs[part], part)
    assert tab.errors == []


FOUR_FILTER_SPEC = "conv 4x3x3 pad 1, relu, maxpool 2, dense 10, softmax"
# The three networks a student meets: the seed's, a small one on digits, and the digits network we train.
PAGES = {
    "seed": lambda: walkthrough.complete_given(seed=1),
    "four": lambda: walkthrough.complete_given({"net": FOUR_FILTER_SPEC}, 0, source="digits"),
    "digits": lambda: walkthrough.complete_given({"net": walkthrough.architecture.DIGITS_SPEC}, 0, source="digits"),
}


def expected_value(result, given, quantity, index):
    """What a number on the page must be: the Python pass's, found by its data-quantity and data-index."""
    at = tuple(int(i) for i in index.split(",")) if index else ()
    if quantity == "loss":
        return result["forward"]["loss"]
    if quantity == "probability":
        p = np.ravel(result["forward"]["output"])
        return np.concatenate([1 - p, p])[at] if p.size == 1 else p[at]
    if quantity.startswith("backward."):
        return np.asarray(result["backward"][quantity.removeprefix("backward.")], dtype=float)[at]
    found = result["forward"].get(quantity, given.get(quantity))
    return np.asarray(found, dtype=float)[at]


DATA = "(ns) => ns.map((n) => [n.dataset.quantity, n.dataset.index, Number(n.dataset.value)])"
SHOWN = "[data-value]:not([data-value=''])"  # a number on the page (a hidden one keeps no value)


def every_number_shown(tab):
    """[(data-quantity, data-index, data-value)] of every number the flow shows."""
    return tab.eval_on_selector_all(f".flow [data-quantity]{SHOWN}", DATA)


def assert_page_is(tab, given, backward=False):
    result = python_result(given)
    shown = every_number_shown(tab)
    assert len(shown) > 10
    assert any(q.startswith("backward.") for q, _, _ in shown) == backward
    for quantity, index, value in shown:
        assert value == pytest.approx(expected_value(result, given, quantity, index), abs=1e-12), (quantity, index)


@pytest.mark.parametrize("name", PAGES)
def test_edit_a_weight_a_pixel_and_the_label_and_every_number_shown_is_pythons(browser, tmp_path, name):
    given = starting_given(PAGES[name]())  # the numbers the page starts from
    tab = open_page(browser, tmp_path, given)
    assert_page_is(tab, given)
    # Type a kernel value: the first kernel field shown, named by its --json index.
    field = tab.locator('[data-array$="_kernel"] input').first
    label = field.get_attribute("aria-label")
    key, index = label[:-1].split("[")
    field.fill("-0.75")
    field.press("Enter")
    kernel = np.asarray(given[key])
    kernel[tuple(int(i) for i in index.split(","))] = -0.75
    given[key] = kernel.tolist()
    # Click a pixel: it turns on (1) or off (0).
    pixel = 'td[data-quantity="image"][data-index="2,2"]'
    given["image"][2][2] = 0.0 if float(tab.get_attribute(pixel, "data-value")) > 0.5 else 1.0
    tab.click(pixel)
    # Change the label.
    tab.click("#flip")
    given["label"] = (given["label"] + 1) % max(2, np.size(python_result(given)["forward"]["output"]))
    assert_page_is(tab, given)
    tab.check("#gradients")  # the backward pass, every gradient shown
    assert_page_is(tab, given, backward=True)
    text = tab.inner_text("body")
    assert not {"undefined", "null", "NaN"} & set(text.split()) and tab.errors == []


def test_a_refused_entry_says_why_once_and_moves_nothing(browser, tmp_path):
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=2))
    before = shown(tab, "loss", "")
    field = tab.get_by_label("conv_kernel[0,0]")
    box = tab.locator('td[data-quantity="conv_kernel"][data-index="1,1"]').bounding_box()
    for bad, says in [("abc", "type a finite number"), ("NaN", "type a finite number"), ("1e999", "too large"),
                      ("", "empty"), ("0x10", "not a number"), ("1,5", "use a decimal point (1.5)")]:  # fmt: skip
        field.fill(bad)
        field.press("Enter")
        message = tab.inner_text("#message")
        assert message.startswith("conv_kernel[0,0]: ") and says in message and "\n" not in message, bad
        assert field.get_attribute("aria-invalid") == "true"
        assert shown(tab, "loss", "") == before
        assert tab.locator('td[data-quantity="conv_kernel"][data-index="1,1"]').bounding_box() == box
    field.fill("0.5")
    field.press("Enter")
    assert tab.inner_text("#message") == "" and field.get_attribute("aria-invalid") is None
    weight = tab.get_by_label("fc_weights[0]")  # times a pooled value near 3: past the largest float
    weight.fill("1e308")
    weight.press("Enter")
    assert "makes the loss NaN" in tab.inner_text("#message") and shown(tab, "fc_weights", "0") != 1e308
    values = tab.eval_on_selector_all("[data-value]", "(cells) => cells.map((c) => c.dataset.value)")
    assert not any(value in ("NaN", "Infinity", "-Infinity") for value in values)


def test_hover_and_keyboard_show_where_a_number_comes_from(browser, tmp_path):
    given = walkthrough.complete_given(seed=0)
    tab = open_page(browser, tmp_path, given)
    tab.hover('td[data-quantity="conv_pre"][data-index="0,0"]')
    text = tab.inner_text("#lines")
    assert text.startswith("conv_pre[0,0]") and text.rstrip().endswith("= 1.8255")
    assert tab.locator(".source").count() == 18  # the 3x3 window of the image and the 3x3 kernel
    assert tab.locator("svg.lines line").count() == 2  # a line to each: the image's window and the kernel
    tab.check("#gradients")
    cell = tab.locator('td[data-quantity="backward.conv_kernel"][data-index="1,1"]')
    cell.focus()  # the keyboard reaches every number
    # Each term's factor that the backward view shows is lit, the 9 gradients of conv_pre; no cell of dL/dimage
    # stands in for the pixels this weight met (the backward view does not show them).
    assert tab.inner_text("#lines").startswith("dL/dconv_kernel[1,1]") and tab.locator(".source").count() == 9
    assert tab.locator('.source[data-quantity="backward.conv_pre"]').count() == 9
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.dataset.quantity") == "backward.conv_kernel"


@pytest.mark.parametrize("name", PAGES)
def test_at_phone_width_only_a_layer_strip_scrolls_sideways(browser, tmp_path, name):
    tab = open_page(browser, tmp_path, starting_given(PAGES[name]()), width=400, height=800)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    sheet = tab.locator("#arithmetic").bounding_box()  # the explanation: a sheet at the bottom of the screen
    assert sheet["y"] + sheet["height"] == pytest.approx(800, abs=1) and sheet["height"] <= 0.4 * 800


def test_the_pages_stay_small_and_few_elements(browser, tmp_path):
    digits = walkthrough.complete_given({"net": walkthrough.architecture.DIGITS_SPEC}, 0, source="digits")
    assert len(page(digits, training_set("digits")).encode()) < 300_000
    assert len(page(walkthrough.complete_given(seed=0), training_set()).encode()) < 300_000
    tab = open_page(browser, tmp_path, digits, training=training_set("digits"))
    assert tab.evaluate("document.getElementsByTagName('*').length") <= 5000


def test_a_thumbnail_opens_its_numbers_with_their_json_index(browser, tmp_path):
    given = starting_given(PAGES["digits"]())
    tab = open_page(browser, tmp_path, given)
    bank = tab.locator('[data-array="conv2_kernel"] canvas.bank')
    bank.click(position={"x": 3 * 8 + 1, "y": 5 * 8 + 1})  # thumbnails of 3x3 at 2 px, 2 px apart: [f=5, c=3]
    assert tab.locator('[data-array="conv2_kernel"] caption').inner_text().startswith("[5,3]")
    field = tab.get_by_label("conv2_kernel[5,3,2,1]")
    assert float(field.input_value()) == pytest.approx(given["conv2_kernel"][5][3][2][1], abs=1e-6)
    assert_page_is(tab, given)


def test_train_runs_in_slices_and_stops_at_once(browser, tmp_path):
    given = starting_given(PAGES["digits"]())
    tab = open_page(browser, tmp_path, given, training=training_set("digits"))
    tab.click("#train")
    tab.wait_for_function("document.querySelector('svg.curve polyline')?.getAttribute('points').split(' ').length > 3")
    tab.click("#train")  # stop: the page answers between slices
    assert tab.inner_text("#train") == "Train"
    text = tab.inner_text("#curve")
    assert "training loss" in text and "images seen" in text
    trained = tab.evaluate("window.cnnBackprop.explorer.given")
    assert trained["conv1_kernel"] != given["conv1_kernel"]
    tab.wait_for_timeout(100)
    assert_page_is(tab, trained)
    assert tab.errors == []


def test_one_sgd_step_shows_every_entry_to_full_precision(browser, tmp_path):
    given = starting_given(walkthrough.complete_given(seed=1))
    tab = open_page(browser, tmp_path, given)
    tab.fill("#lr", "0.5")
    tab.press("#lr", "Enter")
    tab.click("#step")
    expected = python_result(given)
    stepped = dict(given)
    for key in ("conv_kernel", "conv_bias", "fc_weights", "fc_bias"):
        stepped[key] = (np.asarray(given[key]) - 0.5 * np.asarray(expected["backward"][key])).tolist()
    after = python_result(stepped)
    assert shown(tab, "loss", "") == pytest.approx(after["forward"]["loss"], abs=1e-12)
    assert "entries 1-15 of 15" in tab.inner_text("#step-report")  # 9 + 1 + 4 + 1, on one page
    seen = {}
    for quantity, index, value in tab.eval_on_selector_all("[data-quantity^='step.']", DATA):
        seen[(quantity, index)] = value
    assert len(seen) == 15
    for (quantity, index), value in seen.items():
        key = quantity.removeprefix("step.")
        at = tuple(int(i) for i in index.split(",")) if index else ()
        assert value == pytest.approx(np.asarray(stepped[key], dtype=float)[at], abs=1e-12)
    assert_page_is(tab, stepped)


def test_explore_command_writes_a_page(capsys, tmp_path):
    out = tmp_path / "x.html"
    assert main(["explore", "--no-open", "--seed", "3", "--out", str(out)]) == 0
    text = out.read_text()
    # Nothing to fetch: the modules are data: URLs (the SVG namespace is a name, not an address).
    assert "<script" in text and "http" not in text.replace("http://www.w3.org/2000/svg", "")
    assert main(["explore", "--no-open", "--out", str(tmp_path / "x.txt")]) == 2


def test_the_notebooks_mistakes_show_how_far_the_gradient_lands(browser, tmp_path):
    from cnn_backprop.kinds import conv, relu

    given = starting_given(walkthrough.complete_given(seed=0))  # all four windows pick the centre
    tab = open_page(browser, tmp_path, given)
    tab.check("#bug-maxpool")
    result = python_result(given)
    argmax = np.asarray(result["forward"]["pool_argmax"]).reshape(2, 2, 2)
    overwritten = np.zeros((3, 3))
    for (i, j), g in np.ndenumerate(np.asarray(result["backward"]["pool"])):
        overwritten[tuple(argmax[i, j])] = g  # the notebook's dP[i, j] = dw: the last window wins
    grad_pre = relu.relu_backward(overwritten, np.asarray(result["forward"]["conv_pre"]))
    image, kernel = np.asarray(given["image"])[None], np.asarray(given["conv_kernel"])[None, None]
    expected = conv.conv_backward(grad_pre[None], image, kernel)[0][0, 0].ravel()
    for i, value in enumerate(expected):
        assert float(tab.get_attribute(f'[data-quantity="bugged.conv_kernel"][data-index="{i}"]', "data-value")) == (
            pytest.approx(value, abs=1e-12)
        )
    assert np.abs(expected - np.ravel(result["backward"]["conv_kernel"])).max() > 1e-5  # the bug shows
    tab.check("#bug-stride")
    assert "1 FC input, but the notebook's FC layer has 4 weights" in tab.inner_text("#stride-note")


def test_explore_starts_from_a_trained_model(capsys, tmp_path):
    from cnn_backprop import files

    assert main(["train", "--train-size", "200", "--epochs", "1", "--quiet", "--out", str(tmp_path / "m.npz")]) == 0
    assert main(["explore", "--no-open", "--model", str(tmp_path / "m.npz"), "--out", str(tmp_path / "x.html")]) == 0
    start = json.loads(
        (tmp_path / "x.html").read_text().split('<script type="application/json" id="start">')[1].split("</script>")[0]
    )
    model = files.load_model(tmp_path / "m.npz")
    np.testing.assert_allclose(start["given"]["fc_weights"], model.params["fc_weights"][0], atol=1e-5)


def test_draw_a_digit_on_a_trained_model_and_watch_its_prediction(browser, tmp_path, capsys):
    net = "conv 4x3x3 pad 1, relu, maxpool 2, dense 10, softmax"
    model, out = str(tmp_path / "d.npz"), tmp_path / "d.html"
    assert main(["train", "--data", "digits", "--net", net, "--epochs", "3", "--quiet", "--out", model]) == 0
    assert main(["explore", "--no-open", "--model", model, "--out", str(out)]) == 0
    tab = browser.new_page(viewport={"width": 1280, "height": 800})
    tab.goto(out.as_uri())
    tab.wait_for_selector("#loss")
    given = tab.evaluate("window.cnnBackprop.explorer.given")
    before = [
        float(v)
        for v in tab.eval_on_selector_all("[data-quantity='probability']", "(ns) => ns.map((n) => n.dataset.value)")
    ]
    # A stroke down a column, with the mouse, from a blank pixel (a press on ink would erase): the bars follow it.
    column = next(j for j in range(8) if given["image"][1][j] < 0.5)
    tab.locator('[data-array="image"]').scroll_into_view_if_needed()  # the numbers, below the overview
    top, bottom = (tab.locator(f'td[data-quantity="image"][data-index="{i},{column}"]').bounding_box() for i in (1, 6))
    tab.mouse.move(top["x"] + 5, top["y"] + 5)
    tab.mouse.down()
    tab.mouse.move(bottom["x"] + 5, bottom["y"] + 5, steps=12)
    tab.mouse.up()
    tab.wait_for_timeout(50)
    drawn = tab.evaluate("window.cnnBackprop.explorer.given")
    assert [row[column] for row in drawn["image"][1:7]] == [1] * 6
    after = [
        float(v)
        for v in tab.eval_on_selector_all("[data-quantity='probability']", "(ns) => ns.map((n) => n.dataset.value)")
    ]
    assert len(after) == 10 and after != before and sum(after) == pytest.approx(1)
    assert_page_is(tab, drawn)
    tab.check("#gradients")  # which pixels push toward the true class: dL/dX on the image
    assert_page_is(tab, drawn, backward=True)


def test_the_quiz_marks_as_check_does_on_checks_own_cases(browser, tmp_path):
    from test_check import DECIMALS, SEED_MISTAKES, instances, key_answers, mistaken

    from cnn_backprop import check

    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0))
    cases, expected = [], []
    for given in instances(6):
        for mistake in [None, *SEED_MISTAKES]:
            answers = key_answers(given)
            for where, value in (mistaken(given, mistake) if mistake else {}).items():
                answers[where] = np.round(np.asarray(value, dtype=float), DECIMALS)
            answers[("forward", "pool")] = answers[("forward", "pool")].copy()
            answers[("forward", "pool")].flat[0] = np.nan  # a blank, too
            js = {f"{part}.{name}": np.where(np.isnan(v), None, v).tolist() for (part, name), v in answers.items()}
            cases.append([plain(given), js])
            expected.append(check.mark(given, answers, DECIMALS))
    results = tab.evaluate("(cases) => cases.map(([g, a]) => window.cnnBackprop.mark(g, a, 4))", cases)
    assert len(results) == len(expected) == 6 * 13
    verdicts = set()
    for ours, theirs in zip(results, expected):
        assert_marked_alike(ours, theirs)
        verdicts |= {(e.verdict, e.mistake) for e in theirs.entries}
    assert {v for v, _ in verdicts} == {"right", "wrong", "blank"} and len({m for _, m in verdicts}) > 8


def assert_marked_alike(ours, theirs):
    """The page's marking (``ours``, from quiz.js) is check's ``Marking`` (``theirs``): each entry's verdict,
    mistake and whether it earns, and each quantity's points."""
    mine = sorted((e["quantity"], e["index"], e["verdict"], e["mistake"], e["void"]) for e in ours["entries"])
    assert mine == sorted((e.quantity, list(e.index), e.verdict, e.mistake, e.void) for e in theirs.entries)
    assert ours["points"] == {q: pytest.approx(list(p), abs=1e-9) for q, p in theirs.points.items()}


def test_the_quiz_marks_answer_files_without_work_as_check_does(browser, tmp_path):
    """The strategy matrix's files (zeros, ones, a constant, numbers copied from the sheet, another sheet's) and
    the key: the page earns what check earns, entry by entry, on three networks."""
    from test_check import DECIMALS, MATRIX, matrix_sheet

    from cnn_backprop import check

    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0))
    rng = np.random.default_rng(1)
    cases, expected = [], []
    for network in MATRIX:
        given, other = matrix_sheet(network, 5, True), check.Key(matrix_sheet(network, 6, True))
        key = check.Key(given)
        numbers = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for k, v in given.items()
                                  if k not in ("net", "classes", "label")])  # fmt: skip
        copied = lambda e, numbers=numbers: rng.choice(numbers, e.shape)  # noqa: E731
        for rule in (np.zeros_like, np.ones_like, lambda e: np.full(e.shape, 0.37), copied,
                     lambda e: np.round(e, DECIMALS)):  # fmt: skip
            answers = {where: np.asarray(rule(key.expected(*where)), dtype=float) for where in key.quantities()}
            cases.append([plain(given), {f"{p}.{n}": v.tolist() for (p, n), v in answers.items()}])
            expected.append(check.mark(given, answers, DECIMALS))
        answers = {where: np.round(other.expected(*where), DECIMALS) for where in key.quantities()}
        cases.append([plain(given), {f"{p}.{n}": v.tolist() for (p, n), v in answers.items()}])
        expected.append(check.mark(given, answers, DECIMALS))
    results = tab.evaluate("(cases) => cases.map(([g, a]) => window.cnnBackprop.mark(g, a, 4))", cases)
    for ours, theirs in zip(results, expected, strict=True):
        assert_marked_alike(ours, theirs)
        assert ours["score"] == pytest.approx(theirs.score, abs=1e-9) and ours["total"] == theirs.total
    assert {round(m.score / m.total, 3) for m in expected[4::6]} == {1.0} and not tab.errors


def test_a_quiz_cell_turns_right_carried_or_wrong_with_the_mistake_beside_it(browser, tmp_path):
    given = starting_given(walkthrough.complete_given(seed=1))
    tab = open_page(browser, tmp_path, given)
    tab.select_option("#quiz", "backward")
    given["label"] = tab.evaluate("window.cnnBackprop.explorer.given.label")  # the quiz may choose another
    dz = python_result(given)["backward"]["fc_pre"]
    field = tab.get_by_label("backward.fc_pre[]")
    field.fill(f"{-dz:.4f}")  # the sign flipped
    field.press("Enter")
    cell = tab.locator('td:has(input[aria-label="backward.fc_pre[]"])')
    assert cell.get_attribute("data-verdict") == ""  # marked only when asked
    tab.click("#quiz-mark")
    assert cell.get_attribute("data-verdict") == "wrong"
    assert "sign" in tab.inner_text("#quiz-mistakes")
    field = tab.get_by_label("backward.fc_pre[]")
    field.fill(f"{dz:.4f}")
    field.press("Enter")
    tab.click("#quiz-mark")
    assert tab.locator('td:has(input[aria-label="backward.fc_pre[]"])').get_attribute("data-verdict") == "right"
    score = tab.inner_text("#quiz-score")
    assert score.startswith("1 right, 0 carried, 0 wrong or earning nothing of 38; 37 left; 1 of ")
    assert tab.errors == []


def test_a_residual_blocks_quiz_names_the_shortcuts_gradient_dropped(browser, tmp_path):
    """On a page with a block, each question opens and marks; answered backward with the block input's gradient
    the block's path alone (the rest right), that quantity is wrong with the mistake named, every other right."""
    from conftest import PROJECTED

    tab = open_page(browser, tmp_path, starting_given(walkthrough.complete_given({"net": PROJECTED}, 0)))
    for part in ("shapes", "forward"):
        tab.select_option("#quiz", part)
        tab.click("#quiz-mark")
    tab.select_option("#quiz", "backward")
    given = tab.evaluate("window.cnnBackprop.explorer.given")  # the quiz may choose another label
    result = python_result(given)
    answers = {f"backward.{name}": np.asarray(value, dtype=float) for name, value in result["backward"].items()}
    answers["backward.conv1_relu"] = answers["backward.conv1_relu"] - np.asarray(
        result["parts"]["conv1_relu"]["res_shortcut"]
    )
    typed = [[q, ",".join(map(str, at)), f"{a[at]:.4f}"] for q, a in answers.items() for at in np.ndindex(a.shape)]
    tab.evaluate("""(typed) => typed.forEach(([quantity, index, text]) => {
        const field = document.querySelector(`#quiz-panel input[aria-label="${quantity}[${index}]"]`);
        if (!field) return;
        field.value = text;
        field.dispatchEvent(new Event('change'));
    })""", typed)  # fmt: skip
    tab.click("#quiz-mark")
    verdicts = tab.eval_on_selector_all(
        "#quiz-panel td[data-verdict]",
        "(ns) => ns.map((n) => [n.firstChild.getAttribute('aria-label'), n.dataset.verdict])",
    )
    wrong = {label.split("[")[0] for label, verdict in verdicts if verdict != "right"}
    assert wrong == {"backward.conv1_relu"} and len(verdicts) > 100
    assert tab.locator('#quiz-mistakes [data-mistake="shortcut-gradient-dropped"]').count() == 1
    assert tab.errors == []


def test_a_quiz_locks_the_network_keeps_no_key_and_gives_the_label_back(browser, tmp_path):
    given = starting_given(walkthrough.complete_given(seed=1))
    tab = open_page(browser, tmp_path, given)
    label = tab.evaluate("window.cnnBackprop.explorer.given.label")
    tab.select_option("#quiz", "forward")
    kernel = tab.get_by_label("conv_kernel[0,0]")
    before = tab.evaluate("JSON.stringify(window.cnnBackprop.explorer.given.conv_kernel)")
    kernel.focus()
    tab.keyboard.type("5")  # as a person types: the field reads only
    kernel.press("Enter")
    assert tab.evaluate("JSON.stringify(window.cnnBackprop.explorer.given.conv_kernel)") == before
    assert kernel.evaluate("(n) => n.readOnly") and tab.locator("#flip").is_disabled()
    assert "locked while the quiz is on" in tab.inner_text("#message")
    assert tab.locator(".stepper").is_hidden()  # it would show the sizes and values asked
    assert tab.evaluate("Object.values(window.cnnBackprop.explorer.quiz).some((v) => v && v.forward)") is False
    tab.select_option("#quiz", "")
    assert tab.evaluate("window.cnnBackprop.explorer.given.label") == label and tab.locator(".stepper").is_visible()
    kernel.fill("5")
    kernel.press("Enter")
    assert tab.evaluate("window.cnnBackprop.explorer.given.conv_kernel[0][0]") == 5 and tab.errors == []


def answers_of(result, part):
    """Every answer of a quiz question that could be read off a screen: its nonzero numbers to 4 decimals."""
    numbers = set()
    for name, value in result[part].items():
        if part == "forward" and name.endswith("_argmax"):
            continue
        for v in np.ravel(np.asarray(value, dtype=float)):
            if abs(v) >= 1e-3:
                numbers.add(f"{v:.4f}")
    return numbers


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("part", ["shapes", "forward", "backward"])
def test_a_quiz_question_hides_every_answer_and_starts_where_zero_does_not_score(browser, tmp_path, name, part):
    tab = open_page(browser, tmp_path, starting_given(PAGES[name]()))
    tab.check("#gradients")
    tab.select_option("#quiz", part)
    given = tab.evaluate("window.cnnBackprop.explorer.given")
    result = python_result(given)
    p = np.ravel(result["forward"]["output"])
    probabilities = np.concatenate([1 - p, p]) if p.size == 1 else p
    assert np.argmax(probabilities) != given["label"] and result["forward"]["loss"] > 0.5
    # Nothing outside the quiz shows an answer: no number's data, no text, no hover text.
    outside = (
        "(ns) => ns.filter((n) => !n.closest('#quiz-panel')).map((n) => n.closest('[data-quantity]').dataset.quantity)"
    )
    quantities = set(tab.eval_on_selector_all(SHOWN, outside))
    if part == "shapes":
        assert all(q in given for q in quantities), quantities
        assert tab.locator(".flow .shape:has-text('@')").count() == 1
    else:
        asked = {f"backward.{n}" for n in result["backward"]} if part == "backward" else set(result["forward"])
        assert not quantities & (asked | {"loss", "probability"}), quantities & asked
        text = tab.evaluate("[...document.querySelectorAll('main > :not(#quiz-panel)')].map((n) => n.innerText).join()")
        cells = tab.locator(".flow td[data-value]")
        for k in range(min(cells.count(), 40)):
            cells.nth(k).hover()
            text += tab.inner_text("#lines")
        visible = {f"{v:.4f}" for _, _, v in tab.eval_on_selector_all(SHOWN, DATA)}
        leaked = [number for number in answers_of(result, part) - visible if number in text]
        assert not leaked, leaked
    assert not {"undefined", "null", "NaN"} & set(tab.inner_text("body").split())
    # Zeros in every blank score only where the answer is 0.
    # Zeros in every blank earn nothing, not even where the answer is 0.
    blanks = tab.locator("#quiz-panel input")
    for k in range(blanks.count()):
        blanks.nth(k).fill("0")
        blanks.nth(k).press("Enter")
    tab.click("#quiz-mark")
    score = tab.inner_text("#quiz-score")
    assert score.startswith("0 right, 0 carried") and "; 0 of " in score, score
    assert tab.errors == []


def test_drawing_after_a_click_elsewhere_paints_and_the_pen_lifts(browser, tmp_path):
    given = starting_given(PAGES["digits"]())
    tab = open_page(browser, tmp_path, given)
    tab.mouse.click(5, 5)  # a click that redraws nothing
    cell = lambda i, j: tab.locator(f'td[data-quantity="image"][data-index="{i},{j}"]').bounding_box()  # noqa: E731
    start, end, after = cell(0, 0), cell(0, 3), cell(1, 3)
    tab.mouse.move(start["x"] + 5, start["y"] + 5)
    tab.mouse.down()
    tab.mouse.move(end["x"] + 5, end["y"] + 5, steps=8)
    tab.mouse.up()
    tab.mouse.move(after["x"] + 5, after["y"] + 5, steps=4)  # the pen is up: nothing more
    tab.wait_for_timeout(50)
    image = np.asarray(given["image"], dtype=float)
    image[0, 0:4] = 1.0
    assert [shown(tab, "image", f"0,{j}") for j in range(4)] == [1.0] * 4 and shown(tab, "image", "1,3") == image[1, 3]
    given["image"] = image.tolist()
    assert_page_is(tab, given)


@pytest.mark.parametrize("name", PAGES)
def test_axe_finds_no_serious_violation_forward_backward_or_in_the_quiz(browser, tmp_path, name):
    from axe_playwright_python.sync_playwright import Axe

    tab = open_page(browser, tmp_path, starting_given(PAGES[name]()), training=training_set())
    found = {}
    for mode in ("forward", "backward", "quiz"):
        if mode == "backward":
            tab.check("#gradients")
        if mode == "quiz":
            tab.select_option("#quiz", "backward")
        violations = Axe().run(tab).response["violations"]
        found[mode] = [(v["id"], len(v["nodes"])) for v in violations if v["impact"] in ("serious", "critical")]
    assert found == {"forward": [], "backward": [], "quiz": []}


def test_the_quiz_marks_as_check_does_every_mistake_at_every_layer(browser, tmp_path):
    from test_mistakes import DECIMALS, SEEDS, answers_carried, cases, given_of

    from cnn_backprop import check

    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0))
    sheets, expected = [], []
    for case in cases():
        network, layer, mistake, how = case.values
        given = given_of(network, SEEDS[0])
        pass_ = walkthrough.run(given)
        answers = answers_carried(given, *how(pass_, next(n for n in pass_.arch.named if n.name == layer)))
        extras = set(pass_.extras)  # the page's quiz asks no argmax nor batch statistics
        answers = {where: value for where, value in answers.items() if where[1] not in extras}
        sheets.append([plain(given), {f"{part}.{name}": np.asarray(v).tolist() for (part, name), v in answers.items()}])
        expected.append(check.mark(given, answers, DECIMALS))
    results = tab.evaluate(f"(cases) => cases.map(([g, a]) => window.cnnBackprop.mark(g, a, {DECIMALS}))", sheets)
    named = set()
    for ours, theirs in zip(results, expected, strict=True):
        assert_marked_alike(ours, theirs)
        named |= {e.mistake for e in theirs.entries}
    assert named - {None} == set(check.MISTAKES)  # each named somewhere, by both (a block's own mistakes too)
    assert not tab.errors


def test_every_number_of_a_pooling_network_hovers_without_a_page_error(browser, tmp_path):
    """Every number shown, forward and backward, hovered (max and average pooling, the two that said nothing or
    raised): each explanation drawn, no page error, and avgpool says where no window holds an entry."""
    net = "conv 3x3x3 pad 1, relu, maxpool 2 stride 1, conv 2x2x2, tanh, avgpool 2, dense 10, softmax"
    given = starting_given(walkthrough.complete_given({"net": net}, seed=3, source="digits"))
    tab = open_page(browser, tmp_path, given)
    hover = """() => [...document.querySelectorAll('.flow td[data-value]')].map((cell) => {
        cell.dispatchEvent(new MouseEvent('mouseenter'));
        return document.getElementById('lines').textContent;
    })"""
    for backward in (False, True):
        if backward:
            tab.check("#gradients")
        texts = tab.evaluate(hover)
        assert len(texts) > 100 and all(text and "undefined" not in text and "NaN" not in text for text in texts)
    assert tab.errors == []


def test_a_gradient_that_is_zero_but_for_rounding_is_drawn_white(browser, tmp_path):
    # a conv bias before a batch norm: dL/dbias is 0 in exact arithmetic, about 1e-17 in floats
    given = starting_given(walkthrough.complete_given({"net": "conv 2x3x3, batchnorm, relu, dense 2, softmax"}, seed=1))
    assert 0 < np.abs(walkthrough.run(walkthrough.complete_given(given)).grads["conv_bias"]).max() < 1e-12
    tab = open_page(browser, tmp_path, given)
    tab.check("#gradients")
    colours = tab.eval_on_selector_all(
        '[data-quantity="backward.conv_bias"]', "(ns) => ns.map((n) => getComputedStyle(n).backgroundColor)"
    )
    assert colours and set(colours) == {"rgb(255, 255, 255)"} and tab.errors == []


def test_save_this_instance_gives_the_walkthrough_of_every_number_shown(browser, tmp_path):
    given = starting_given(PAGES["digits"]())
    tab = open_page(browser, tmp_path, given)
    kernel = tab.locator('input[aria-label^="conv1_kernel"]').first
    kernel.fill("0.123456789")  # a change made on the page is in what is saved
    kernel.press("Enter")
    with tab.expect_download() as download:
        tab.click("#save")
    download.value.save_as(tmp_path / "instance.json")
    saved = json.loads((tmp_path / "instance.json").read_text())
    assert 0.123456789 in np.ravel(saved["conv1_kernel"])
    assert_page_is(tab, saved)  # every number shown is the walkthrough's of the saved instance
    tab.check("#gradients")
    assert_page_is(tab, saved, backward=True)
    assert tab.errors == []
