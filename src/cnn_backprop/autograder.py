"""A ready autograder for Gradescope or PrairieLearn: one zip with this package as a wheel, the sheets, and the
scripts the platform runs; and what those scripts run, the marking of one submission.

Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) unpacks the zip into
``/autograder/source``, runs ``setup.sh`` there once when it builds its image (it installs the wheel and its
dependencies), and for each submission runs ``run_autograder``, which marks the answers file in
``/autograder/submission`` and writes ``/autograder/results/results.json``.

PrairieLearn's external grader mounts a question's ``tests`` folder (the zip's contents) at ``/grade/tests``, the
student's files at ``/grade/student``, and reads ``/grade/results/results.json``; its entrypoint is
``/grade/tests/run.sh``, which installs the wheel (without its dependencies: the grading image has NumPy,
Matplotlib and scikit-learn, and no network) and marks.

Both take the root (``/autograder``, ``/grade``) from the environment variable AUTOGRADER_ROOT, and the Python
from PYTHON (default python3).  A submission that cannot be marked (no answers file, bad JSON, an unknown
quantity, another sheet's answers) gets score 0 and a message saying what to fix, never a crash.
"""

import base64
import hashlib
import io
import json
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from . import files, lms, walkthrough
from .exercise import given_json
from .validate import InputError

DISTRIBUTION = "cnn-backprop"
ROOT_VARIABLE = "AUTOGRADER_ROOT"
SHEET_NAME = re.compile(r"exercise_0*(\d+)\.json")
# an answers file names its sheet as the template does (exercise_7_answers.json) or as grade's do (ana_7.csv)
NAMED_SHEET = re.compile(r"(?:.*[_-])?(?:exercise_)?0*(\d+)(?:_answers)?\.(?:json|csv)", re.IGNORECASE)


@dataclass(frozen=True)
class Platform:
    """Where a platform puts things, under its root (the zip's contents, the student's files), and the scripts
    it runs: {file name in the zip: its text}."""

    name: str
    root: str
    source: str
    submission: str
    run: str  # the marking script's name
    failed: str  # results.json where the marking cannot run, a printf format of the message
    setup: str = ""  # a script run once, before any submission
    install: str = ""  # shell lines the marking script runs first: "$WHY" set when they fail

    @property
    def scripts(self):
        marking = f"""#!/usr/bin/env bash
# cnn-backprop's autograder for {self.name}: marks the student's answers file, writes results/results.json,
# and where Python or this package cannot run, a results.json that says so.
export {ROOT_VARIABLE}="${{{ROOT_VARIABLE}:-{self.root}}}"
PYTHON="${{PYTHON:-python3}}"
RESULTS="${ROOT_VARIABLE}"/results
mkdir -p "$RESULTS"
WHY="The autograder could not run cnn-backprop (its output says why); tell your instructor."
{self.install}if [ -z "$SKIP" ] && "$PYTHON" -m cnn_backprop.autograder {self.name}; then
  exit 0
fi
printf '{self.failed}\\n' "$WHY" > "$RESULTS"/results.json
"""
        return {**({"setup.sh": self.setup} if self.setup else {}), self.run: marking}


SETUP = """#!/usr/bin/env bash
# Run once by Gradescope when it builds the autograder's image: this package and its dependencies.
set -e
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip --version > /dev/null 2>&1 || (apt-get update && apt-get install -y python3 python3-pip)
PIP_BREAK_SYSTEM_PACKAGES=1 "$PYTHON" -m pip install --quiet "$HERE"/cnn_backprop-*.whl
"""
# PrairieLearn's grader has no network: the wheel alone (the image has its dependencies), or results saying why.
PRAIRIELEARN_INSTALL = """if ! "$PYTHON" -c "import cnn_backprop" 2> /dev/null; then
  WHEEL=$(ls "$AUTOGRADER_ROOT"/tests/cnn_backprop-*.whl)
  export PIP_BREAK_SYSTEM_PACKAGES=1
  if ! "$PYTHON" -m pip install --quiet --no-deps --no-index "$WHEEL" > "$RESULTS"/install.log 2>&1; then
    SKIP=1
    WHY="The grader could not install cnn-backprop (see install.log): it needs Python 3.10+, NumPy, Matplotlib and"
    WHY="$WHY scikit-learn."
  fi
fi
"""

PLATFORMS = {
    "gradescope": Platform("gradescope", "/autograder", "source", "submission", "run_autograder",
                           '{"score": 0, "output": "%s", "output_format": "md", "tests": []}', setup=SETUP),
    "prairielearn": Platform("prairielearn", "/grade", "tests", "student", "run.sh",
                             '{"gradable": false, "score": 0, "message": "%s", "tests": []}',
                             install=PRAIRIELEARN_INSTALL),
}  # fmt: skip


