"""Every number of every kind's example network, hovered and focused on the page, forward and backward: no page
error, and each explanation's numbers are those of ``cb.explain_value`` (the same arithmetic, written in Python)."""

import re

import pytest
from conftest import PROJECTED
from test_page import CHROMIUM, browser, open_page  # noqa: F401 - the fixture

import cnn_backprop as cb
from cnn_backprop import walkthrough
from cnn_backprop.explain import terms
from cnn_backprop.kinds import KINDS
from cnn_backprop.page import starting_given

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

FLOOR = 1e-12  # a sum that is 0 in exact arithmetic is about 1e-17 in floats, in either order of adding
NUMBER = re.compile(r"^\(?(-?\d+(?:\.(\d+))?(?:e([+-]\d+))?)\)?$")
SKIPPED = re.compile(r"\((\d+) (?:term|window)s? with a zero")

# Every number the flow shows with an explanation (the probabilities are bars, explained by the loss), each
# explained by the page's own handler of a hover, then focused: [quantity, index, value, the explanation, the
# explanation its focus shows].
HOVER_ALL = """() => [...document.querySelectorAll('.flow [data-value]')]
    .filter((cell) => cell.dataset.value !== '' && cell.dataset.quantity !== 'probability')
    .map((cell) => {
        const lines = document.getElementById('lines'), d = cell.dataset;
        cell.dispatchEvent(new MouseEvent('mouseenter'));
        const hovered = lines.textContent;
        lines.textContent = '';
        cell.focus();
        return [d.quantity, d.index, Number(d.value), hovered, lines.textContent];
    })"""


def written(token):
    """The number a token of an explanation writes, and how far from it the number it stands for may be."""
    match = NUMBER.match(token.strip())
    if not match:
        return None
    text, decimals, exponent = match.groups()
    places = len(decimals or "") - int(exponent or 0)
    return float(text), (0.5 * 10.0**-places if "." in text or exponent else 0.0) + FLOOR


def product(term):
    """A term ``a*b*c`` of written numbers: its value and how far off it may be; None if a factor is no number."""
    value, low, high = 1.0, 1.0, 1.0
    for factor in term.split("*"):
        found = written(factor)
        if found is None:
            return None
        number, off = found
        value, low, high = value * number, low * abs(number), high * (abs(number) + off)
    return value, high - low + FLOOR


def result(line):
    """The number a line of arithmetic ends with (a max pool's goes on: "= 0.4005  at conv1 [0,0]"), as written."""
    return re.split(r" = |: ", line)[-1].split()[0]


