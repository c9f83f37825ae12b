"""A marking in the formats learning platforms read, and as a feedback page for the student.

- Gradescope's autograder ``results.json``: ``score`` (points), ``output_format`` "md" and ``tests``, one per
  question (sizes, forward, backward) with its ``score``, ``max_score``, ``output`` (the feedback, in Markdown)
  and ``visibility``.
- PrairieLearn's external grader ``results.json``: ``gradable``, ``score`` (a fraction, 0 to 1), ``message`` and
  ``tests``, one per question with its ``points``, ``max_points``, ``message`` and ``output``; at most 1 MB.

One answer is one point, earned when it is right or carried, so the points are ``check.score``'s and add up to
the CSV of ``grade``.  The feedback says which answers are wrong, the mistake behind each and what was carried,
never the key's numbers: a student may submit again.
"""

import json

from .check import MISTAKES, PARTS, QUESTION, score

PLATFORMS = ("gradescope", "prairielearn")
FORMATS = ("csv", *PLATFORMS)  # grade's: csv, today's table, or one results.json per student and sheet
PRAIRIELEARN_LIMIT = 1_000_000  # bytes: PrairieLearn refuses a larger results.json
CARRIED = "carried: wrong only because an earlier answer was; computed correctly from your own values, so it counts"


def by_question(entries):
    """[(the question's title, its entries)] in the order of the sheet, each question that has entries."""
    parts = [(QUESTION[part], [e for e in entries if e.quantity.split(".")[0] == part]) for part in PARTS]
    return [(title, rows) for title, rows in parts if rows]


def _shown(answer):
    return "blank" if answer is None else f"{answer:g}"


def _at(entry):
    return f"{entry.quantity}[{','.join(map(str, entry.index))}]" if entry.index else entry.quantity


def question_feedback(rows):
    """One question's feedback in Markdown: each quantity's counts, each answer not right with why, the mistakes."""
    lines, quantities = [], {}
    for entry in rows:
        quantities.setdefault(entry.quantity, []).append(entry)
    for quantity, found in quantities.items():
        counts = {v: sum(e.verdict == v for e in found) for v in ("right", "carried", "wrong", "blank")}
        lines.append(f"- `{quantity}`: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n))
        for entry in found:
            if entry.verdict == "wrong":
                why = f" ({entry.mistake})" if entry.mistake else ""
                lines.append(f"  - `{_at(entry)}` = {_shown(entry.answer)}: wrong{why}")
            elif entry.verdict == "carried":
                lines.append(f"  - `{_at(entry)}` = {_shown(entry.answer)}: carried")
    mistakes = sorted({e.mistake for e in rows if e.mistake})
    if mistakes:
        lines += ["", "Mistakes:"] + [f"- **{m}**: {MISTAKES[m]}" for m in mistakes]
    if any(e.verdict == "carried" for e in rows):
        lines += ["", CARRIED]
    return "\n".join(lines)


def summary(entries):
    got, total = score(entries)
    return f"{got} of {total} answers right or carried"


def gradescope(entries):
    """Gradescope's results.json as a dict: one test per question, its points and Markdown feedback."""
    tests = []
    for title, rows in by_question(entries):
        got, total = score(rows)
        tests.append({"name": title, "score": got, "max_score": total, "output": question_feedback(rows),
                      "output_format": "md", "visibility": "visible"})  # fmt: skip
    return {"score": score(entries)[0], "output": summary(entries), "output_format": "md", "tests": tests}


def prairielearn(entries):
    """PrairieLearn's results.json as a dict: the score as a fraction, one test per question."""
    tests = []
    for title, rows in by_question(entries):
        got, total = score(rows)
        tests.append({"name": title, "points": got, "max_points": total, "message": summary(rows),
                      "output": question_feedback(rows)})  # fmt: skip
    got, total = score(entries)
    return {"gradable": True, "score": got / total if total else 0.0, "message": summary(entries), "tests": tests}


RESULTS = {"gradescope": gradescope, "prairielearn": prairielearn}


def unreadable(platform, message):
    """The results of a submission that cannot be marked: score 0 and ``message``, what to fix."""
    if platform == "gradescope":
        return {"score": 0, "output": message, "output_format": "md", "tests": []}
    # not gradable: PrairieLearn shows the message and takes no attempt from the student
    return {"gradable": False, "score": 0.0, "message": message, "format_errors": [message], "tests": []}


def results_json(results):
    """The results as the text of results.json; PrairieLearn's kept under its 1 MB by shortening outputs."""
    text = json.dumps(results, indent=2) + "\n"
    while len(text.encode()) > PRAIRIELEARN_LIMIT and any(len(t.get("output", "")) > 200 for t in results["tests"]):
        for test in results["tests"]:
            test["output"] = test["output"][: len(test["output"]) // 2] + "\n\n(shortened)"
        text = json.dumps(results, indent=2) + "\n"
    return text


def feedback_page(student, sheet, entries):
    """One student's marking of one sheet as a Markdown page: every answer, its verdict and why."""
    got, total = score(entries)
    lines = [f"# {student}: exercise {sheet}", "", f"Score: {got} of {total} (right and carried answers count).", ""]
    for title, rows in by_question(entries):
        lines += [f"## {title}", "", "| answer | yours | verdict | why |", "|---|---|---|---|"]
        for entry in rows:
            yours = _shown(entry.answer)
            why = entry.explanation if entry.verdict in ("wrong", "carried") else ""
            verdict = f"{entry.verdict} ({entry.mistake})" if entry.mistake else entry.verdict
            lines.append(f"| `{_at(entry)}` | {yours} | {verdict} | {why} |")
        lines.append("")
    return "\n".join(lines)


def _name(row):
    return f"{row['student']}_{row['sheet']}"


def class_results(rows, platform):
    """{STUDENT_N: the text of its results.json} for every row of ``grade`` (``check.grade_class``)."""
    return {_name(row): results_json(RESULTS[platform](row["entries"])) for row in rows}


def feedback_pages(rows):
    """{STUDENT_N.md: its feedback page} for every row of ``grade``."""
    return {f"{_name(row)}.md": feedback_page(row["student"], row["sheet"], row["entries"]) for row in rows}
