"""The explorer page's timings in Chromium, beside the targets: from an edit to the next painted frame, the
backward switch, a hover, and training on the digits network (images a second, and how long a click waits).

Each timing is the median of REPEATS, measured in the page with performance.now() up to the second
requestAnimationFrame after the change (the frame that shows it).  Run: ``.venv/bin/python benchmarks/bench_page.py``.
"""

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from cnn_backprop import walkthrough
from cnn_backprop.page import page, training_set

REPEATS = 10
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip
NETWORKS = {
    "seed": ({}, "shapes", 16),
    "4-filter digits": ({"net": "conv 4x3x3 pad 1, relu, maxpool 2, dense 10, softmax"}, "digits", 30),
    "digits": ({"net": walkthrough.architecture.DIGITS_SPEC}, "digits", 50),
}

# Times ``action`` (a JS statement on element ``node``) to the next painted frame, REPEATS times, in ms.
TIMED = """async ([selector, action, repeats]) => {
  const node = document.querySelector(selector), times = [], works = [];
  const painted = () => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
  for (let k = 0; k < repeats; k++) {
    await painted();
    const start = performance.now();
    (new Function("node", "k", action))(node, k);
    document.body.getBoundingClientRect(); // the layout the change needs, now
    works.push(performance.now() - start);
    await painted();
    times.push(performance.now() - start);
  }
  return [works, times];
}"""
EDIT = "node.value = String(0.1 + 0.01 * k); node.dispatchEvent(new Event('change'));"
CLICK = "node.click();"
HOVER = "node.dispatchEvent(new MouseEvent('mouseenter'));"

# Trains for ``ms``: images a second, and how late a timer set every 20 ms runs (what a click waits for).
TRAIN = """async (ms) => {
  const trainer = window.cnnBackprop.explorer.trainer, late = [];
  let ticking = true;
  const tick = () => {
    const set = performance.now();
    setTimeout(() => {
      late.push(performance.now() - set);
      if (ticking) setTimeout(tick, 20);
    }, 0);
  };
  const seen = trainer.seen, start = performance.now();
  document.getElementById("train").click();
  tick();
  await new Promise((done) => setTimeout(done, ms));
  const stop = performance.now();
  document.getElementById("train").click();
  const stopped = performance.now() - stop;
  ticking = false;
  late.sort((a, b) => a - b);
  const rate = (trainer.seen - seen) / ((stop - start) / 1000);
  return { rate, late: late[Math.floor(late.length / 2)], worst: late.at(-1), stopped };
}"""


def main():
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Debian's chromium is needed: sudo apt-get install chromium")
    rows = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        for name, (extra, source, target) in NETWORKS.items():
            given = walkthrough.complete_given(extra, 0, source=source)
            path = Path(folder) / "page.html"
            path.write_text(page(given, training_set(source)))
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.goto(path.as_uri())
            tab.wait_for_selector("#loss")
            elements = tab.evaluate("document.getElementsByTagName('*').length")
            edit = tab.evaluate(TIMED, ['[data-array$="_kernel"] input', EDIT, REPEATS])
            hover = tab.evaluate(TIMED, [".flow td[data-value]", HOVER, REPEATS])
            switch = tab.evaluate(TIMED, ["#gradients", CLICK, REPEATS])
            rows.append((name, "edit a kernel value", *map(statistics.median, edit), f"<= {target} ms"))
            rows.append((name, "backward switch", *map(statistics.median, switch), "<= 100 ms"))
            rows.append((name, "hover a number", *map(statistics.median, hover), "<= 16 ms"))
            if name == "digits":
                trained = tab.evaluate(TRAIN, 3000)
                rows.append((name, "Train: images a second", trained["rate"], None, ">= 500"))
                rows.append((name, "Train: a click waits (median)", trained["late"], None, "<= 100 ms"))
                rows.append((name, "Train: a click waits (worst)", trained["worst"], None, "<= 100 ms"))
            rows.append((name, "elements on the page", elements, None, "<= 5000" if name == "digits" else ""))
            tab.close()
        browser.close()
    print(f"{'network':<16} {'timing':<30} {'work ms':>8} {'painted':>8}  target")
    for name, what, value, painted, target in rows:
        shown = f"{value:>8.1f} {painted:>8.1f}" if painted is not None else f"{value:>17.1f}"
        print(f"{name:<16} {what:<30} {shown}  {target}")


if __name__ == "__main__":
    main()