def last_step(line):
    """The numbers of a line's last step of arithmetic ("... = 0.4058*(1 - 0.1438^2) = 0.3974"), names and their
    indices (dL/dfc_pre[0], fc1_tanh) and eps left out: [(number, off)]."""
    steps = line.split(" = ")
    text = " ".join(steps[-2:]) if len(steps) > 1 else line.rsplit(": ", 1)[-1]
    text = re.sub(r"(?<![\d.])[A-Za-z_/][\w/]*(\[[\d,\s]*\])?|1e-05", " ", text.split("  at ")[0])
    return [written(token) for token in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?", text)]


def added_terms(lines):
    """The terms the sum of ``lines`` adds ([(value, off)]) and how many it counts as 0 without writing them; None
    where it adds no written products (e^z, a bracket).  A sum by channel ("channel 0: ...") adds its bias and its
    channels' terms."""
    channels = [re.match(r"\s*channel \d+: (.*) = (\S+)$", line) for line in lines]
    last = lines[-1].strip()
    last = f"x {last}" if last.startswith("= ") else last  # the page's sum goes on from the line above
    found = terms(last)
    if found is None:
        only = last.split(" = ")[-2:-1]  # all its terms 0: "= (9 terms with a zero factor) = 0"
        return ([], int(SKIPPED.match(only[0]).group(1))) if only and SKIPPED.match(only[0]) else None
    added = [text for text, _ in found[1]]
    if any(channels):
        added = added[:1]  # the bias; then each channel's terms
        for match in filter(None, channels):
            inner = terms(f"x = {match.group(1)} = {match.group(2)}")
            added += [text for text, _ in inner[1]] if inner else [match.group(1)]
    values, skipped = [], 0
    for text in added:
        count = SKIPPED.match(text)
        if count:
            skipped += int(count.group(1))
            continue
        term = product(text)
        if term is None:
            return None
        values.append(term)
    return values, skipped


def assert_same_numbers(ours, theirs, value, where):
    """The page's explanation ``ours`` (lines) and Python's line ``theirs`` end in the same number, ``value``, each to
    the precision it writes; where both add up products, they add the same terms (the page leaves out terms that are
    0 and counts them), and otherwise their last steps have the same numbers.  Whether more than the result was
    compared."""
    for line in (theirs, ours[-1]):
        number, off = written(result(line))
        assert abs(number - value) <= off, (where, line, value)
    # and the page's to 3 digits at least: not 1e-8 as "-0.0000" (Python writes an entry as its array's largest)
    assert number == value or off <= 5e-3 * abs(value) + FLOOR, (where, ours[-1], value)
    page, python = added_terms(ours), added_terms([theirs])
    if python is None:
        # no sum of products (a maximum, e^z, a bracket): the numbers of its last step, in order
        if SKIPPED.search(ours[-1].rsplit(" = ", 1)[0]):
            return False  # the page left out every term, a 0, where Python writes one: their results agree
        ours_, theirs_ = last_step(ours[-1]), last_step(theirs)
        assert len(ours_) == len(theirs_), (where, ours, theirs)
        for (a, off_a), (b, off_b) in zip(ours_, theirs_):
            assert abs(a - b) <= off_a + off_b, (where, ours, theirs)
        return bool(ours_)
    assert page is not None, (where, "Python adds up terms the page does not write", ours, theirs)
    paired = pairs(page[0], python[0])
    assert len(paired) == len(page[0]), (where, "terms the page writes that Python does not", ours, theirs)
    left = [term for k, term in enumerate(python[0]) if k not in paired]
    assert all(abs(n) <= o for n, o in left), (where, "terms the page leaves out are not 0", left, ours, theirs)
    assert len(left) >= page[1], (where, ours, theirs)
    return True


def pairs(ours, theirs):
    """{index in ``theirs``: index in ``ours``}: each of our terms paired with one of theirs that it equals to both's
    precision, as many as can be (two terms a rounding apart, 4.5e-3*(-0.0958) and 0.0456*(-0.0096), would be paired
    wrongly by the nearest first alone); each tries the nearest first, so that a small term is not paired with a 0
    it equals to the 0's precision while its own goes unpaired."""
    fits = [
        sorted(
            (k for k, (b, off_b) in enumerate(theirs) if abs(a - b) <= off_a + off_b),
            key=lambda k: abs(a - theirs[k][0]),
        )
        for a, off_a in ours
    ]
    owner = {}

    def place(i, seen):  # an augmenting path: a term of theirs for ours i, moving earlier pairs along
        for k in fits[i]:
            if k not in seen:
                seen.add(k)
                if k not in owner or place(owner[k], seen):
                    owner[k] = i
                    return True
        return False

    for i in range(len(ours)):
        place(i, set())
    return owner


def python_line(pass_, quantity, index):
    """``cb.explain_value``'s line for the page's number ``quantity`` (backward.NAME for a gradient) at ``index``:
    a value's own line, a gradient's last; None for a given value (the image, a parameter), whose only arithmetic
    is its gradient's."""
    backward, name = quantity.startswith("backward."), quantity.removeprefix("backward.")
    if not backward and name in {*pass_.arch.param_shapes(), "image"}:
        return None
    lines = cb.explain_value(pass_, f"{'dL/d' if backward else ''}{name}[{index}]")
    return lines[-1] if backward else lines[0]


# Every kind's example network, and a residual block whose shortcut is a 1x1 conv at stride 2 (the add's example
# has the identity): a block input's gradient is explained as each path's part, then their sum.
NETS = {**{name: kind.example_net for name, kind in KINDS.items()}, "projected residual": PROJECTED}


@pytest.mark.parametrize("name", list(NETS))
def test_every_number_of_the_kinds_example_hovers_and_explains_as_python_does(browser, tmp_path, name):  # noqa: F811
    """Every number of the kind's example network, forward and backward: its explanation has no page error and ends
    in the number shown, and in the number ``cb.explain_value`` ends in, each to its precision; where both add up
    products, the same terms, and otherwise the same numbers in their last step.  Each number is hovered by its
    mouseenter event and focused in one evaluate (Playwright's hover and focus of all 3,000 numbers of the
    examples, each waiting for its cell to be still and unobstructed, would take minutes); a real hover and a real
    focus of a sample show the very same text, so what the events run is what a person's pointer and keyboard run."""
    given = starting_given(walkthrough.complete_given({"net": NETS[name]}, seed=3))
    pass_ = walkthrough.run(walkthrough.complete_given(given))
    tab = open_page(browser, tmp_path, given)
    against_python = compared = 0
    for backward in (False, True):
        if backward:
            tab.check("#gradients")
        hovered = tab.evaluate(HOVER_ALL)
        shown = tab.locator(".flow [data-value]:not([data-value=''], [data-quantity='probability'])").count()
        assert len(hovered) == shown > 50
        assert any(q.startswith("backward.") for q, *_ in hovered) == backward
        for quantity, index, value, text, focused in hovered:
            lines = text.rstrip("\n").split("\n")
            where = f"{quantity}[{index}]"
            assert focused == text, where  # the keyboard's way in shows the same
            assert not {"undefined", "null", "NaN"} & set(text.split()), (where, text)
            if quantity == "loss":  # -log P(y) on the page, the number alone in Python
                for line in (lines[0], cb.explain_value(pass_, "loss")[0]):
                    number, off = written(result(line))
                    assert abs(number - value) <= off, (line, value)
                continue
            bare = quantity.removeprefix("backward.")
            assert lines[0] == f"{'dL/d' if bare != quantity else ''}{bare}[{index}]", (where, text)
            theirs = python_line(pass_, quantity, index)
            if theirs is None:  # a given value: the number itself
                number, off = written(result(lines[-1]))
                assert abs(number - value) <= off, (where, text)
            else:
                compared += assert_same_numbers(lines, theirs, value, where)
                against_python += 1
        sample = hovered[:: max(1, len(hovered) // 4)]
        for quantity, index, _, text, _ in sample:
            cell = tab.locator(f'.flow [data-quantity="{quantity}"][data-index="{index}"]')
            for act in (cell.hover, cell.focus):
                tab.evaluate("document.getElementById('lines').textContent = ''")
                act()
                assert tab.evaluate("document.getElementById('lines').textContent") == text, (quantity, index)
    assert compared >= 0.9 * against_python  # their terms or steps, not only their results
    assert tab.errors == []


@pytest.mark.parametrize("spec", [KINDS["add"].example_net, PROJECTED])
def test_a_gradient_two_layers_pass_back_is_each_paths_part_then_their_sum(browser, tmp_path, spec):  # noqa: F811
    """dL/d(a block's input) on the page: each reader's own arithmetic ending in its part, then the sum of the parts,
    whose terms and result are the Python pass's parts and gradient, at every entry."""
    given = starting_given(walkthrough.complete_given({"net": spec}, seed=3))
    pass_ = walkthrough.run(walkthrough.complete_given(given))
    [(name, parts)] = pass_.parts.items()
    tab = open_page(browser, tmp_path, given)
    tab.check("#gradients")
    explain = """(name) => [...document.querySelectorAll(`.flow [data-quantity="backward.${name}"][data-value]`)]
        .map((cell) => { cell.dispatchEvent(new MouseEvent('mouseenter'));
                         return [cell.dataset.index, document.getElementById('lines').textContent]; })"""
    explained = tab.evaluate(explain, name)
    assert len(explained) == pass_.grads[name].size
    for index, text in explained:
        at = tuple(int(i) for i in index.split(","))
        full = (0,) * (pass_.grads[name].ndim - len(at)) + at
        lines = text.split("\n")
        starts = [next(k for k, line in enumerate(lines) if line.startswith(f"dL/d{name} via {layer} ")) for layer in
                  parts]  # fmt: skip
        for part, end in zip(parts.values(), [*starts[1:], len(lines) - 2]):  # each path's arithmetic ends in its part
            assert float(lines[end - 1].rsplit(" = ", 1)[1]) == pytest.approx(part[full], rel=5e-4, abs=5e-5), text
        paths = " + ".join(f"(via {layer})" for layer in parts)
        assert lines[-1].startswith(f"dL/d{name} = {paths} = "), text
        _, _, added, total = lines[-1].split(" = ")
        values = [float(v.strip("()")) for v in added.split(" + ")]
        assert values == pytest.approx([part[full] for part in parts.values()], rel=5e-4, abs=5e-5), (index, text)
        assert float(total) == pytest.approx(pass_.grads[name][full], rel=5e-4, abs=5e-5)
    assert tab.errors == []
