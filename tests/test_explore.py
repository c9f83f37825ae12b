"""The explorer in a real browser: its engine against the Python engine, and what a person does on the page."""

import json
import shutil

import numpy as np
import pytest
from conftest import SMALL_DIGITS_SPEC, seed_family

from cnn_backprop import walkthrough
from cnn_backprop.cli import main
from cnn_backprop.explore import page, starting_given, training_set

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


def test_click_type_flip_and_step_match_the_python_engine(browser, tmp_path):
    given = starting_given(walkthrough.complete_given(seed=1))  # the numbers the page starts from
    tab = open_page(browser, tmp_path, given)
    start = python_result(given)
    assert shown(tab, "conv_pre", "0,0") == pytest.approx(start["forward"]["conv_pre"][0][0], abs=1e-12)
    # Click a pixel: it turns on (1) or off (0).
    before = shown(tab, "image", "2,2")
    tab.click('td[data-quantity="image"][data-index="2,2"]')
    given["image"][2][2] = 0.0 if before > 0.5 else 1.0
    assert shown(tab, "image", "2,2") == given["image"][2][2]
    # Type a kernel value.
    field = tab.get_by_label("conv_kernel[0,0,1,2]")
    field.fill("-0.75")
    field.press("Enter")
    given["conv_kernel"][1][2] = -0.75
    # Flip the label.
    tab.click("#flip")
    given["label"] = 1 - given["label"]
    expected = python_result(given)
    for i, j in np.ndindex(3, 3):
        assert shown(tab, "conv_pre", f"{i},{j}") == pytest.approx(expected["forward"]["conv_pre"][i][j], abs=1e-12)
    assert shown(tab, "loss", "") == pytest.approx(expected["forward"]["loss"], abs=1e-12)
    # The backward pass in the same layout.
    tab.check("#gradients")
    for m, n in np.ndindex(3, 3):
        value = shown(tab, "backward.conv_kernel", f"{m},{n}")
        assert value == pytest.approx(expected["backward"]["conv_kernel"][m][n], abs=1e-12)
    tab.uncheck("#gradients")
    # One SGD step: w - lr * g for every parameter, and the new loss.
    tab.fill("#lr", "0.5")
    tab.press("#lr", "Enter")
    tab.click("#step")
    stepped = dict(given)
    for key in ("conv_kernel", "conv_bias", "fc_weights", "fc_bias"):
        stepped[key] = (np.asarray(given[key]) - 0.5 * np.asarray(expected["backward"][key])).tolist()
    after = python_result(stepped)
    assert shown(tab, "fc_weights", "0") == pytest.approx(stepped["fc_weights"][0], abs=1e-12)
    assert shown(tab, "loss", "") == pytest.approx(after["forward"]["loss"], abs=1e-12)
    assert "One SGD step: loss" in tab.inner_text("body")
    assert tab.errors == []


def test_a_value_that_is_not_a_number_is_refused_beside_its_field(browser, tmp_path):
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=2))
    before = shown(tab, "loss", "")
    field = tab.get_by_label("conv_kernel[0,0,0,0]")
    for bad in ("abc", "NaN", "1e999", ""):
        field.fill(bad)
        field.press("Enter")
        assert "type a finite number" in tab.inner_text("body")
        assert shown(tab, "loss", "") == before
    values = tab.eval_on_selector_all("[data-value]", "(cells) => cells.map((c) => c.dataset.value)")
    assert not any(value in ("NaN", "Infinity", "-Infinity") for value in values)


