"""Each command's result as the lines it prints, for the command line and for a notebook alike.

Pure formatting of what ``api.py`` returns: nothing is computed here.
"""

import csv
import io
import json
import sys
import time

import numpy as np

from .check import MISTAKES, VOID
from .gradcheck import STEP, TOLERANCE
from .text import counted, points


def gradcheck_lines(report):
    """A GradcheckReport: the error and verdict of every gradient, then passed, FAILED or not checkable."""
    width = max(len(name) for name in report.errors) + 1
    lines = [f"five-point central differences, h = {STEP:g}; max relative error per gradient:"]
    lines += [
        f"  dL/d{name:<{max(width, 13)}}{error:.3e}  {report.verdicts[name]}" for name, error in report.errors.items()
    ]
    if report.at_kink:
        kinks = report.kinks
        lines.append(f"not checkable at a kink: {kinks['pool']} max-pooling windows tie and {kinks['relu']} ReLU "
                     f"inputs are within 4h of 0, and {len(report.moved)} finite differences change with the step (h "
                     "against h/2), so the loss has kinks within reach of the steps, where finite differences give no "
                     "derivative (the tests hold every gradient to PyTorch's instead)")  # fmt: skip
    else:
        lines.append(f"{'passed' if report.passed else 'FAILED'}: worst {report.worst:.3e} (tolerance {TOLERANCE:g})")
    return lines


def training_json(result, wall):
    """What ``train --json`` prints of ``api.fit``'s result: the final metrics, the options used, the history."""
    summary = {key: result[key] for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss",
                                            "relu_alive", "seconds")}  # fmt: skip
    summary.update(wall_seconds=wall, **result["options"].to_dict(), net=str(result["model"].arch),
                   split=result["dataset"].split, history=result["history"])  # fmt: skip
    return json.dumps(summary, indent=2)


def training_lines(result, wall):
    """``api.fit``'s result: what ran, and the final loss and accuracy on the training and test sets."""
    options, dataset = result["options"], result["dataset"]
    lines = [
        f"trained {options.epochs} epochs on {len(dataset.train_images)} images (batch {options.batch_size}, "
        f"lr {options.lr:g}, seed {options.seed}) in {result['seconds']:.2f} s of SGD steps, {wall:.2f} s in all"
    ]
    if options.data != "shapes":
        lines.append(f"  {options.data}: {dataset.split}; network: {result['model'].arch}")
    lines.append(f"         {'loss':>8}  {'accuracy':>8}")
    for split in ("train", "test"):
        lines.append(f"  {split:<5}  {result[f'{split}_loss']:8.4g}  {100 * result[f'{split}_accuracy']:7.2f}%")
    return lines


def evaluation_json(name, metrics):
    return json.dumps({"model": name, "data": metrics["description"], "count": len(metrics["images"]),
                       "accuracy": metrics["accuracy"], "loss": metrics["loss"], "classes": list(metrics["classes"]),
                       "confusion": metrics["confusion"].tolist(), "class_accuracy": metrics["class_accuracy"]},
                      indent=2)  # fmt: skip


def evaluation_lines(name, metrics):
    """``api.evaluate_model``'s result: accuracy and loss, and the confusion matrix with each class's accuracy."""
    classes, confusion, per_class = metrics["classes"], metrics["confusion"], metrics["class_accuracy"]
    lines = [f"{name} on {metrics['description']}:",
             f"  accuracy {100 * metrics['accuracy']:.2f}%  ({int(np.trace(confusion))} of {len(metrics['images'])} "
             f"right), loss {metrics['loss']:.4g}"]  # fmt: skip
    width = max(6, *(len(c) + 1 for c in classes), len(str(confusion.max())) + 1)
    first = max(18, *(len(c) + 2 for c in classes))
    lines.append(f"  {'true / predicted':<{first}}" + "".join(f"{c:>{width}}" for c in classes) + "   accuracy")
    for c, row in enumerate(classes):
        accuracy = f"{100 * per_class[c]:9.2f}%" if per_class[c] is not None else "        -"
        lines.append(f"  {row:<{first}}" + "".join(f"{n:>{width}}" for n in confusion[c]) + f"  {accuracy}")
    return lines


def prediction_rows(classes, binary, probabilities):
    """One dict per image: its index, label, class and probabilities (and a binary model's P(class 1))."""
    rows = []
    for i, p in enumerate(probabilities):
        label = int(p.argmax())
        row = {"index": i, "label": label, "class": classes[label], "probabilities": p.tolist()}
        if binary:
            row[f"probability_{classes[1]}"] = float(p[1])
        rows.append(row)
    return rows


def prediction_lines(classes, binary, rows):
    """A line per image: its class and P(class 1), or its class, its probability and the runner-up's."""
    if binary:
        return [f"{'index':>5}  {'class':<9}  P({classes[1]})"] + [
            f"{row['index']:>5}  {row['class']:<9}  {row['probabilities'][1]:.6f}" for row in rows
        ]
    lines = [f"{'index':>5}  {'class':<9}  P(class)  runner-up"]
    for row in rows:
        p = row["probabilities"]
        first, second = np.argsort(p)[::-1][:2]
        lines.append(f"{row['index']:>5}  {row['class']:<9}  {p[first]:.6f}  {classes[second]} ({p[second]:.6f})")
    return lines


