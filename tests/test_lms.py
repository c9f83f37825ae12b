"""Marking for the platforms: Gradescope's and PrairieLearn's results.json (checked against schemas of the fields
each platform reads), whose points add up to the CSV's, and the students' feedback pages."""

import csv
import json
import subprocess

import numpy as np
import pytest
from test_check import COMMAND, key_answers
from test_mistakes import BY_KIND, answers_carried

from cnn_backprop import check, lms, walkthrough
from cnn_backprop.cli import main

jsonschema = pytest.importorskip("jsonschema")  # installed with nbclient (nbformat validates notebooks with it)

COUNT, TEXT = {"type": "number", "minimum": 0}, {"type": "string"}


def schema(fields, tests, required):
    """An object with exactly ``fields`` (``required`` of them required), its ``tests`` an array of objects with
    exactly the fields ``tests``, all required."""
    test = {"type": "object", "required": list(tests), "properties": tests, "additionalProperties": False}
    properties = {**fields, "tests": {"type": "array", "items": test}}
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


# https://gradescope-autograders.readthedocs.io/en/latest/specs/
GRADESCOPE = schema(
    {"score": {"type": "number", "minimum": 0}, "output": TEXT, "output_format": {"enum": ["md"]}},
    {"name": TEXT, "score": COUNT, "max_score": COUNT, "output": TEXT, "output_format": {"enum": ["md"]},
     "visibility": {"enum": ["visible"]}},
    ["score", "output_format", "tests"],
)  # fmt: skip
# PrairieLearn's docs/externalGrading.md, "Grading results"
PRAIRIELEARN = schema(
    {"gradable": {"type": "boolean"}, "score": {"type": "number", "minimum": 0, "maximum": 1}, "message": TEXT,
     "format_errors": {"type": "array", "items": TEXT}},
    {"name": TEXT, "points": COUNT, "max_points": COUNT, "message": TEXT, "output": TEXT},
    ["gradable", "score", "message", "tests"],
)  # fmt: skip
SCHEMAS = {"gradescope": GRADESCOPE, "prairielearn": PRAIRIELEARN}


def valid(platform, text):
    """The results.json text as a dict, checked against the platform's fields."""
    assert len(text.encode()) < lms.PRAIRIELEARN_LIMIT
    results = json.loads(text)
    jsonschema.validate(results, SCHEMAS[platform])
    return results


def answers_json(answers):
    """{(part, name): array, NaN where blank} as an answers file's JSON text."""
    document = {part: {} for part in check.PARTS}
    for (part, name), value in answers.items():
        document[part][name] = np.where(np.isnan(value), None, value).tolist()
    return json.dumps(document)


@pytest.fixture(scope="module")
def marked_class(tmp_path_factory):
    """Two sheets; ana answers all right, ben makes the notebook's fc-weight-grad mistake (and carries it) and
    leaves the pooled map blank."""
    root = tmp_path_factory.mktemp("class")
    sheets, answers = root / "sheets", root / "answers"
    main(["exercise", "--count", "2", "--seed", "1", "--out", str(sheets)])
    answers.mkdir()
    for number in (1, 2):
        given = walkthrough.complete_given(json.loads((sheets / f"exercise_{number}.json").read_text()))
        right = key_answers(given)
        (answers / f"ana_{number}.json").write_text(answers_json(right))
        pass_ = walkthrough.run(given)
        wrong = answers_carried(
            given, *BY_KIND["dense"]["fc-weight-grad"][0](pass_, next(n for n in pass_.arch.named if n.name == "fc"))
        )
        wrong = {where: value for where, value in wrong.items() if where in right}
        wrong[("forward", "pool")] = np.full(np.shape(right[("forward", "pool")]), np.nan)
        (answers / f"ben_{number}.json").write_text(answers_json(wrong))
    return root, sheets, answers


def run_grade(root, sheets, answers, *options):
    return main(["grade", "--sheets", str(sheets), "--answers", str(answers), *options])


