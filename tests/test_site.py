"""The documentation site: it builds with ``mkdocs build --strict`` (no warning, no broken link), and every page
opens in Chromium, offline (served from 127.0.0.1, every other host refused): no console error, every internal
link resolving to a page and an anchor that exist, and the explorers the explorer page embeds running."""

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip
pytest.importorskip("mkdocs", reason="the dev extras install MkDocs")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as `make site` builds it, into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr
    return out


def pages(site):
    """Every page of the site (not the 404 page, not the explorers it embeds), as paths under it."""
    found = [p.relative_to(site).as_posix() for p in site.rglob("*.html")]
    return sorted(p for p in found if p != "404.html" and not p.startswith(("explorers/", "assets/")))


def test_the_site_has_every_page_and_its_generated_parts(site):
    assert pages(site) == sorted(
        ["index.html", "getting-started.html", "seed-exercise.html", "any-cnn.html", "explorer.html",
         "notebook.html", "instructors.html", "performance.html", "correctness.html", "reference/cli.html",
         "reference/api.html", "reference/json.html", "reference/grammar.html", "reference/code.html",
         "adding-a-kind.html"]
    )  # fmt: skip
    cli = (site / "reference" / "cli.html").read_text()
    from cnn_backprop.cli import COMMANDS

    for command in COMMANDS:  # each command's --help, from the parser
        assert f"usage: cnn-backprop {command} [-h]" in cli, command
    api = (site / "reference" / "api.html").read_text()
    import cnn_backprop as cb

    for name in cb.__all__:  # every exported name, from its docstring
        assert f'id="cnn_backprop.{name}"' in api, name
    for name in ("seed", "small", "digits"):
        assert "cnnBackprop" in (site / "explorers" / f"{name}.html").read_text()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (make test installs it where it can)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def ids_of(path):
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))


def test_every_page_opens_offline_with_no_error_and_every_internal_link_resolves(site, served, browser):
    context = browser.new_context()
    elsewhere = []

    def only_here(route):
        if route.request.url.startswith(served):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    for name in pages(site):
        tab = context.new_page()
        errors = []
        tab.on("console", lambda message, errors=errors: message.type == "error" and errors.append(message.text))
        tab.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        response = tab.goto(served + name, wait_until="load")
        assert response.status == 200, name
        tab.wait_for_timeout(200)  # the theme's scripts run after load
        links = tab.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        assert not errors, f"{name}: {errors} (asked other hosts for {elsewhere})"
        for link in links:
            target, anchor = urldefrag(link)
            if not target.startswith(served):
                assert urlparse(target).scheme in ("http", "https", "mailto"), f"{name}: {link}"
                continue
            path = site / target[len(served) :]
            path = path / "index.html" if path.is_dir() else path
            assert path.is_file(), f"{name} links to {link}, which is not in the site"
            if anchor and path.suffix == ".html":
                assert anchor in ids_of(path), f"{name} links to {link}, whose page has no #{anchor}"
        tab.close()
    assert not elsewhere, f"the site asked other hosts for {elsewhere}"
    context.close()


def test_the_embedded_explorers_run(site, served, browser):
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(served + "explorer.html", wait_until="load")
    frames = [frame for frame in tab.frames if "/explorers/" in frame.url]
    assert sorted(Path(urlparse(frame.url).path).name for frame in frames) == ["digits.html", "seed.html", "small.html"]
    for frame in frames:
        frame.wait_for_selector("#loss")
        assert frame.evaluate("typeof window.cnnBackprop.run") == "function"
        assert re.search(r"\d\.\d", frame.inner_text("#loss")), frame.url  # it computed its pass's loss
    assert not errors


def test_search_from_a_file_says_it_needs_a_server_and_works_served(site, served, browser):
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto((site / "index.html").as_uri(), wait_until="load")
    assert not tab.locator("[data-md-component=search-query]").is_visible()  # the theme hides what cannot run
    note = tab.locator(".search-needs-a-server")
    assert note.is_visible() and "python -m http.server -d site" in note.inner_text()
    tab.goto(served + "index.html", wait_until="load")  # served, search is the theme's own, and finds things
    assert tab.locator(".search-needs-a-server").count() == 0
    tab.fill("[data-md-component=search-query]", "gradient")
    tab.wait_for_selector(".md-search-result__item", timeout=15000)
    assert tab.locator(".md-search-result__item").count() > 3
    tab.close()


def test_a_code_block_wider_than_the_page_scrolls_with_a_bar_one_can_see(site, served, browser):
    # Chromium with its scroll bars, as a reader has them (Playwright hides them by default when headless)
    shown = browser.browser_type.launch(executable_path=CHROMIUM, args=FLAGS, ignore_default_args=["--hide-scrollbars"])
    tab = shown.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(served + "any-cnn.html", wait_until="load")
    wide = tab.eval_on_selector_all(
        "pre > code",
        """codes => codes.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => ({
            overflow: getComputedStyle(c).overflowX, bar: c.offsetHeight - c.clientHeight}))""",
    )
    assert wide, "any-cnn.html has lines longer than the page is wide (the digits' summary)"
    for code in wide:
        assert code["overflow"] in ("auto", "scroll") and code["bar"] >= 8, code  # the theme's own is 4 px
    shown.close()


@pytest.mark.parametrize("width, figure", [(1280, "overview.png"), (400, "overview_narrow.png")])
def test_the_home_figure_is_drawn_near_its_own_size_so_its_numbers_stay_legible(site, served, browser, width, figure):
    tab = browser.new_page(viewport={"width": width, "height": 900})
    tab.goto(served + "index.html", wait_until="load")
    image = tab.locator("picture img")
    image.scroll_into_view_if_needed()
    tab.wait_for_function("document.querySelector('picture img').complete")
    shown = image.evaluate("i => ({src: i.currentSrc, width: i.clientWidth, natural: i.naturalWidth})")
    assert shown["src"].endswith("/figures/" + figure)
    # its numbers are 10 pt at 100 dpi (13.9 px) in the file: on the page at least 11 px
    assert 13.9 * shown["width"] / shown["natural"] >= 11, shown
    tab.close()
