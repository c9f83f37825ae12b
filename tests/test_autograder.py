"""The autograder zip run as each platform runs it: unzipped under a temporary root, this package installed into a
fresh virtual environment from the wheel in the zip, a submission dropped in, the script run, results.json read.

The fresh environment gets NumPy, Matplotlib and threadpoolctl from the test's own environment (a .pth naming a
folder of links to its packages, all but cnn-backprop's own), so nothing is downloaded; the wheel is installed
by pip from the zip, and the scripts run with no PYTHONPATH, so what marks is what the wheel holds.
"""

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from test_check import COMMAND, key_answers
from test_exercise import TWO_CONV
from test_lms import answers_json, valid
from test_mistakes import BY_KIND, answers_carried

from cnn_backprop import autograder, walkthrough
from cnn_backprop.cli import main

SHEETS = 2


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    """A fresh virtual environment's Python whose site-packages see this one's packages but cnn-backprop."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    links = root / "packages"
    links.mkdir()
    ours = Path(site.getsitepackages()[0])
    for entry in ours.iterdir():
        if not entry.name.startswith(("cnn_backprop", "__editable__", "_cnn_backprop")) and entry.suffix != ".pth":
            (links / entry.name).symlink_to(entry)
    (theirs,) = (root / "venv" / "lib").glob("python*/site-packages")
    (theirs / "packages.pth").write_text(f"{links}\n")
    return root / "venv" / "bin" / "python"


@pytest.fixture(scope="module")
def sheets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sheets")
    command = ["exercise", "--count", str(SHEETS), "--seed", "5", "--net", TWO_CONV, "--integers", "--out", str(folder)]
    assert main(command) == 0
    return folder


def environment(python, root):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "PYTHON": str(python), "AUTOGRADER_ROOT": str(root)}


def unpack(sheets, platform, root):
    """The zip for ``platform``, unpacked where the platform unpacks it; returns the folder."""
    assert main(["autograder", "--sheets", str(sheets), "--platform", platform, "--out", str(root / "a.zip")]) == 0
    source = root / autograder.PLATFORMS[platform].source
    with zipfile.ZipFile(root / "a.zip") as archive:
        archive.extractall(source)
        for info in archive.infolist():  # extractall drops the modes: set the scripts' executable bit back
            (source / info.filename).chmod(info.external_attr >> 16 & 0o777 or 0o644)
    return source


def submit(python, root, platform, script, files):
    """Run ``script`` on a submission of ``files`` {name: text}; the results.json it wrote, checked."""
    submission = root / autograder.PLATFORMS[platform].submission
    if submission.exists():
        for old in submission.iterdir():
            old.unlink()
    submission.mkdir(exist_ok=True)
    for name, text in files.items():
        (submission / name).write_text(text)
    results = root / "results" / "results.json"
    results.unlink(missing_ok=True)
    done = subprocess.run([str(script)], env=environment(python, root), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return valid(platform, results.read_text())


def answers(sheets, number):
    """A filled-in answers file of sheet ``number`` as JSON text, all right."""
    return answers_json(
        key_answers(walkthrough.complete_given(json.loads((sheets / f"exercise_{number}.json").read_text())))
    )


def relu_mask_left_out(sheets, number, layer):
    """Answers to sheet ``number`` with dL/d(the input of ReLU ``layer``) unmasked, carried on below it."""
    given = walkthrough.complete_given(json.loads((sheets / f"exercise_{number}.json").read_text()))
    pass_ = walkthrough.run(given)
    return answers_json(answers_carried(given, *BY_KIND["relu"]["no-relu-mask"](pass_, next(n for n in pass_.arch.named
                                                                            if n.name == layer))))  # fmt: skip


def bad_submissions(sheets):
    """{what: (files, what the message must say)}."""
    other = walkthrough.to_json(walkthrough.run(walkthrough.complete_given(
        json.loads((sheets / "exercise_2.json").read_text()))))  # fmt: skip
    return {
        "empty": ({}, "no answers file was submitted"),
        "not JSON": ({"exercise_1_answers.json": "my answers: 1, 2, 3"}, "exercise_1_answers.json: not valid JSON"),
        "another sheet's": ({"exercise_1_answers.json": other}, "these answers are for another instance"),
        "no such sheet": ({"exercise_9_answers.json": "{}"}, "names sheet 9, which is not one of this assignment's"),
        "unknown quantity": ({"exercise_1_answers.csv": "quantity,index,answer\nforward.conv,0,1\n"},
                             "unknown quantity forward.conv"),
    }  # fmt: skip


def test_gradescope(python, sheets, tmp_path):
    source = unpack(sheets, "gradescope", tmp_path)
    subprocess.run(["bash", str(source / "setup.sh")], env=environment(python, tmp_path), check=True, cwd=source)
    where = subprocess.run([str(python), "-c", "import cnn_backprop; print(cnn_backprop.__file__)"],
                           env=environment(python, tmp_path), capture_output=True, text=True, check=True)  # fmt: skip
    assert "/venv/lib/" in where.stdout  # the wheel's copy, not this worktree's
    script = tmp_path / "run_autograder"  # Gradescope copies it to the root
    script.write_text((source / "run_autograder").read_text())
    script.chmod(0o755)
    right = submit(python, tmp_path, "gradescope", script, {"exercise_2_answers.json": answers(sheets, 2)})
    assert right["score"] == sum(t["max_score"] for t in right["tests"]) == 24  # a point a quantity
    # a mistake deep in a two-conv network: named there, and what follows from it carried
    mistaken = submit(python, tmp_path, "gradescope", script, {"exercise_2_answers.json":
                      relu_mask_left_out(sheets, 2, "conv2_relu")})  # fmt: skip
    sizes, forward, backward = mistaken["tests"]
    assert sizes["score"] == sizes["max_score"] and forward["score"] == forward["max_score"]
    assert "- `backward.conv2_pre`: 0" in backward["output"] and ": **no-relu-mask**: " in backward["output"]
    assert "- `backward.conv1_kernel`: 1 of 1 point" in backward["output"] and "carried at" in backward["output"]
    assert backward["max_score"] - 1 <= backward["score"] < backward["max_score"]  # one quantity wrong, no more
    for what, (submitted, message) in bad_submissions(sheets).items():
        results = submit(python, tmp_path, "gradescope", script, submitted)
        assert results["score"] == 0 and results["tests"] == [], what
        assert message in results["output"] and str(tmp_path) not in results["output"], (what, results["output"])


def test_prairielearn(python, sheets, tmp_path):
    source = unpack(sheets, "prairielearn", tmp_path)
    right = submit(python, tmp_path, "prairielearn", source / "run.sh", {"answers.json": answers(sheets, 1)})
    assert "cannot tell which sheet answers.json answers: name it exercise_N_answers.json" in right["message"]
    right = submit(python, tmp_path, "prairielearn", source / "run.sh", {"exercise_1_answers.json": answers(sheets, 1)})
    assert right["gradable"] and right["score"] == 1.0
    assert [t["points"] for t in right["tests"]] == [t["max_points"] for t in right["tests"]]
    for what, (submitted, message) in bad_submissions(sheets).items():
        results = submit(python, tmp_path, "prairielearn", source / "run.sh", submitted)
        # another sheet's answers are marked, and worth 0; the others cannot be marked and cost no attempt
        assert results["score"] == 0 and results["gradable"] == (what == "another sheet's"), what
        assert message in results["message"], what


def test_the_zip_holds_the_scripts_the_wheel_and_the_sheets(sheets, tmp_path):
    for platform, scripts in (("gradescope", ["setup.sh", "run_autograder"]), ("prairielearn", ["run.sh"])):
        main(["autograder", "--sheets", str(sheets), "--platform", platform, "--out", str(tmp_path / "a.zip")])
        with zipfile.ZipFile(tmp_path / "a.zip") as archive:
            names = archive.namelist()
            assert names[: len(scripts)] == scripts
            assert all(archive.getinfo(s).external_attr >> 16 & 0o111 for s in scripts)
            assert {f"sheets/exercise_{n}.json" for n in range(1, SHEETS + 1)} <= set(names)
            (wheel,) = [n for n in names if n.endswith("-py3-none-any.whl")]
            archive.extract(wheel, tmp_path)
        with zipfile.ZipFile(tmp_path / wheel) as built:
            inside = built.namelist()
            assert "cnn_backprop/check.py" in inside and "cnn_backprop/explorer/quiz.js" in inside
            record = built.read(next(n for n in inside if n.endswith("RECORD"))).decode()
            assert all(name in record for name in inside)


def test_prairielearn_on_a_venv_without_pip_and_no_network(sheets, tmp_path):
    """PrairieLearn's grader-python image: a venv built by uv, no pip, NumPy and Matplotlib there, no network."""
    venv = tmp_path / "uv-like"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    links = tmp_path / "packages"
    links.mkdir()
    for entry in Path(site.getsitepackages()[0]).iterdir():
        if entry.name.startswith(("numpy", "matplotlib", "threadpoolctl")) or entry.name in (
                "PIL", "kiwisolver", "pyparsing", "cycler", "dateutil", "six.py", "packaging", "fontTools",
                "contourpy", "pillow.libs", "numpy.libs"):  # fmt: skip
            (links / entry.name).symlink_to(entry)
    (theirs,) = (venv / "lib").glob("python*/site-packages")
    (theirs / "packages.pth").write_text(f"{links}\n")
    python = venv / "bin" / "python"
    assert subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True).returncode != 0
    source = unpack(sheets, "prairielearn", tmp_path)
    script = tmp_path / "offline.sh"  # the script run with the network off, as the platform runs it
    script.write_text(f"#!/bin/sh\nexec unshare -n bash {source / 'run.sh'}\n")
    script.chmod(0o755)
    right = submit(python, tmp_path, "prairielearn", script, {"exercise_1_answers.json": answers(sheets, 1)})
    assert right["gradable"] and right["score"] == 1.0, right