def test_hover_and_keyboard_show_where_a_number_comes_from(browser, tmp_path):
    given = walkthrough.complete_given(seed=0)
    tab = open_page(browser, tmp_path, given)
    tab.hover('td[data-quantity="conv_pre"][data-index="0,0"]')
    text = tab.inner_text("#lines")
    assert text.startswith("conv_pre = 1 + 0*0.6772 + ") and text.endswith("= 1.8255")
    assert tab.locator(".source").count() == 18  # the 3x3 window of the image and the 3x3 kernel
    tab.check("#gradients")
    cell = tab.locator('td[data-quantity="backward.conv_kernel"][data-index="1,1"]')
    cell.focus()  # the keyboard reaches every number
    assert tab.inner_text("#lines").startswith("dL/dconv_kernel = ") and tab.locator(".source").count() == 9
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.dataset.quantity") == "backward.conv_kernel"


def test_phone_width_does_not_scroll_sideways_and_files_stay_small(browser, tmp_path):
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0), width=400, height=800)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    digits = walkthrough.complete_given({"net": walkthrough.architecture.DIGITS_SPEC}, 0, source="digits")
    # 300 KB until the quiz learnt the mistakes of every kind (issue 19: 2.5 KB of rules and explanations)
    assert len(page(digits, training_set("digits")).encode()) < 305_000
    assert len(page(walkthrough.complete_given(seed=0), training_set()).encode()) < 305_000


def test_train_runs_steps_and_draws_the_loss(browser, tmp_path):
    tab = open_page(browser, tmp_path, walkthrough.complete_given(seed=0), training=training_set("shapes", 0, 64))
    tab.click("#train")
    tab.wait_for_function("document.querySelector('svg.curve polyline')?.getAttribute('points').split(' ').length > 5")
    tab.click("#train")  # stop
    assert "training loss" in tab.inner_text("body") and tab.errors == []


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
            marked = check.mark(given, answers, DECIMALS)
            expected.append([(e.quantity, list(e.index), e.verdict, e.mistake) for e in marked])
    results = tab.evaluate("(cases) => cases.map(([g, a]) => window.cnnBackprop.mark(g, a, 4))", cases)
    assert len(results) == len(expected) == 6 * 13
    verdicts = set()
    for ours, theirs in zip(results, expected):
        assert sorted((e["quantity"], e["index"], e["verdict"], e["mistake"]) for e in ours) == sorted(theirs)
        verdicts |= {(e[2], e[3]) for e in theirs}
    assert {v for v, _ in verdicts} == {"right", "wrong", "blank"} and len({m for _, m in verdicts}) > 8


def test_a_quiz_cell_turns_right_carried_or_wrong_with_the_mistake_beside_it(browser, tmp_path):
    given = starting_given(walkthrough.complete_given(seed=1))
    tab = open_page(browser, tmp_path, given)
    result = python_result(given)
    tab.select_option("#quiz", "backward")
    dz = result["backward"]["fc_pre"]
    field = tab.get_by_label("backward.fc_pre[]")
    field.fill(f"{-dz:.4f}")  # the sign flipped
    field.press("Enter")
    cell = tab.locator('td:has(input[aria-label="backward.fc_pre[]"])')
    assert cell.get_attribute("data-verdict") == "wrong"
    assert "sign" in tab.inner_text("#quiz-mistakes")
    field = tab.get_by_label("backward.fc_pre[]")
    field.fill(f"{dz:.4f}")
    field.press("Enter")
    assert tab.locator('td:has(input[aria-label="backward.fc_pre[]"])').get_attribute("data-verdict") == "right"
    assert tab.inner_text("#quiz-score").startswith("1 of 1 answered right")
    assert tab.errors == []


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
        expected.append(
            [(e.quantity, list(e.index), e.verdict, e.mistake) for e in check.mark(given, answers, DECIMALS)]
        )
    results = tab.evaluate(f"(cases) => cases.map(([g, a]) => window.cnnBackprop.mark(g, a, {DECIMALS}))", sheets)
    named = set()
    for ours, theirs in zip(results, expected, strict=True):
        assert sorted((e["quantity"], e["index"], e["verdict"], e["mistake"]) for e in ours) == sorted(theirs)
        named |= {mistake for *_, mistake in theirs}
    assert named - {None} == set(check.MISTAKES)  # each named somewhere, by both
    assert not tab.errors