# The wheel ------------------------------------------------------------------------------------------------


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel():
    """(file name, bytes) of this package as a wheel: its installed files and metadata, as ``pip wheel`` makes it
    from the project (the package is pure Python: py3-none-any)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise InputError("the autograder's wheel is made from the installed package, and cnn-backprop is not "
                         "installed here: pip install . (or pip install -e .) first") from None  # fmt: skip
    stem = f"{DISTRIBUTION.replace('-', '_')}-{dist.version}"
    contents = {}
    package = resources.files("cnn_backprop")
    for path in sorted(Path(str(package)).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            contents[f"cnn_backprop/{path.relative_to(str(package)).as_posix()}"] = path.read_bytes()
    info = f"{stem}.dist-info"
    contents[f"{info}/METADATA"] = (dist.read_text("METADATA") or "").encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: cnn-backprop\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    contents[f"{info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    record = [_record_line(name, data) for name, data in contents.items()] + [f"{info}/RECORD,,"]
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return f"{stem}-py3-none-any.whl", out.getvalue()


# Building the zip -----------------------------------------------------------------------------------------


def sheets_of(directory):
    """{number: the sheet's instance} of the exercise_N.json in ``directory``, each checked."""
    numbered = files.numbered_files(directory, SHEET_NAME.pattern, "exercise_N.json sheets")
    return {n: walkthrough.complete_given(files.read_json(path), where=str(path)) for n, path in numbered.items()}


def build(sheets, platform, out, decimals=4):
    """Write the autograder zip for ``platform`` to ``out``: its scripts, this package's wheel, the sheets of the
    folder ``sheets`` (exercise_N.json) and the marking's settings.  Returns the names in the zip."""
    given = sheets_of(sheets)
    name, data = wheel()
    members = {name: data, "autograder.json": json.dumps({"platform": platform, "decimals": decimals}).encode()}
    members.update({f"sheets/exercise_{n}.json": given_json(g).encode() for n, g in given.items()})

    def write(handle):
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for script, text in PLATFORMS[platform].scripts.items():
                executable = zipfile.ZipInfo(script)
                executable.external_attr = 0o100755 << 16  # a regular file, rwxr-xr-x: the platform runs it
                archive.writestr(executable, text)
            for member, content in members.items():
                archive.writestr(member, content)

    files.atomic_write(out, write)
    return [*PLATFORMS[platform].scripts, *members]


# Marking one submission -----------------------------------------------------------------------------------


def answers_file(submission):
    """The one answers file (.json or .csv) among the student's files, or an InputError saying what to upload."""
    found = sorted(p for p in Path(submission).rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".csv"))
    found = [p for p in found if not p.name.startswith(".")]
    if len(found) > 1:
        found = [p for p in found if p.stem.lower().endswith("_answers")] or found
    if not found:
        raise InputError("no answers file was submitted: upload your filled-in exercise_N_answers.json (or .csv)")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(f"several answers files were submitted ({names}): upload only your exercise_N_answers file")
    return found[0]


def sheet_for(path, sheets):
    """The number of the sheet an answers file answers: the only one, the one its name says, or the one whose
    instance is its ``given`` (a whole walkthrough --json)."""
    if len(sheets) == 1:
        return next(iter(sheets))
    named = NAMED_SHEET.fullmatch(path.name)
    if named:
        number = int(named.group(1))
        if number not in sheets:
            raise InputError(f"{path.name} names sheet {number}, which is not one of this assignment's "
                             f"({', '.join(map(str, sorted(sheets)))}): check the number in its name")  # fmt: skip
        return number
    if path.suffix.lower() == ".json":
        given = files.read_json(path)
        given = given.get("given") if isinstance(given, dict) else None
        for number, sheet in sheets.items():
            if isinstance(given, dict) and walkthrough.to_json(
                walkthrough.complete_given(given)
            ) == walkthrough.to_json(sheet):
                return number
    raise InputError(f"cannot tell which sheet {path.name} answers: name it exercise_N_answers{path.suffix} with N "
                     f"your sheet's number ({', '.join(map(str, sorted(sheets)))})")  # fmt: skip


def mark_submission(source, submission, platform):
    """The results (a dict, as ``lms``) of the answers in the folder ``submission`` against the sheets in the
    folder ``source`` (the zip's contents).  Whatever goes wrong ends in score 0 and a message."""
    from .check import Key, mark, read_answers

    try:
        settings = json.loads((Path(source) / "autograder.json").read_text())
        sheets = sheets_of(Path(source) / "sheets")
        path = answers_file(submission)
        given = sheets[sheet_for(path, sheets)]
        try:
            entries = mark(given, read_answers(path, Key(given)), settings["decimals"])
        except InputError as error:  # check's message starts with the full path, which the student never saw
            raise InputError(str(error).replace(str(path), path.name)) from None
        return lms.RESULTS[platform](entries)
    except InputError as error:
        return lms.unreadable(platform, f"Your submission could not be marked: {error}")
    except Exception as error:  # noqa: BLE001 - the student gets a results file whatever happens
        return lms.unreadable(platform, f"The autograder failed ({type(error).__name__}: {error}); tell your "
                                        "instructor, and keep your answers file")  # fmt: skip


def main(argv=None):
    """``python -m cnn_backprop.autograder PLATFORM``: mark the submission under $AUTOGRADER_ROOT (default: the
    platform's root) and write its results.json there."""
    argv = sys.argv[1:] if argv is None else argv
    platform = PLATFORMS[argv[0]] if argv and argv[0] in PLATFORMS else None
    if platform is None:
        print(f"usage: python -m cnn_backprop.autograder {{{','.join(PLATFORMS)}}}", file=sys.stderr)
        return 2
    root = Path(os.environ.get(ROOT_VARIABLE) or platform.root)
    results = mark_submission(root / platform.source, root / platform.submission, argv[0])
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(lms.results_json(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