def test_gradescope_and_prairielearn_results_add_up_to_the_csv(marked_class, capsys):
    root, sheets, answers = marked_class
    assert run_grade(root, sheets, answers, "--out", str(root / "grades.csv")) == 0
    with (root / "grades.csv").open() as handle:
        rows = {f"{row['student']}_{row['sheet']}": row for row in csv.DictReader(handle)}
    for platform in lms.PLATFORMS:
        out = root / platform
        assert run_grade(root, sheets, answers, "--format", platform, "--out", str(out)) == 0
        assert sorted(p.parent.name for p in out.glob("*/results.json")) == sorted(rows)
        for name, row in rows.items():
            results = valid(platform, (out / name / "results.json").read_text())
            tests = results["tests"]
            assert [t["name"] for t in tests] == ["1. Output sizes", "2. Forward pass", "3. Backward pass"]
            got = "score" if platform == "gradescope" else "points"
            top = "max_score" if platform == "gradescope" else "max_points"
            assert [t[got] for t in tests] == [float(row[f"q{q}"]) for q in (1, 2, 3)]
            assert [t[top] for t in tests] == [float(row[f"q{q}_total"]) for q in (1, 2, 3)] == [3, 6, 8]
            if platform == "gradescope":
                assert results["score"] == float(row["score"]) and results["output_format"] == "md"
            else:
                assert results["score"] == pytest.approx(float(row["score"]) / float(row["total"]))
            backward = tests[2]["output"]
            if name.startswith("ben"):
                mistake = "**fc-weight-grad**" if platform == "gradescope" else "fc-weight-grad"
                assert backward.count(check.MISTAKES["fc-weight-grad"]) == 1  # said once
                assert f"wrong at all 4: {mistake}: " in backward and "carried at" in backward
                assert lms.CARRIED in backward and "4 blank" in tests[1]["output"]
            else:
                assert "wrong" not in backward and tests[2][got] == tests[2][top]
            if platform == "prairielearn":  # shown as it is, in <pre>: no Markdown
                assert "`" not in json.dumps(results) and "**" not in json.dumps(results)


def test_feedback_pages_a_line_a_quantity_and_each_mistake_once(marked_class, capsys):
    root, sheets, answers = marked_class
    pages = root / "feedback"
    assert run_grade(root, sheets, answers, "--out", str(root / "g.csv"), "--feedback", str(pages)) == 0
    assert sorted(p.name for p in pages.iterdir()) == ["ana_1.md", "ana_2.md", "ben_1.md", "ben_2.md"]
    ben, ana = (pages / "ben_1.md").read_text(), (pages / "ana_2.md").read_text()
    quantities = [line for line in ben.splitlines() if line.startswith("- `")]
    assert len(quantities) == 17 == len([line for line in ana.splitlines() if line.startswith("- `")])
    assert "- `forward.pool`: 0 of 1 point; 4 blank" in ben and "Score: 15 of 17 points." in ben
    assert ben.count(check.MISTAKES["fc-weight-grad"]) == 1 and ben.count(lms.CARRIED) >= 1
    assert "- `backward.conv_bias`: 1 of 1 point; 1 carried\n  - carried at its value: " + lms.CARRIED in ben
    assert "Score: 17 of 17 points." in ana and "wrong" not in ana and len(ben.splitlines()) < 50


def test_check_writes_either_platforms_results(marked_class, capsys):
    root, sheets, answers = marked_class
    for platform in lms.PLATFORMS:
        capsys.readouterr()
        status = main(["check", "--given", str(sheets / "exercise_1.json"), str(answers / "ben_1.json"),
                       "--format", platform])  # fmt: skip
        assert status == 1  # not all right, as with text
        results = valid(platform, capsys.readouterr().out)
        assert "fc-weight-grad" in results["tests"][2]["output"]


def test_csv_grades_need_a_csv_name_and_nothing_is_written(marked_class, tmp_path):
    root, sheets, answers = marked_class
    done = subprocess.run([COMMAND, "grade", "--sheets", str(sheets), "--answers", str(answers), "--out",
                           str(tmp_path / "grades.txt")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "must end in .csv (with --format csv)" in done.stderr and not list(tmp_path.iterdir())


def test_a_submission_that_cannot_be_marked_scores_0_and_says_why():
    for platform in lms.PLATFORMS:
        results = valid(platform, lms.results_json(lms.unreadable(platform, "answers.txt: not JSON")))
        assert results["score"] == 0 and "answers.txt: not JSON" in json.dumps(results)