def check_lines(marked):
    """``check.report``'s result: per question one line per quantity with its points, one per answer not right,
    the mistakes met, the score."""
    decimals, lines, unasked = marked["decimals"], [], []
    for question, rows in marked["questions"].items():
        asked = [e for e in rows if e.quantity in marked["points"]]
        unasked += sorted(
            {e.quantity for e in rows} - {e.quantity for e in asked}, key=[e.quantity for e in rows].index
        )
        if asked:
            lines += [question, *check_rows(asked, decimals, marked["points"])]
    if unasked:
        lines.append(f"answered, not asked (no points): {', '.join(unasked)}")
    if marked["mistakes"]:
        lines.append("mistakes:")
        lines += [f"  {mistake} ({count}x): {MISTAKES[mistake]}" for mistake, count in marked["mistakes"].items()]
    voids = sorted({e.void for rows in marked["questions"].values() for e in rows if e.void})
    if voids:
        lines.append("earning nothing:")
        lines += [f"  {void}: {VOID[void]}" for void in voids]
    lines.append(f"score: {points(marked['score'])} of {points(marked['total'])} points (a quantity a point unless "
                 f"set; right within {10.0**-decimals:g}; carried answers earn, from your own work)")  # fmt: skip
    return lines


SHOWN = 8  # answers listed a quantity, not right or earning nothing, before "and N more"


def check_rows(entries, decimals, shares):
    """One line per quantity with its counts and points, and one per answer that is not right or earns nothing."""
    by_quantity = {}
    for entry in entries:
        by_quantity.setdefault(entry.quantity, []).append(entry)
    width = max(len(q) for q in by_quantity) + 2
    lines = [f"  {'quantity':<{width}}{'right':>6}{'carried':>8}{'wrong':>6}{'blank':>6}{'points':>9}"]
    for quantity, rows in by_quantity.items():
        counts = [sum(e.verdict == v for e in rows) for v in ("right", "carried", "wrong", "blank")]
        earned, worth = shares.get(quantity, (0, 0))
        lines.append(f"  {quantity:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(counts, (6, 8, 6, 6)))
                     + f"{points(earned) + '/' + points(worth):>9}")  # fmt: skip
        shown = [e for e in rows if e.verdict in ("wrong", "carried") or e.void]
        for e in shown[:SHOWN]:
            where = f"[{','.join(map(str, e.index))}]" if e.index else ""
            key = "-" if e.expected is None else f"{e.expected:.{decimals}f}"
            why = f" ({e.mistake or e.void})" if e.mistake or e.void else ""
            lines.append(f"      {where or 'value'}: {e.answer:.{decimals}f}, key {key}: {e.verdict}{why}")
        if len(shown) > SHOWN:
            lines.append(f"      and {len(shown) - SHOWN} more (--json has every one)")
    return lines


def grades_csv(grades):
    """The grades, one CSV row per student and sheet, points to 4 decimals; a file not marked says why."""
    out = io.StringIO()
    columns = ["student", "sheet", "q1", "q1_total", "q2", "q2_total", "q3", "q3_total", "score", "total", "mistakes",
               "problem"]  # fmt: skip
    writer = csv.DictWriter(out, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in grades:
        writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return out.getvalue()


def grade_lines(grades, mistakes, out, problems=()):
    """``api.grade``'s result: how many were marked, the class score, each mistake's answers and students, and
    every file that could not be marked, with why."""
    unmarked = [row for row in grades if row["problem"]]
    students = len({g["student"] for g in grades})
    lines = [f"marked {len(grades) - len(unmarked)} of {len(grades)} answer files ({students} students); wrote {out}",
             f"class score: {points(sum(g['score'] for g in grades))} of {points(sum(g['total'] for g in grades))} "
             "points"]  # fmt: skip
    if unmarked or problems:
        lines.append(f"not marked ({len(unmarked) + len(problems)} files; those of a student score 0):")
        lines += [f"  {row['student']}_{row['sheet']}: {row['problem']}" for row in unmarked]
        lines += [f"  {path}: {why}" for path, why in problems]
    if not mistakes:
        return [*lines, "no known mistakes in the class"]
    lines.append("mistakes across the class (answers, students):")
    for mistake, (count, students) in sorted(mistakes.items(), key=lambda item: -item[1][0]):
        lines.append(f"  {mistake:<24}{count:>5}{len(students):>5}")
    return lines


def class_counts(shapes, classes, labels):
    """How many images of each class: "N crosses, M rectangles" on the shapes, "N 0, M 1, ..." otherwise."""
    if shapes:
        return f"{counted(int((labels == 0).sum()), 'cross')}, {counted(int(labels.sum()), 'rectangle')}"
    return ", ".join(f"{int((labels == k).sum())} {name}" for k, name in enumerate(classes))


def progress(total, stream=None, width=24, every=5.0, clock=time.monotonic):
    """An on_epoch callback showing how far training is, on ``stream`` (stderr by default).

    On a terminal, one self-overwriting line with a bar, redrawn each epoch.  Anywhere else (a log file, a pipe,
    CI) a bar redrawn with carriage returns would pile up unseen, so: a line when ``every`` seconds have passed
    since the last one (or since the start), and one after the last epoch, so that a long run on a busy
    machine still says it is alive.
    """
    stream = stream or sys.stderr
    terminal = stream.isatty()
    last = [clock()]

    def show(epoch, row):
        now, done = clock(), int(width * epoch / total)
        numbers = (f"loss {row['train_loss']:.4f}  train {100 * row['train_accuracy']:.2f}%  "
                   f"test {100 * row['test_accuracy']:.2f}%")  # fmt: skip
        if terminal:
            stream.write(f"\repoch {epoch:>{len(str(total))}}/{total} [{'#' * done}{'.' * (width - done)}] {numbers}")
            stream.write("\n" if epoch == total else "")
        elif epoch == total or now - last[0] >= every:
            last[0] = now
            stream.write(f"epoch {epoch:>{len(str(total))}}/{total}: {numbers}\n")
        stream.flush()

    return show
