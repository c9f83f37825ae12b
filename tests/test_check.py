"""Marking answers: every known mistake, built here by its own loops, is named; carried errors get credit."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_backprop import check, exercise, walkthrough
from cnn_backprop.architecture import Architecture
from cnn_backprop.cli import main
from cnn_backprop.kinds import conv, maxpool

COMMAND = str(Path(sys.executable).parent / "cnn-backprop")
DECIMALS = 4


def key_answers(given):
    """The key as a student who rounds to 4 decimals would write it: {(part, name): array}."""
    key = check.Key(given)
    return {(part, name): np.round(key.expected(part, name), DECIMALS) for part, name in key.quantities()}


def mistaken(given, mistake):
    """{(part, name): value} that ``mistake`` gives, computed with the reference loops, the way a student errs."""
    result = walkthrough.run(given)
    fwd, bwd = result["forward"], result["backward"]
    image, kernel = np.asarray(given["image"])[None], np.asarray(given["conv_kernel"])[None, None]
    bias, y = np.array([given["conv_bias"]]), given["label"]
    size, stride = given["pool_size"], given["pool_stride"]
    conv_relu, argmax = fwd["conv_relu"], np.asarray(fwd["pool_argmax"]).reshape(np.shape(fwd["pool"]) + (2,))
    grad_pool = np.asarray(bwd["pool"])
    if mistake in ("pool-overwrite", "pool-to-all", "pool-average"):
        out = np.zeros(np.shape(conv_relu))
        for (i, j), g in np.ndenumerate(grad_pool):
            if mistake == "pool-overwrite":
                out[tuple(argmax[i, j])] = g  # the notebook's dP[i, j] = dw
            else:
                share = g if mistake == "pool-to-all" else g / size**2
                out[stride * i : stride * i + size, stride * j : stride * j + size] += share
        return {("backward", "conv_relu"): out}
    if mistake == "no-relu-mask":
        return {("backward", "conv_pre"): np.asarray(bwd["conv_relu"])}
    if mistake == "fc-weight-grad":
        return {("backward", "pool"): np.asarray(bwd["fc_weights"]).reshape(grad_pool.shape)}
    if mistake == "flipped-kernel":
        flipped = conv.conv_forward(image, kernel[..., ::-1, ::-1], bias, given["conv_stride"], given["conv_padding"])
        return {
            ("forward", "conv_pre"): flipped[0],
            ("backward", "conv_kernel"): np.asarray(bwd["conv_kernel"])[::-1, ::-1],
        }
    if mistake == "no-bias":
        return {("forward", "conv_pre"): np.asarray(fwd["conv_pre"]) - given["conv_bias"],
                ("forward", "fc_pre"): np.asarray(fwd["fc_pre"]) - given["fc_bias"]}  # fmt: skip
    if mistake == "pool-stride-2":
        pooled, _ = maxpool.maxpool_forward(np.asarray(conv_relu)[None], size, 2)
        return {("forward", "pool"): pooled[0], ("shapes", "pool"): np.array(pooled[0].shape)}
    if mistake == "squared-error-gradient":
        p = fwd["output"]
        return {("backward", "fc_pre"): np.array((p - y) * p * (1 - p))}
    if mistake == "post-activation":
        return {("forward", "conv_pre"): np.asarray(conv_relu), ("forward", "fc_pre"): np.array(fwd["output"])}
    if mistake == "sign":
        return {
            ("backward", "conv_kernel"): -np.asarray(bwd["conv_kernel"]),
            ("backward", "fc_pre"): -np.array(bwd["fc_pre"]),
        }
    if mistake == "transposed":
        return {("backward", "conv_kernel"): np.asarray(bwd["conv_kernel"]).T}
    raise AssertionError(mistake)


def instances(count=12):
    """Sheets as 'exercise' makes them: two decimals and whole numbers, some with padding."""
    for seed in range(count):
        yield exercise.rounded_given(seed, decimals=2, integers=seed % 2 == 1, padding=int(seed % 3 == 2))


def test_the_key_rounded_as_the_sheet_says_is_all_right():
    for given in instances():
        marking = check.mark(given, key_answers(given), DECIMALS)
        entries = marking.entries
        assert {entry.verdict for entry in entries} == {"right"}
        assert check.score(marking) == (marking.total, marking.total) and marking.total > 0


# The mistakes the seed network's sheet can show: its kinds' own and those of any layer, but for dL/dX of its conv
# (dL/dimage, which the sheet does not ask) and a stride it does not have; tests/test_mistakes.py has every mistake
# at every layer of several networks.
SEED_MISTAKES = sorted(
    {*check.GENERAL_MISTAKES, *(m for n in Architecture.parse().named for m in n.kind_of.mistakes)}
    - {"conv-input-grad-not-flipped", "stride-ignored"}
)


@pytest.mark.parametrize("mistake", SEED_MISTAKES)
def test_each_mistake_is_named(mistake):
    diagnosed = 0
    for given in instances():
        key = check.Key(given)
        answers = key_answers(given)
        clear, same = [], []
        for where, value in mistaken(given, mistake).items():
            value = np.asarray(value, dtype=float)
            answers[where] = np.round(value, DECIMALS)
            expected = key.expected(*where)
            for index in np.ndindex(value.shape):
                if value.shape != expected.shape or abs(value[index] - expected[index]) > 3 * 10.0**-DECIMALS:
                    clear.append((where, index))  # plainly the mistake's number, not the key's
                elif abs(value[index] - expected[index]) < 1e-9:
                    same.append((where, index))  # the mistake changes nothing here
        if not clear:
            continue  # this instance cannot tell the mistake apart (e.g. no bias to leave out)
        entries = {(tuple(e.quantity.split(".")), e.index): e for e in check.mark(given, answers, DECIMALS).entries}
        for where, index in clear:
            entry = entries[(where, index)]
            assert (entry.verdict, entry.mistake) == ("wrong", mistake), (where, index, entry)
            assert entry.explanation == check.MISTAKES[mistake]
            diagnosed += 1
        for where, index in same:
            assert entries[(where, index)].verdict == "right"
        untouched = [e for (where, index), e in entries.items() if where not in mistaken(given, mistake)]
        assert {e.verdict for e in untouched} == {"right"}
    assert diagnosed > 0


def test_an_error_carried_forward_gets_credit_and_mistakes_compose():
    # no-relu-mask on dL/dconv_pre, then the right kernel-gradient rule on that: carried on dL/dkernel.
    for given in instances(30):
        answers = key_answers(given)
        wrong = mistaken(given, "no-relu-mask")[("backward", "conv_pre")]
        right = answers[("backward", "conv_pre")]
        if np.allclose(wrong, right, atol=2e-4) or abs(wrong.sum() - right.sum()) < 2e-3:
            continue  # the mask changes nothing here, or not the bias's gradient (ties at 0 in the pool)
        answers[("backward", "conv_pre")] = wrong = np.round(wrong, DECIMALS)  # carried on from what they wrote
        image, kernel = np.asarray(given["image"])[None], np.asarray(given["conv_kernel"])[None, None]
        dL_dkernel, dL_dbias, _ = conv.conv_backward(wrong[None], image, kernel, given["conv_stride"],
                                                          given["conv_padding"])  # fmt: skip
        answers[("backward", "conv_kernel")] = np.round(dL_dkernel[0, 0], DECIMALS)
        answers[("backward", "conv_bias")] = np.round(dL_dbias[0], DECIMALS)
        verdicts = {}
        for entry in check.mark(given, answers, DECIMALS).entries:
            verdicts.setdefault(entry.quantity, set()).add((entry.verdict, entry.mistake))
        assert ("wrong", "no-relu-mask") in verdicts["backward.conv_pre"]
        assert verdicts["backward.conv_kernel"] <= {("carried", None), ("right", None)}
        assert verdicts["backward.conv_bias"] == {("carried", None)}
        return
    raise AssertionError("no instance where the ReLU mask matters")


def test_a_sign_is_named_after_an_earlier_carried_difference():
    # no-relu-mask on dL/dconv_pre, then the kernel's gradient from it with its sign flipped: sign, not plain wrong
    for given in instances(30):
        answers = key_answers(given)
        wrong = np.round(mistaken(given, "no-relu-mask")[("backward", "conv_pre")], DECIMALS)
        if np.allclose(wrong, answers[("backward", "conv_pre")], atol=2e-4):
            continue
        answers[("backward", "conv_pre")] = wrong
        image, kernel = np.asarray(given["image"])[None], np.asarray(given["conv_kernel"])[None, None]
        dL_dkernel, _, _ = conv.conv_backward(wrong[None], image, kernel, given["conv_stride"], given["conv_padding"])
        answers[("backward", "conv_kernel")] = -np.round(dL_dkernel[0, 0], DECIMALS)
        marking = check.mark(given, answers, DECIMALS)
        kernel = [e for e in marking.entries if e.quantity == "backward.conv_kernel" and abs(e.answer) > 1e-3]
        assert kernel and {(e.verdict, e.mistake) for e in kernel} == {("wrong", "sign")}
        return
    raise AssertionError("no instance where the ReLU mask matters")


def test_a_wrong_answer_no_mistake_explains_says_what_its_step_computes_from_which_answers():
    given = next(instances())
    answers = key_answers(given)
    answers[("backward", "conv_kernel")] = answers[("backward", "conv_kernel")] + 0.37
    (entry, *_) = [e for e in check.mark(given, answers, DECIMALS).entries if e.quantity == "backward.conv_kernel"]
    assert entry.verdict == "wrong" and entry.mistake is None
    assert entry.explanation == "It is the conv layer's parameter gradient (conv 1x3x3) from your backward.conv_pre."


def test_an_answer_no_mistake_explains_is_plainly_wrong():
    given = next(instances())
    answers = key_answers(given)
    answers[("forward", "conv_pre")] = answers[("forward", "conv_pre")] + 0.37
    entries = [e for e in check.mark(given, answers, DECIMALS).entries if e.quantity == "forward.conv_pre"]
    assert {(e.verdict, e.mistake) for e in entries} == {("wrong", None)}
    blank = key_answers(given)
    blank[("forward", "pool")] = np.full(np.shape(blank[("forward", "pool")]), np.nan)
    assert {e.verdict for e in check.mark(given, blank, DECIMALS).entries if e.quantity == "forward.pool"} == {"blank"}


def test_check_command_json_and_exit_status(capsys, tmp_path):
    main(["exercise", "--count", "1", "--seed", "3", "--out", str(tmp_path)])
    sheet, template = tmp_path / "exercise_1.json", tmp_path / "exercise_1_answers.json"
    assert main(["check", "--given", str(sheet), str(template)]) == 1  # all blank
    given = walkthrough.complete_given(json.loads(sheet.read_text()))
    filled = json.loads(template.read_text())
    key = check.Key(given)
    for part, name in key.quantities():
        filled[part][name] = np.round(key.expected(part, name), 4).tolist()
    (tmp_path / "full.json").write_text(json.dumps(filled))
    capsys.readouterr()
    assert main(["check", "--given", str(sheet), str(tmp_path / "full.json"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # a point a quantity: 17 of them on the seed network, whatever their number of entries
    assert report["score"] == report["total"] == len(report["points"]) == 17 and len(report["entries"]) == 68
    assert set(report["entries"][0]) == {"quantity", "index", "answer", "expected", "verdict", "mistake", "credit",
                                         "explanation"}  # fmt: skip
    with (tmp_path / "exercise_1_answers.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["quantity", "index", "answer"] and rows[1][:2] == ["sheet", ""]
    assert len(rows) - 2 == len(report["entries"])


def test_grade_a_class_folder(capsys, tmp_path):
    sheets, answers = tmp_path / "sheets", tmp_path / "answers"
    main(["exercise", "--count", "2", "--seed", "1", "--integers", "--out", str(sheets)])
    answers.mkdir()
    for number in (1, 2):
        given = walkthrough.complete_given(json.loads((sheets / f"exercise_{number}.json").read_text()))
        right = key_answers(given)
        with (answers / f"ana_{number}.csv").open("w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["quantity", "index", "answer"])
            for (part, name), value in right.items():
                for index in np.ndindex(np.shape(value)):
                    writer.writerow([f"{part}.{name}", ",".join(map(str, index)), value[index]])
        wrong = dict(right)
        wrong.update({k: np.round(v, 4) for k, v in mistaken(given, "fc-weight-grad").items()})
        document = {part: {} for part in check.PARTS}
        for (part, name), value in wrong.items():
            document[part][name] = np.asarray(value).tolist()
        (answers / f"ben_exercise_{number}_answers.json").write_text(json.dumps(document))
    status = main(["grade", "--sheets", str(sheets), "--answers", str(answers), "--out", str(tmp_path / "g.csv"),
                   "--plot", str(tmp_path / "m.png")])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    with (tmp_path / "g.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["student"], row["sheet"]) for row in rows] == [("ana", "1"), ("ana", "2"), ("ben", "1"), ("ben", "2")]
    for row in rows:
        assert float(row["score"]) == pytest.approx(sum(float(row[f"q{q}"]) for q in (1, 2, 3)), abs=1e-3)
        assert float(row["total"]) == sum(float(row[f"q{q}_total"]) for q in (1, 2, 3)) == 17
        if row["student"] == "ana":
            assert row["score"] == row["total"] and row["mistakes"] == "" and row["problem"] == ""
        else:
            # one mistake, carried down to the kernel: it costs less than a tenth
            assert 0.9 * 17 <= float(row["score"]) < 17 and row["mistakes"] == "fc-weight-grad"
            assert row["q1"] == row["q1_total"] and row["q2"] == row["q2_total"]
    assert "fc-weight-grad" in out and (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name,content,message", [
    ("a.json", '{"forward": {"conv_pree": [[1]]}}', 'forward.conv_pree (did you mean "forward.conv_pre'),
    ("a.json", '{"forward": {"pool": [[1, 2], [3]]}}', "forward.pool is ragged"),
    ("a.json", '{"forward": {"pool": [["x", 2], [3, 4]]}}', "forward.pool must hold numbers (or null for a blank)"),
    ("a.json", '{"answers": {}}', "unknown part 'answers'; answers have shapes, forward, backward"),
    ("a.csv", "forward.pool,0,1\n", "the first line must be the header quantity,index,answer"),
    ("a.csv", 'quantity,index,answer\nforward.pool,"5,0",1\n', "line 2: index '5,0' is out of range: forward.pool is"),
    ("a.csv", "quantity,index,answer\nforward.loss,,one\n", "line 2: answer 'one' is not a number"),
    ("a.csv", "quantity,index,answer\nbackward.kernel,0,1\n", "line 2: unknown quantity backward.kernel"),
    ("a.txt", "", "answers are a .json or a .csv file"),
])  # fmt: skip
def test_bad_answer_files_exit_2_with_one_line(tmp_path, name, content, message):
    main(["exercise", "--count", "1", "--out", str(tmp_path / "s")])
    path = tmp_path / name
    path.write_text(content)
    done = subprocess.run([COMMAND, "check", "--given", str(tmp_path / "s" / "exercise_1.json"), str(path)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert path.read_text() == content


def test_grade_refuses_a_folder_without_answer_files_and_writes_nothing(tmp_path):
    main(["exercise", "--count", "1", "--out", str(tmp_path / "s")])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.json").write_text("{}")
    done = subprocess.run([COMMAND, "grade", "--sheets", str(tmp_path / "s"), "--answers", str(tmp_path / "a"),
                           "--out", str(tmp_path / "g.csv")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "no answer files in it" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "g.csv").exists()


def test_the_walkthroughs_own_json_marks_all_right_and_another_instance_is_refused(tmp_path, capsys):
    sheet = tmp_path / "sheet.json"
    sheet.write_text(exercise.given_json(exercise.rounded_given(4)))
    assert main(["walkthrough", "--given", str(sheet), "--json"]) == 0
    key = tmp_path / "key.json"
    key.write_text(capsys.readouterr().out)
    assert main(["check", "--given", str(sheet), str(key)]) == 0
    out = capsys.readouterr().out
    # marked and shown, but no points: the whole walkthrough is out of the template's 17, as every sheet is
    assert "answered, not asked (no points): shapes.input, forward.pool_argmax, backward.image" in out
    assert out.rstrip().endswith("score: 17 of 17 points (a quantity a point unless set; right within 0.0001; "
                                 "carried answers earn, from your own work)")  # fmt: skip
    other = json.loads(key.read_text())
    other["given"]["label"] = 1 - other["given"]["label"]
    key.write_text(json.dumps(other))
    assert main(["check", "--given", str(sheet), str(key)]) == 2
    assert capsys.readouterr().err.strip().endswith("its given differs from the sheet's in label")


def test_an_argmax_from_the_students_own_map_is_carried():
    given = exercise.rounded_given(2)
    key = check.Key(given)
    answers = {(part, name): key.expected(part, name) for part, name in key.answerable()}
    conv_relu = np.array(answers[("forward", "conv_relu")])
    conv_relu[0, 0] = conv_relu.max() + 1  # a wrong value that wins its window
    answers[("forward", "conv_relu")] = conv_relu
    pooled, argmax = maxpool.maxpool_forward(conv_relu[None], given["pool_size"], given["pool_stride"])
    answers[("forward", "pool_argmax")] = argmax.reshape(-1, 2)
    entries = check.mark(given, answers, DECIMALS).entries
    moved = [e for e in entries if e.quantity == "forward.pool_argmax" and e.verdict != "right"]
    assert moved and {e.verdict for e in moved} == {"carried"}


# The strategy matrix: answer files made without work, on sheets as 'exercise' makes them.
MATRIX = {
    "seed": (None, "shapes"),
    "two-conv softmax": ("conv 2x3x3 pad 1, relu, maxpool 2, conv 2x3x3, relu, dense 10, softmax", "digits"),
    "batchnorm avgpool tanh": ("conv 2x3x3 pad 1, batchnorm, tanh, avgpool 2, dense 10, softmax", "digits"),
}
NO_WORK = 0.05  # the most an answer file without work may score


def matrix_sheet(network, seed, integers):
    net, source = MATRIX[network]
    if net is None:
        return exercise.rounded_given(seed, decimals=2, integers=integers)
    return exercise.rounded_given(seed, decimals=2, integers=integers, net=net, source="shapes" if integers else source)


def filled(key, rule):
    return {(part, name): rule(key.expected(part, name)) for part, name in key.quantities()}


@pytest.mark.parametrize("integers", [False, True], ids=["decimals", "integers"])
@pytest.mark.parametrize("network", MATRIX)
def test_no_answer_file_without_work_scores_above_5_percent(network, integers):
    given = matrix_sheet(network, 5, integers)
    key = check.Key(given)
    rng = np.random.default_rng(0)
    sheet_numbers = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for k, v in given.items()
                                    if k not in ("net", "classes", "label")])  # fmt: skip
    strategies = {
        "zeros": lambda e: np.zeros(e.shape),
        "ones": lambda e: np.ones(e.shape),
        "one constant": lambda e: np.full(e.shape, 0.37),
        "zeros and one 1": lambda e: (np.arange(e.size) == 0).reshape(e.shape).astype(float),
    }
    for name, rule in strategies.items():
        marking = check.mark(key, filled(key, rule), DECIMALS)
        assert marking.score <= NO_WORK * marking.total, (name, marking.points)
    # numbers copied at random from the sheet, ten files: the sizes alone now and then, by chance
    copied = [check.mark(key, filled(key, lambda e: rng.choice(sheet_numbers, e.shape)), DECIMALS) for _ in range(10)]
    assert np.mean([m.score / m.total for m in copied]) <= NO_WORK
    # another sheet's answers, numbers only: what the two sheets share (the sizes; dL/dbias = 0 before a batch
    # norm) and by chance little more
    other = check.Key(matrix_sheet(network, 6, integers))
    marking = check.mark(key, {where: np.round(other.expected(*where), DECIMALS) for where in key.quantities()})
    both = [(quantity, worth, [k.expected(*quantity.split(".")) for k in (key, other)])
            for quantity, (_, worth) in marking.points.items()]  # fmt: skip
    shared = sum(worth for _, worth, (mine, theirs) in both if np.allclose(mine, theirs, atol=1e-4))
    assert shared >= 3 and marking.score - shared <= NO_WORK * marking.total, marking.points
    # and as the other sheet's template holds them, with its sheet: refused, as answers for sheet 6
    right = check.mark(key, filled(key, lambda e: np.round(e, DECIMALS)), DECIMALS)
    assert right.score == right.total


def test_another_sheets_answers_score_0_and_name_their_sheet(tmp_path, capsys):
    main(["exercise", "--count", "2", "--seed", "3", "--out", str(tmp_path)])
    theirs = json.loads((tmp_path / "exercise_2_answers.json").read_text())
    key = check.Key(walkthrough.complete_given(json.loads((tmp_path / "exercise_2.json").read_text())))
    for part, name in key.quantities():
        theirs[part][name] = np.round(key.expected(part, name), 4).tolist()
    (tmp_path / "copied.json").write_text(json.dumps(theirs))
    done = subprocess.run([COMMAND, "check", "--given", str(tmp_path / "exercise_1.json"),
                           str(tmp_path / "copied.json")], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"these answers are for sheet 2 (sheet {theirs['sheet']}), not this one" in done.stderr


def test_a_simulated_class_mistakes_named_and_no_right_answer_marked_wrong():
    """300 students, each on their own instance of one of the networks, with 0 to 2 of the catalogue's mistakes
    (at layers that can host them), carrying on rightly from them and rounding to 4 decimals as they go."""
    from test_mistakes import NETWORKS, answers_planted, cases, given_of

    rng = np.random.default_rng(2026)
    by_network = {}
    for case in cases():
        network, layer, mistake, how = case.values
        by_network.setdefault(network, []).append((layer, mistake, how))
    planted = named = right_marked_wrong = 0
    scores = {0: [], 1: [], 2: []}
    for student in range(300):
        network = list(NETWORKS)[student % len(NETWORKS)]
        seed = 100 + student
        while True:  # an instance within the sheets' limits: p(label) does not round to 0
            given = given_of(network, seed)
            pass_ = walkthrough.run(given)
            if check.Key(given).arch.output.probabilities(pass_.values["output"][None])[0, pass_.label] > 1e-3:
                break
            seed += 1000
        chosen = [by_network[network][i] for i in rng.choice(len(by_network[network]), rng.integers(0, 3), False)]
        mistakes = []
        for layer, mistake, how in chosen:
            part, name, value = how(pass_, next(n for n in pass_.arch.named if n.name == layer))
            if (part, name) not in {(p, n) for p, n, *_ in mistakes}:
                mistakes.append((part, name, np.round(value, DECIMALS), mistake))
        answers = answers_planted(given, [m[:3] for m in mistakes], DECIMALS)
        marking = check.mark(given, answers, DECIMALS)
        key = check.Key(given)
        for part, name, _, mistake in mistakes:
            expected = key.expected(part, name)
            if expected.shape == np.shape(answers[(part, name)]) and np.allclose(answers[(part, name)], expected,
                                                                                 atol=1.5e-4):  # fmt: skip
                continue  # the mistake changes nothing on this instance: not effective
            planted += 1
            named += any(e.mistake == mistake for e in marking.entries if e.quantity == f"{part}.{name}")
        right_marked_wrong += sum(e.verdict != "right" and e.expected is not None and e.answer is not None
                                  and abs(e.answer - e.expected) <= 1e-4 for e in marking.entries)  # fmt: skip
        scores[len(mistakes)].append(marking.score / marking.total)
    assert planted > 250 and named >= 0.95 * planted, (named, planted)
    assert right_marked_wrong == 0
    assert min(scores[0]) == 1.0 and min(scores[1]) >= 0.9, (min(scores[1]), np.mean(scores[1]))


def test_grade_marks_every_file_it_can_and_lists_the_others(tmp_path, capsys):
    sheets, answers = tmp_path / "sheets", tmp_path / "answers"
    main(["exercise", "--count", "2", "--seed", "1", "--out", str(sheets)])
    answers.mkdir()
    right = {}
    for number in (1, 2):
        template = json.loads((sheets / f"exercise_{number}_answers.json").read_text())
        key = check.Key(walkthrough.complete_given(json.loads((sheets / f"exercise_{number}.json").read_text())))
        for part, name in key.quantities():
            template[part][name] = np.round(key.expected(part, name), 4).tolist()
        right[number] = template
    (answers / "ana_1.json").write_text(json.dumps(right[1]))
    # saved by Notepad (a byte-order mark) and by Excel (a BOM, CRLF and ';' between cells)
    (answers / "bo_2.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(right[2]).encode())
    with (sheets / "exercise_1_answers.csv").open() as handle:
        rows = list(csv.reader(handle))
    key = check.Key(walkthrough.complete_given(json.loads((sheets / "exercise_1.json").read_text())))
    for row in rows[2:]:
        part, name = row[0].split(".")
        index = tuple(int(i) for i in row[1].split(",")) if row[1] else ()
        row[2] = f"{np.round(key.expected(part, name), 4)[index]:.4f}"
    excel = "\r\n".join(";".join(f'"{c}"' if "," in c else c for c in row) for row in rows) + "\r\n"
    (answers / "cy_1.csv").write_bytes(b"\xef\xbb\xbf" + excel.encode())
    (answers / "dan_1.json").write_text(json.dumps(right[2]))  # sheet 2's answers, sent as sheet 1's
    (answers / "eve_1.json").write_text('{"forward": {"loss": Infinity}}')
    (answers / "fay_99.json").write_text(json.dumps(right[1]))
    (answers / "README.txt").write_text("answers are due Friday")
    before = {p.name: p.read_bytes() for p in answers.iterdir()}
    assert main(["grade", "--sheets", str(sheets), "--answers", str(answers), "--out", str(tmp_path / "g.csv")]) == 0
    out = capsys.readouterr().out
    with (tmp_path / "g.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {s: float(rows[s]["score"]) for s in rows} == {"ana": 17, "bo": 17, "cy": 17, "dan": 0, "eve": 0}
    assert "these answers are for sheet 2" in rows["dan"]["problem"]
    assert "must hold finite numbers" in rows["eve"]["problem"] or "not valid JSON" in rows["eve"]["problem"]
    assert "not marked (4 files; those of a student score 0):" in out
    assert "fay_99.json: sheet 99 is not in" in out and "README.txt: cannot tell the student" in out
    assert {p.name: p.read_bytes() for p in answers.iterdir()} == before  # no file damaged


def test_grade_with_a_roster_marks_each_student_against_their_own_sheet(tmp_path, capsys):
    sheets, answers = tmp_path / "sheets", tmp_path / "answers"
    main(["exercise", "--count", "2", "--seed", "1", "--out", str(sheets)])
    answers.mkdir()
    template = json.loads((sheets / "exercise_2_answers.json").read_text())
    key = check.Key(walkthrough.complete_given(json.loads((sheets / "exercise_2.json").read_text())))
    for part, name in key.quantities():
        template[part][name] = np.round(key.expected(part, name), 4).tolist()
    (answers / "ana_2.json").write_text(json.dumps(template))  # a classmate's file, renamed
    (answers / "ben_2.json").write_text(json.dumps(template))
    (tmp_path / "roster.csv").write_text("student,sheet\nana,1\nben,2\n")
    assert main(["grade", "--sheets", str(sheets), "--answers", str(answers), "--out", str(tmp_path / "g.csv"),
                 "--roster", str(tmp_path / "roster.csv")]) == 0  # fmt: skip
    with (tmp_path / "g.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert (rows["ana"]["sheet"], float(rows["ana"]["score"])) == ("1", 0) and "for sheet 2" in rows["ana"]["problem"]
    assert (rows["ben"]["sheet"], float(rows["ben"]["score"])) == ("2", 17)


def test_points_set_per_question_and_quantity(tmp_path, capsys):
    given = next(instances())
    key = check.Key(given)
    answers = key_answers(given)
    answers[("backward", "conv_kernel")] = answers[("backward", "conv_kernel")] + 0.37
    marking = check.mark(given, answers, DECIMALS, {"shapes": 1, "backward": 10, "backward.conv_kernel": 3})
    assert marking.of("shapes").total == 1 and marking.of("forward").total == 6 and marking.of("backward").total == 10
    assert marking.points["backward.conv_kernel"] == (0, 3) and marking.points["backward.pool"] == (1, 1)
    assert marking.total - marking.score == 3
    with pytest.raises(check.InputError, match="points for backward.kernel: not a quantity or part of this sheet"):
        check.points_of(key, {"backward.kernel": 2})
    points = tmp_path / "points.json"
    points.write_text('{"shapes": "two"}')
    done = subprocess.run([COMMAND, "check", "--given", "x.json", "y.json", "--points", str(points)],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
