"""The runnable blocks of README.md and the docs pages (docs/**/*.md): found, run in order, compared or rewritten.

One runner for both sides: tests/test_readme.py runs every document and checks it, scripts/update_docs.py
runs them and rewrites the outputs they show.  They run as a reader follows them: the README, then the site's
pages in the order of its navigation (mkdocs.yml), every block in the order it comes, all in one scratch
folder, so that a command may use the files an earlier one wrote, and no block may change a file an earlier one
wrote unless it says so on its own lines (``# overwrites NAME``, in a comment the reader sees).

What runs, and how a block says otherwise (an HTML comment on the line right before its fence):

- a fenced ``sh`` block: its lines in bash (-e, -o pipefail), with ``cnn-backprop`` and ``python`` the
  package under test's; a line ``pip install cnn-backprop`` is that package already installed (it stays
  as a comment here; tests/test_package.py runs it for real, from the wheel into a fresh environment);
- a fenced ``python`` block: executed as a script, which prints what it shows (one that prints nothing fails);
- ``<!-- output: cnn-backprop ARGS -->`` before a ``text`` block: ARGS runs, and the block is what it prints,
  character for character (but for rounding noise below 1e-8, which the CPU's BLAS decides);
- ``<!-- example: cnn-backprop ARGS -->`` before a ``text`` block: ARGS runs, and the block is what it printed
  once, every number aside (timings; the last digits of a long training run);
- ``<!-- not run: WHY -->`` before a block: not run in the tests, for the reason it gives;
- ``<!-- in the tests: OLD => NEW -->`` before a block: run with OLD replaced by NEW (a long run made short,
  said in the page); a shown output's command may end in ``; in the tests: OLD => NEW`` alike.

Blocks of other languages (``text`` without a marker, ``json``, plain) are shown, not run.
"""

import contextlib
import hashlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(
    r"^(?:<!-- (?P<marker>[a-z ]+): ?(?P<argument>[^\n]*?) -->\n)?```(?P<language>\w*)\n(?P<body>.*?)^```$",
    re.M | re.S,
)
RUN = ("sh", "python")
COMMAND = "cnn-backprop "
INSTALL = "pip install cnn-backprop"
SUBSTITUTE = "; in the tests:"


def documents():
    """README.md and every page of the site, in the order a reader meets them: the README first, then the pages
    as the site's navigation lists them (mkdocs.yml), then any page it does not list."""
    nav = re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    listed = [ROOT / "docs" / page for page in nav]
    return [ROOT / "README.md", *listed, *sorted(set((ROOT / "docs").rglob("*.md")) - set(listed))]


@dataclass(frozen=True)
class Block:
    """One fenced block of a document: its language and text, the marker before it, and where it is."""

    path: Path
    line: int
    marker: str
    argument: str
    language: str
    body: str
    span: tuple  # the body's (start, end) in the document's text

    @property
    def where(self):
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    @property
    def runs(self):
        """Whether the tests run it: a command block not marked 'not run', or a shown output of a command."""
        if self.marker == "not run":
            return False
        return self.language in RUN or (self.marker in ("output", "example") and self.language == "text")

    @property
    def command(self):
        """A shown output's command, as the page names it."""
        return self.argument.split(SUBSTITUTE)[0].strip()

    def text_to_run(self, in_the_tests=True):
        """The block's commands (or a shown output's command) as they run: in the tests with a documented
        substitution made, as the page shows them otherwise (``update_docs``)."""
        if not in_the_tests:
            return self.command if self.marker in ("output", "example") else self.body
        if self.marker == "in the tests":
            text, substitution = self.body, self.argument
        elif self.marker in ("output", "example"):
            text, _, substitution = self.argument.partition(SUBSTITUTE)
        else:
            return self.body
        if not substitution:
            return text.strip() if self.marker in ("output", "example") else text
        old, new = (part.strip() for part in substitution.split("=>"))
        assert old in text, f"{self.where}: 'in the tests' replaces {old!r}, which is not there"
        return text.replace(old, new).strip() if self.marker != "in the tests" else text.replace(old, new)


def blocks(path):
    """Every fenced block of the document at ``path``, in order."""
    text = path.read_text(encoding="utf-8")
    return [
        Block(
            path,
            text.count("\n", 0, m.start("body")),
            m["marker"] or "",
            (m["argument"] or "").strip(),
            m["language"],
            m["body"],
            m.span("body"),
        )  # fmt: skip
        for m in FENCE.finditer(text)
    ]


