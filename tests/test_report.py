"""The walkthrough as a document: Markdown with figures beside it, and HTML that renders offline in a browser."""

import re
import shutil
import subprocess

import pytest

from cnn_backprop import walkthrough
from cnn_backprop.cli import main
from cnn_backprop.report import to_html, walkthrough_document

FIGURES = {"image", "conv_kernel", "conv_pre", "pool", "dL_dconv_relu", "dL_dconv_kernel", "overview"}


def test_markdown_report_has_answers_and_figures_beside_it(capsys, tmp_path):
    path = tmp_path / "report.md"
    assert main(["walkthrough", "--seed", "1", "--report", str(path)]) == 0
    text = path.read_text()
    for heading in ("## Given", "## 1. Output sizes", "## 2. Forward pass", "## 3. Backward pass"):
        assert heading in text
    assert "(5 - 3 + 2*0) / 1 + 1 = 3  ->  3x3" in text and "dL/dkernel[2,2] = " in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {link.split("/")[-1][:-4] for link in links} == FIGURES
    for link in links:
        assert (tmp_path / link).read_bytes()[:4] == b"\x89PNG"


def test_html_report_is_self_contained(capsys, tmp_path):
    path = tmp_path / "report.html"
    assert main(["walkthrough", "--seed", "1", "--report", str(path)]) == 0
    text = path.read_text()
    assert text.count('src="data:image/png;base64,') == len(FIGURES)
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert "<script" not in text
    assert "dL/dkernel[m, n] = sum_i sum_j dL/dconv_pre[i, j] * X[S*i + m, S*j + n]" in text


def test_report_numbers_are_the_walkthrough_numbers():
    result = walkthrough.run(walkthrough.complete_given(seed=2))
    html = to_html(walkthrough_document(result, decimals=6))
    assert f"= {result['forward']['conv_pre'][0, 0]:.6f}" in html
    assert f"{result['backward']['conv_kernel'][1, 1]:.6f}" in html


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (make test installs it where it can: root with apt-get)",
)
def test_html_report_renders_in_headless_chromium_with_every_figure(capsys, tmp_path):
    path = tmp_path / "report.html"
    main(["walkthrough", "--seed", "3", "--report", str(path)])
    probe = tmp_path / "probe.html"
    # A copy with a script that reports, once the page has loaded, how many images decoded.
    probe.write_text(
        path.read_text().replace(
            "</body>",
            """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const ok = images.filter(img => img.complete && img.naturalWidth > 0).length;
  document.title = `figures ${ok}/${images.length}; pre ${document.querySelectorAll("pre").length}`;
});
</script></body>""",
        )
    )
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    title = re.search(r"<title>(.*?)</title>", done.stdout)
    assert title, done.stderr[-2000:]
    assert title.group(1) == f"figures {len(FIGURES)}/{len(FIGURES)}; pre 4"