def test_a_grader_that_cannot_run_this_package_says_so(sheets, tmp_path):
    bare = tmp_path / "bare"  # a Python without pip, NumPy or cnn-backprop
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    for platform, why in (("prairielearn", "cannot run cnn-backprop from its wheel: ModuleNotFoundError: No module "
                           "named 'numpy'"), ("gradescope", "could not run")):  # fmt: skip
        root = tmp_path / platform
        root.mkdir()
        source = unpack(sheets, platform, root)
        script = source / autograder.PLATFORMS[platform].run
        results = submit(bare / "bin" / "python", root, platform, script, {"exercise_1_answers.json": "{}"})
        assert results["score"] == 0 and why in json.dumps(results)


@pytest.mark.parametrize("options,message", [
    (["--sheets", "nowhere", "--out", "a.zip"], "nowhere: no such folder, expected exercise_N.json sheets"),
    (["--sheets", ".", "--out", "a.tar"], "the file name must end in .zip"),
])  # fmt: skip
def test_bad_autograder_options_exit_2_with_one_line(tmp_path, options, message):
    done = subprocess.run([COMMAND, "autograder", "--platform", "gradescope", *options], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not list(tmp_path.iterdir())


def test_without_the_package_installed_the_autograder_says_how(monkeypatch, sheets, tmp_path, capsys):
    def not_installed(name):
        raise autograder.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(autograder.metadata, "distribution", not_installed)
    status = main(["autograder", "--sheets", str(sheets), "--platform", "gradescope", "--out", str(tmp_path / "a.zip")])
    assert status == 2 and "cnn-backprop is not installed here: pip install ." in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_with_a_roster_each_student_is_marked_against_their_own_sheet(sheets, tmp_path):
    """Gradescope names the student in submission_metadata.json; the roster gives their sheet; a classmate's
    filled-in template (another sheet's) scores 0 and says whose sheet it is."""
    roster = tmp_path / "roster.csv"
    roster.write_text("student,sheet\nana@uni.edu,1\nben@uni.edu,2\n")
    assert main(["autograder", "--sheets", str(sheets), "--platform", "gradescope", "--out", str(tmp_path / "a.zip"),
                 "--roster", str(roster)]) == 0  # fmt: skip
    source = tmp_path / "source"
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        archive.extractall(source)
    filled = {}
    for number in (1, 2):
        template = json.loads((sheets / f"exercise_{number}_answers.json").read_text())
        template.update(json.loads(answers(sheets, number)))
        filled[number] = template
    results = {}
    for student in ("ana", "ben"):
        (tmp_path / "submission_metadata.json").write_text(json.dumps({"users": [{"email": f"{student}@uni.edu"}]}))
        submission = tmp_path / student
        submission.mkdir()
        (submission / "exercise_2_answers.json").write_text(json.dumps(filled[2]))  # both hand in sheet 2's
        results[student] = autograder.mark_submission(source, submission, "gradescope", tmp_path)
    assert results["ben"]["score"] == sum(t["max_score"] for t in results["ben"]["tests"]) == 24
    assert results["ana"]["score"] == 0 and "these answers are for sheet 2" in results["ana"]["output"]
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"users": [{"email": "eve@uni.edu"}]}))
    results = autograder.mark_submission(source, tmp_path / "ben", "gradescope", tmp_path)
    assert results["score"] == 0 and "you are not on this assignment's roster" in results["output"]


def test_prairielearn_takes_the_sheet_from_the_questions_params(sheets, tmp_path):
    assert main(["autograder", "--sheets", str(sheets), "--platform", "prairielearn", "--out",
                 str(tmp_path / "a.zip")]) == 0  # fmt: skip
    source = tmp_path / "tests"
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        archive.extractall(source)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "data.json").write_text(json.dumps({"params": {"sheet": 1}}))
    submission = tmp_path / "student"
    submission.mkdir()
    template = json.loads((sheets / "exercise_2_answers.json").read_text())
    template.update(json.loads(answers(sheets, 2)))
    (submission / "answers.json").write_text(json.dumps(template))
    results = autograder.mark_submission(source, submission, "prairielearn", tmp_path)
    assert results["gradable"] and results["score"] == 0 and "these answers are for sheet 2" in results["message"]
