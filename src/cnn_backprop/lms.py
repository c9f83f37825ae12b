"""A marking in the formats learning platforms read, and as a feedback page for the student.

- Gradescope's autograder ``results.json``: ``score`` (points), ``output_format`` "md" and ``tests``, one per
  question (sizes, forward, backward) with its ``score``, ``max_score``, ``output`` (the feedback, in Markdown)
  and ``visibility``.
- PrairieLearn's external grader ``results.json``: ``gradable``, ``score`` (a fraction, 0 to 1), ``message`` and
  ``tests``, one per question with its ``points``, ``max_points``, ``message`` and ``output`` (plain text: the
  platform shows it as it is); at most 1 MB.

The points are the marking's (``check.Marking``: each quantity its share), the same as ``grade``'s CSV.  The
feedback says, a line a quantity, what earned and what did not, and for each wrong or carried group of answers
the mistake behind it once, never the key's numbers: a student may submit again.
"""

import json

from .check import PARTS, QUESTION, score
from .text import points

PLATFORMS = ("gradescope", "prairielearn")
FORMATS = ("csv", *PLATFORMS)  # grade's: csv, today's table, or one results.json per student and sheet
PRAIRIELEARN_LIMIT = 1_000_000  # bytes: PrairieLearn refuses a larger results.json
CARRIED = "computed correctly from your own earlier answers (wrong only because an earlier one was), so it counts"
SHOWN = 6  # indices listed for a group of answers, then "and N more"


def _where(rows, total):
    if len(rows) == total > 1:
        return f"all {total}"
    shown = ", ".join(f"[{','.join(map(str, e.index))}]" for e in rows[:SHOWN] if e.index) or "its value"
    return shown + (f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else "")


def _why(entry):
    if entry.void or entry.verdict == "wrong":
        return entry.explanation or "no known mistake gives it"
    return CARRIED


def quantity_lines(quantity, rows, earned, worth, markdown=True):
    """A quantity's feedback: one line with its points and counts; for its answers that are wrong, carried or
    earn nothing, one line per group (the same verdict and mistake) with where and why, each said once."""
    name = f"`{quantity}`" if markdown else quantity
    counts = {v: sum(e.verdict == v for e in rows) for v in ("right", "carried", "wrong", "blank")}
    said = ", ".join(f"{n} {v}" for v, n in counts.items() if n) if rows else "not answered"
    voided = sum(e.void is not None for e in rows)
    said += f" ({voided} of them earn nothing)" if voided else ""
    lines = [f"- {name}: {points(earned)} of {points(worth)} point{'s' if worth != 1 else ''}; {said}"]
    groups = {}
    for entry in rows:
        if entry.verdict in ("wrong", "carried") or entry.void:
            groups.setdefault((entry.verdict, entry.mistake, entry.void), []).append(entry)
    for (verdict, mistake, void), found in groups.items():
        label = mistake or void
        label = f"**{label}**: " if markdown and mistake else f"{label}: " if label else ""
        lines.append(f"  - {verdict} at {_where(found, len(rows))}: {label}{_why(found[0])}")
    return lines


def question_feedback(marking, markdown=True):
    """One question's feedback (a ``Marking`` of one part), a line a quantity and a line a group of answers."""
    by_quantity = {}
    for entry in marking.entries:
        by_quantity.setdefault(entry.quantity, []).append(entry)
    lines = []
    for quantity, (earned, worth) in marking.points.items():
        lines += quantity_lines(quantity, by_quantity.get(quantity, []), earned, worth, markdown)
    return "\n".join(lines)


def by_question(marking):
    """[(the question's title, its Marking)] in the order of the sheet, each question the sheet asks."""
    return [(QUESTION[part], marking.of(part)) for part in PARTS if marking.of(part).points]


def summary(marking):
    got, total = score(marking)
    return f"{points(got)} of {points(total)} points"


def gradescope(marking):
    """Gradescope's results.json as a dict: one test per question, its points and Markdown feedback."""
    tests = []
    for title, part in by_question(marking):
        got, total = score(part)
        tests.append({"name": title, "score": round(got, 4), "max_score": round(total, 4),
                      "output": question_feedback(part), "output_format": "md", "visibility": "visible"})  # fmt: skip
    return {"score": round(marking.score, 4), "output": summary(marking), "output_format": "md", "tests": tests}


def prairielearn(marking):
    """PrairieLearn's results.json as a dict: the score as a fraction, one test per question, in plain text."""
    tests = []
    for title, part in by_question(marking):
        got, total = score(part)
        tests.append({"name": title, "points": round(got, 4), "max_points": round(total, 4),
                      "message": summary(part), "output": question_feedback(part, markdown=False)})  # fmt: skip
    got, total = score(marking)
    return {"gradable": True, "score": round(got / total, 6) if total else 0.0, "message": summary(marking),
            "tests": tests}  # fmt: skip


RESULTS = {"gradescope": gradescope, "prairielearn": prairielearn}


def unreadable(platform, message):
    """The results of a submission that cannot be marked: score 0 and ``message``, what to fix."""
    if platform == "gradescope":
        return {"score": 0, "output": message, "output_format": "md", "tests": []}
    # not gradable: PrairieLearn shows the message and takes no attempt from the student
    return {"gradable": False, "score": 0.0, "message": message, "format_errors": [message], "tests": []}


def zero(platform, message):
    """The results of a submission marked and worth nothing (another sheet's answers): score 0 and ``message``."""
    if platform == "gradescope":
        return {"score": 0, "output": message, "output_format": "md", "tests": []}
    return {"gradable": True, "score": 0.0, "message": message, "tests": []}


def results_json(results):
    """The results as the text of results.json; PrairieLearn's kept under its 1 MB by shortening outputs."""
    text = json.dumps(results, indent=2) + "\n"
    while len(text.encode()) > PRAIRIELEARN_LIMIT and any(len(t.get("output", "")) > 200 for t in results["tests"]):
        for test in results["tests"]:
            test["output"] = test["output"][: len(test["output"]) // 2] + "\n\n(shortened)"
        text = json.dumps(results, indent=2) + "\n"
    return text


def feedback_page(student, sheet, marking, problem=""):
    """One student's marking of one sheet as a Markdown page: a line a quantity, the mistakes where they are."""
    got, total = score(marking)
    lines = [f"# {student}: exercise {sheet}", "", f"Score: {points(got)} of {points(total)} points.", ""]
    if problem:
        lines += [f"Not marked: {problem}", ""]
    for title, part in by_question(marking):
        lines += [f"## {title}", "", question_feedback(part), ""]
    return "\n".join(lines)


def _name(row):
    return f"{row['student']}_{row['sheet']}"


def class_results(rows, platform):
    """{STUDENT_N: the text of its results.json} for every row of ``grade`` (``check.grade_class``)."""
    return {_name(row): results_json(unreadable(platform, row["problem"]) if row["problem"] else
                                     RESULTS[platform](row["marking"])) for row in rows}  # fmt: skip


def feedback_pages(rows):
    """{STUDENT_N.md: its feedback page} for every row of ``grade``."""
    return {f"{_name(row)}.md": feedback_page(row["student"], row["sheet"], row["marking"], row["problem"])
            for row in rows}  # fmt: skip