@contextlib.contextmanager
def inside(directory):
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(before)


def environment():
    """The environment of a block's shell: this Python's commands first, importing the package from src/."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


class Failed(AssertionError):
    pass


def run(block, directory, in_the_tests=True):
    """Run ``block`` in ``directory`` (as the tests run it, or as written); returns what it printed (stdout and
    stderr).  A command block that fails raises Failed with its output."""
    from cnn_backprop.cli import main  # the package under test: on sys.path as the tests and scripts have it

    text = block.text_to_run(in_the_tests)
    if block.language == "sh":
        text = re.sub(rf"^{INSTALL}$", f"# {INSTALL}: the package under test", text, flags=re.M)
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=directory, env=environment(),
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        if done.returncode != 0:
            raise Failed(f"{block.where}: exit status {done.returncode}\n{text}\n{done.stdout[-2000:]}{done.stderr}")
        return done.stdout + done.stderr
    printed = io.StringIO()
    with inside(directory), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        if block.language == "python":
            exec(compile(text, block.where, "exec"), {"__name__": "__main__"})
        else:
            assert text.startswith(COMMAND), f"{block.where}: a shown output names a cnn-backprop command"
            main(shlex.split(text.removeprefix(COMMAND)))
    return printed.getvalue().rstrip("\n")


def without_noise(text):
    """Rounding noise (numbers below 1e-8 in scientific notation) as one placeholder."""
    return re.sub(r"\d\.\d+e-(09|[1-9]\d)", "<below 1e-8>", text)


def without_numbers(text):
    """Every number as one placeholder, and runs of spaces as one (columns are as wide as their numbers)."""
    return re.sub(r" +", " ", re.sub(r"-?\d[\d,]*(\.\d+)?(e[-+]?\d+)?", "#", text))


def agrees(block, printed):
    """Whether what ``block`` shows is what its command printed, by its marker's rule."""
    if block.marker == "output":
        return without_noise(printed) == without_noise(block.body.rstrip("\n"))
    if block.marker == "example":
        return without_numbers(printed) == without_numbers(block.body.rstrip("\n"))
    return True


def files_in(directory):
    """{path relative to ``directory``: SHA-256 of its bytes} of every file under it (a file written again with
    the same bytes has not changed for the reader)."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in Path(directory).rglob("*")
        if path.is_file()
    }


def overwritten(block, before, after):
    """The files an earlier block wrote that ``block`` changed without saying so (``# overwrites NAME``)."""
    announced = re.findall(r"# overwrites (\S+)", block.body)
    changed = [name for name, stat in before.items() if after.get(name, stat) != stat]
    return [name for name in changed if not any(name == said or name.startswith(said.rstrip("/") + "/")
                                                for said in announced)]  # fmt: skip


def run_document(path, directory, check=True):
    """Run every block of ``path`` that runs, in order, in ``directory``.

    With ``check`` (the tests), runs each as the tests do and raises Failed at the first shown output that is not
    what its command prints, and at the first block that changes a file already there unannounced; without, runs
    each as written.  Returns [(block, printed)] of the shown outputs, which ``update_docs`` writes back.
    """
    shown = []
    for block in blocks(path):
        if not block.runs:
            continue
        before = files_in(directory)
        printed = run(block, directory, in_the_tests=check)
        changed = overwritten(block, before, files_in(directory))
        if check and changed:
            raise Failed(f"{block.where}: changes {', '.join(changed)}, written before it, and does not say so")
        if check and block.language == "python" and not printed.strip():
            raise Failed(f"{block.where}: prints nothing, so a reader cannot tell it worked: print what it shows")
        if block.marker in ("output", "example"):
            if check and not agrees(block, printed):
                raise Failed(
                    f"{block.where}: `{block.text_to_run()}` prints\n{printed}\n\nbut the page shows\n{block.body}"
                )
            shown.append((block, printed))
    return shown


def run_every_document(directory, check=True):
    """Run every document in reader order (``documents``) in the one ``directory``; {path: its shown outputs}."""
    return {path: run_document(path, directory, check) for path in documents()}


def rewritten(path, shown):
    """The text of ``path`` with each shown output replaced by what its command printed now."""
    text = path.read_text(encoding="utf-8")
    for block, printed in sorted(shown, key=lambda item: item[0].span, reverse=True):
        start, end = block.span
        text = text[:start] + printed + "\n" + text[end:]
    return text
