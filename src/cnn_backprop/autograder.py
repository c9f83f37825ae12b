"""A ready autograder for Gradescope or PrairieLearn: one zip with this package as a wheel, the sheets, and the
scripts the platform runs; and what those scripts run, the marking of one submission.

Gradescope (https://gradescope-autograders.readthedocs.io/en/latest/specs/) unpacks the zip into
``/autograder/source``, runs ``setup.sh`` there once when it builds its image (it installs the wheel and its
dependencies), and for each submission runs ``run_autograder``, which marks the answers file in
``/autograder/submission`` and writes ``/autograder/results/results.json``.

PrairieLearn's external grader mounts a question's ``tests`` folder (the zip's contents) at ``/grade/tests``, the
student's files at ``/grade/student``, and reads ``/grade/results/results.json``; its entrypoint is
``/grade/tests/run.sh``, which runs this package from the wheel as it is (a zip on PYTHONPATH: the grading image
has NumPy and Matplotlib, no network and no pip) and marks.  The student's sheet comes from the platform where it
can tell (Gradescope's ``submission_metadata.json`` and the roster given to ``autograder --roster``; the
``sheet`` of PrairieLearn's ``data.json`` params), else from the answers file's name.

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
# PrairieLearn's grader has no network, and its grader-python image builds its venv with uv, without pip: the
# package is pure Python, so it runs from the wheel itself (a zip on PYTHONPATH), nothing installed.  Where it
# cannot, results say the real cause: the last line of Python's own error.
PRAIRIELEARN_INSTALL = """if ! "$PYTHON" -c "import cnn_backprop" 2> /dev/null; then
  WHEEL=$(ls "$AUTOGRADER_ROOT"/tests/cnn_backprop-*.whl)
  export PYTHONPATH="$WHEEL${PYTHONPATH:+:$PYTHONPATH}"
  if ! CAUSE=$("$PYTHON" -c "import cnn_backprop.check" 2>&1); then
    SKIP=1
    CAUSE=$(printf '%s\\n' "$CAUSE" | tail -n 1)
    WHY="The grader cannot run cnn-backprop from its wheel: ${CAUSE//\\"/\\'}. It needs Python 3.10+ with NumPy and"
    WHY="$WHY Matplotlib (and threadpoolctl); tell your instructor."
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


def build(sheets, platform, out, decimals=4, points=None, roster=None):
    """Write the autograder zip for ``platform`` to ``out``: its scripts, this package's wheel, the sheets of the
    folder ``sheets`` (exercise_N.json), the marking's settings (decimals, ``points`` as ``api.points_file`` reads
    them) and a ``roster`` (student,sheet CSV) where given.  Returns the names in the zip."""
    from .api import points_file

    given = sheets_of(sheets)
    assigned = files.read_roster(roster) if roster is not None else {}
    stray = sorted({n for n in assigned.values() if n not in given})
    if stray:
        raise InputError(f"{roster}: sheets {', '.join(map(str, stray))} are on the roster but not in {sheets}")
    name, data = wheel()
    settings = {"platform": platform, "decimals": decimals, "points": points_file(points), "roster": assigned}
    members = {name: data, "autograder.json": json.dumps(settings).encode()}
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


def assigned_sheet(root, platform, roster):
    """The sheet number the platform says this student has, or None: Gradescope's submission_metadata.json names
    the students (a roster maps their email, student id or name to a sheet); PrairieLearn's data.json carries the
    question's params, where a question sets its variant's ``sheet``."""
    if platform == "prairielearn":
        data = _json_or_none(Path(root) / "data" / "data.json")
        sheet = ((data or {}).get("params") or {}).get("sheet")
        return int(sheet) if isinstance(sheet, (int, str)) and str(sheet).isdigit() else None
    metadata = _json_or_none(Path(root) / "submission_metadata.json") or {}
    for user in metadata.get("users") or []:
        for field in ("email", "sid", "name"):
            if isinstance(user, dict) and user.get(field) in roster:
                return roster[user[field]]
    return None


def _json_or_none(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def mark_submission(source, submission, platform, root=None):
    """The results (a dict, as ``lms``) of the answers in the folder ``submission`` against the sheets in the
    folder ``source`` (the zip's contents): the student's own sheet where the platform and the roster tell it, else
    the one the file names.  Whatever goes wrong ends in score 0 and a message."""
    from .check import ForeignSheet, Key, mark, read_answers

    try:
        settings = json.loads((Path(source) / "autograder.json").read_text())
        sheets = sheets_of(Path(source) / "sheets")
        path = answers_file(submission)
        roster = {student: int(n) for student, n in (settings.get("roster") or {}).items()}
        number = assigned_sheet(root or Path(source).parent, platform, roster)
        if roster and number is None:
            raise InputError("you are not on this assignment's roster, so your sheet is unknown; tell your instructor")
        given = sheets[number if number in sheets else sheet_for(path, sheets)]
        try:
            key = Key(given)
            marking = mark(key, read_answers(path, key), settings["decimals"], settings.get("points"))
        except InputError as error:  # check's message starts with the full path, which the student never saw
            raise type(error)(str(error).replace(str(path), path.name)) from None
        return lms.RESULTS[platform](marking)
    except ForeignSheet as error:
        return lms.zero(platform, f"Your submission scores 0: {error}")
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
    results = mark_submission(root / platform.source, root / platform.submission, argv[0], root)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(lms.results_json(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
