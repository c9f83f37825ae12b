// Marking typed answers with check.py's rules: right, carried, wrong (with the known mistake named) or blank, and
// the marks by check.credit's one rule: nothing earns that took no work (one number everywhere, a 0 a blank gives,
// credit carried from answers that are not the student's own work).  Each step of the pass is run again on the
// student's own values (as typed, and with the key rounded where they left blanks), by the right rule and by each
// mistaken rule, and the mistakes on the key's own values; the catalogue of mistakes and their explanations comes
// from Python, in the page's data.  The mistaken rules are the kinds' own (forwardMistakes, ... in kinds/).

import { squeezed, zeros } from "cnn-backprop/arrays.js";
import { architecture, buildLayer, keepAxes, kindOf, pass, toNested, unravel } from "cnn-backprop/engine.js";

const PARTS = ["shapes", "forward", "backward"];

// A nested answer (null for a blank) as a flat array in the key's full shape, NaN for blanks; null if it does not fit.
function full(nested, shape) {
  const data = Float64Array.from([nested].flat(Infinity), (v) => (v === null || v === undefined ? NaN : v));
  return data.length === shape.reduce((a, b) => a * b, 1) ? { shape, data } : null;
}

// A full-shape array as the JSON writes it: {shape, data} of the layout.
function layout(array, keep) {
  const nested = toNested(array, keep);
  return { shape: shapeOf(nested), data: [nested].flat(Infinity) };
}

// Every answerable (part, name) of a result, as check.Key.quantities: not what a forward finds besides its
// output (a max pool's argmax: a kind's extras), not dL/dimage, not the input's size.
export function quantities(result) {
  const extras = new Set(architecture(result.given).flatMap((e) => kindOf(e.layer).extras.map((key) => `${e.name}_${key}`)));
  const found = [];
  for (const part of PARTS)
    for (const name of Object.keys(result[part]))
      if (!extras.has(name) && !(part === "backward" && name === "image") && !(part === "shapes" && name === "input"))
        found.push([part, name]);
  return found;
}

function candidates(key, part, name, stores) {
  if (part === "shapes") {
    const entry = key.arch.find((e) => e.name === name || e.output === name);
    const found = entry ? kindOf(entry.layer).shapeMistakes(entry) : {};
    return Object.fromEntries(Object.entries(found).map(([label, shape]) => {
      const sides = squeezed(shape, key.keep[entry.output]); // as the JSON's "shapes" writes it
      return [label, [{ shape: [sides.length], data: sides }]];
    }));
  }
  const found = {};
  for (const inputs of [...stores, [key.values, key.grads]]) {
    const step = part === "forward" ? forwardStep(key, name, ...inputs) : backwardStep(key, name, ...inputs);
    // a step may give a mistake's answer in two ways (a mistake in either path to a value two layers read)
    for (const [label, value] of Object.entries(step)) (found[label] ||= []).push(...[value].flat().map((v) => layout(v, key.keep[name] ?? 0)));
  }
  found.carried = found.carried.slice(0, stores.length);
  return found;
}

// The asked (part, name)s the step making part.name reads, as check.Key.inputs_of: a value's layer inputs, and for a
// gradient the upstream gradient too (every reader's, where several layers read the value).
function inputsOf(key, part, name) {
  const value = (entry) => {
    const source = key.arch.find((e) => e.output === entry.input);
    return source && kindOf(source.layer).reshapes ? source.input : entry.input;
  };
  let read = [];
  if (part === "forward") {
    const entry = key.arch.find((e) => e.output === name);
    read = name === "loss" ? [["forward", "output"]] : entry.inputs.length > 1 ? entry.inputs.map((n) => ["forward", n]) : [["forward", value(entry)]];
  } else if (part === "backward") {
    const owner = key.arch.find((e) => Object.hasOwn(e.params, name));
    const reader = owner ? null : readerOf(key, name);
    if (owner) read = [["forward", value(owner)], ["backward", owner.output]];
    else if (kindOf(reader.layer).isOutput) read = [["forward", "output"]];
    else read = [["forward", value(reader)], ["backward", reader.output], ...readersOf(key, name).filter(([e]) => e !== reader).map(([e]) => ["backward", e.output])];
  }
  return read.filter(([p, n]) => Object.hasOwn(key.result[p], n));
}

// What ``entry`` reads, through a layer that only reshapes (the flatten before a dense layer); an add: what it adds.
function inputOf(key, values, entry) {
  if (entry.inputs.length > 1) return entry.inputs.map((name) => values[name]);
  const source = key.arch.find((e) => e.output === entry.input);
  return source && kindOf(source.layer).reshapes ? { shape: [values[source.input].data.length], data: values[source.input].data } : values[entry.input];
}

// The layer that reads ``name`` (the first, where several do), through a layer that only reshapes.
function readerOf(key, name) {
  const reader = readersOf(key, name)[0][0];
  return kindOf(reader.layer).reshapes ? readerOf(key, reader.output) : reader;
}

// [[each layer that reads ``name``, where among its inputs]], in the order of the network: a block's input has two.
const readersOf = (key, name) => key.arch.flatMap((e) => (e.inputs.includes(name) ? [[e, e.inputs.indexOf(name)]] : []));

// The right rule and each mistaken one for a forward value: its layer's own mistakes, and the layer after it
// applied too early (post-activation).
function forwardStep(key, name, values) {
  if (name === "loss") {
    const p = values.output.data, y = key.label;
    const py = p.length > 1 ? p[y] : y === 1 ? p[0] : 1 - p[0];
    return { carried: { shape: [1], data: Float64Array.of(-Math.log(py)) } };
  }
  const entry = key.arch.find((e) => e.output === name);
  const x = inputOf(key, values, entry);
  const rerun = (changes) => key.single(entry, changes).forward(x); // one layer's forward, options changed
  const right = rerun({});
  const found = { carried: right, ...kindOf(entry.layer).forwardMistakes({ key, entry, x, right, rerun }) };
  const following = key.arch.findLast((e) => e.input === name); // as check.py's read_by: the last
  const after = following && kindOf(following.layer).postActivation(following.layer, key.values[name]);
  if (after) found["post-activation"] = after;
  return found;
}

// The "stride-ignored" mistake, as kinds/_kind.py's stride_one_backward: a strided layer's backward run as if its
// stride were 1, output (i, j)'s gradient sent back through the window at rows i..i+K-1; the outputs a stride-1
// layer has beyond those of grad get none.  Returns () => {dx, grads}, for a kind's mistakes to call.
const strideOne = (key, entry, x, grad) => () => {
  const layer = key.single(entry, { stride: 1 });
  const out = layer.forward(x);
  const [C, O] = out.shape, G = grad.shape[1], spread = zeros(out.shape);
  for (let c = 0; c < C; c++)
    for (let i = 0; i < G; i++)
      for (let j = 0; j < G; j++) spread.data[(c * O + i) * O + j] = grad.data[(c * G + i) * G + j];
  const dx = layer.backward(spread);
  return { dx, grads: layer.grads };
};

// The right rule and each mistaken one for a gradient: of a parameter, its layer's; of a value, the reader's.
function backwardStep(key, name, values, grads) {
  const owner = key.arch.find((e) => Object.hasOwn(e.params, name));
  if (owner) {
    const layer = key.single(owner), x = inputOf(key, values, owner), up = grads[owner.output];
    layer.forward(x);
    layer.backward(up);
    const param = name.slice(owner.name.length + 1), grad = layer.grads[param];
    const stride = strideOne(key, owner, x, up);
    return { carried: grad, ...kindOf(owner.layer).paramMistakes({ key, entry: owner, param, grad, strideOne: stride }) };
  }
  const reader = readerOf(key, name), shape = values[name].shape;
  if (kindOf(reader.layer).isOutput) {
    // dL/dz = output - target, from the student's own output.
    const kind = kindOf(reader.layer), output = { shape, data: values.output.data }, target = kind.target(output, key.label);
    return { carried: { shape, data: output.data.map((v, k) => v - target[k]) }, ...kind.logitMistakes(output, target) };
  }
  // A value several layers read: the sum of what each passes back, a mistake in one path with the others' parts right.
  const readers = readersOf(key, name).length > 1 ? readersOf(key, name) : [[reader, 0]];
  const parts = readers.map(([entry, position]) => backwardPart(key, entry, position, values, grads, shape));
  const total = { shape, data: parts[0].carried.data.map((v, k) => parts.slice(1).reduce((sum, part) => sum + part.carried.data[k], v)) };
  const found = { carried: total };
  for (const part of parts)
    for (const [label, value] of Object.entries(part))
      if (label !== "carried" && value.data.some((v, k) => v !== part.carried.data[k]))
        (found[label] ||= []).push({ shape, data: total.data.map((t, k) => t - part.carried.data[k] + value.data[k]) });
  // the shortcut's part left out: where the path is an add's second input, or a shortcut conv's that an add reads so
  readers.forEach(([entry, position], k) => {
    const onward = kindOf(entry.layer).joins ? [[entry, position]] : readersOf(key, entry.output);
    for (const [join] of onward.filter(([e, at]) => kindOf(e.layer).joins && at > 0).slice(0, parts.length - 1))
      Object.assign(found, kindOf(join.layer).branchMistakes(total, parts[k].carried));
  });
  return found;
}

// {carried or a mistake: what ``entry``'s backward passes to its input at ``position``}, from the student's own
// values and the gradient of its output (check.Key._backward_part).
function backwardPart(key, entry, position, values, grads, shape) {
  const layer = key.single(entry), x = inputOf(key, values, entry), grad = grads[entry.output];
  layer.forward(x);
  const right = layer.backward(grad), at = (v) => ({ shape, data: (entry.inputs.length > 1 ? v[position] : v).data });
  const found = { carried: right, ...kindOf(entry.layer).backwardMistakes({ key, entry, layer, x, grad, shape, right: at(right), strideOne: strideOne(key, entry, x, grad) }) };
  return Object.fromEntries(Object.entries(found).map(([label, value]) => [label, at(value)]));
}

// The key of a given: its pass, its walkthrough layout (``result``), and one of its layers rebuilt (with a change).
export function keyOf(given, result) {
  const key = pass(given);
  key.label = given.label;
  key.keep = keepAxes(key.arch);
  key.result = result;
  key.single = (entry, changes = {}) => buildLayer(entry, key.params, changes);
  return key;
}

// Whether a is b to ``tol``.
const within = (tol) => (a, b) => Number.isFinite(b) && Math.abs(a - b) <= tol + 1e-12;

// x rounded to ``decimals`` places as NumPy's round does it (halves to even).
function rounded(x, decimals) {
  const scale = 10 ** decimals, scaled = x * scale;
  let whole = Math.round(scaled);
  if (Math.abs(scaled % 1) === 0.5 && whole % 2 !== 0) whole -= 1;
  return whole / scale;
}

// Every answer marked: answers is {"part.name": nested array or number, null for blanks}, as check.read_answers
// reads; ``points`` {quantity or part: points} as check.points_of.  Returns {entries, points: {quantity: [earned,
// worth]}, score, total}, as check.mark's Marking.
export function mark(key, answers, decimals = 4, points = {}) {
  const tol = 10 ** -decimals, close = within(tol);
  const values = { ...key.values }, grads = { ...key.grads };
  // the student who rounds as they go: their answers where given, the key rounded to the decimals elsewhere
  const roundAll = (array) => ({ shape: array.shape, data: array.data.map((v) => rounded(v, decimals)) });
  const roundedValues = { ...values }, roundedGrads = {};
  for (const name of Object.keys(key.result.forward)) if (values[name]) roundedValues[name] = roundAll(values[name]);
  for (const [name, g] of Object.entries(grads)) roundedGrads[name] = roundAll(g);
  for (const [quantity, answer] of Object.entries(answers)) {
    const [part, name] = quantity.split(".");
    if (!["forward", "backward"].includes(part) || name === "loss") continue;
    for (const store of part === "forward" ? [values, roundedValues] : [grads, roundedGrads]) {
      const theirs = full(answer, store[name].shape);
      if (theirs) store[name] = { shape: theirs.shape, data: theirs.data.map((v, i) => (Number.isNaN(v) ? store[name].data[i] : v)) };
    }
  }
  const stores = [[values, grads], [roundedValues, roundedGrads]];
  const marked = {};
  for (const [quantity, answer] of Object.entries(answers)) {
    const [part, name] = quantity.split(".");
    const expected = [key.result[part][name]].flat(Infinity);
    const given = [answer].flat(Infinity).map((v) => (v === null || v === undefined ? NaN : v));
    const shape = shapeOf(key.result[part][name]);
    marked[quantity] = markOne(quantity, given, expected, shapeOf(answer), shape, candidates(key, part, name, stores), close);
  }
  credit(key, marked, answers, tol);
  const entries = Object.keys(answers).flatMap((quantity) => marked[quantity]);
  const shares = pointsOf(key, points), earned = {};
  for (const [quantity, worth] of Object.entries(shares)) {
    const rows = marked[quantity] || [];
    earned[quantity] = [rows.length ? (worth * rows.filter(earns).length) / rows.length : 0, worth];
  }
  const sum = (k) => Object.values(earned).reduce((a, pair) => a + pair[k], 0);
  return { entries, points: earned, score: sum(0), total: sum(1) };
}

const earns = (e) => (e.verdict === "right" || e.verdict === "carried") && e.void === null;

function constant(numbers, tol = 0) {
  const answered = numbers.filter((v) => !Number.isNaN(v));
  return answered.length > 1 && Math.max(...answered) - Math.min(...answered) <= tol;
}

// check.credit: ``marked`` {quantity: entries} with what took no work voided, in pass order.
function credit(key, marked, answers, tol) {
  const numbers = Object.values(answers).flatMap((a) => [a].flat(Infinity).map((v) => (v === null || v === undefined ? NaN : v)));
  const allOne = constant(numbers);
  const sound = {};
  for (const part of PARTS)
    for (const name of Object.keys(key.result[part])) {
      const quantity = `${part}.${name}`, rows = marked[quantity];
      if (!rows) continue;
      const answer = [answers[quantity]].flat(Infinity).map((v) => (v === null || v === undefined ? NaN : v));
      const expected = [key.result[part][name]].flat(Infinity);
      const read = inputsOf(key, part, name).map(([p, n]) => `${p}.${n}`);
      const unsound = read.filter((q) => sound[q] === false);
      const explained = !unsound.length && rows.every((e) => ["right", "carried", "blank"].includes(e.verdict));
      const isConstant = allOne || (constant(answer) && shapeOf(answers[quantity]).join() === shapeOf(key.result[part][name]).join() && !constant(expected, tol) && !explained);
      const allRight = read.every((q) => (marked[q] || []).every((e) => e.verdict === "right" || e.verdict === "blank"));
      for (const e of rows) {
        if (e.verdict === "carried" && allRight) e.verdict = "right"; // from their own right (rounded) answers
        e.void = null;
        if ((e.verdict === "right" || e.verdict === "carried") && isConstant) e.void = "constant";
        else if (e.verdict === "carried" && unsound.length) e.void = "no-work";
      }
      // a mistake is made over a whole quantity: one that explains a few entries by chance is no sign of work
      const wrong = rows.filter((e) => e.verdict === "wrong").map((e) => e.mistake);
      const made = new Set(wrong.filter((m) => m !== null && 2 * wrong.filter((w) => w === m).length >= wrong.length));
      // a 0 (right, carried or a mistake's) is what a blank gives: no sign of work
      const fits = rows.map((e) => earns(e) || made.has(e.mistake));
      const good = rows.filter((e, k) => fits[k] && Math.abs(e.answer) > tol).length;
      const bad = rows.filter((e, k) => e.verdict !== "blank" && !fits[k]).length;
      const slip = rows.length === 1 && !unsound.length;
      sound[quantity] = !isConstant && (slip || (good >= bad && (good > 0 || bad === 0)));
      if (good < bad || (good === 0 && bad > 0))
        for (const e of rows) if (earns(e) && e.expected !== null && Math.abs(e.expected) <= tol && Math.abs(e.answer) <= tol) e.void = "zero";
    }
}

// {quantity: points} of every asked quantity (check.points_of): a part's points shared by its quantities not named.
function pointsOf(key, points) {
  const shares = {};
  for (const part of PARTS) {
    const mine = quantities(key.result).filter(([p]) => p === part).map(([p, n]) => `${p}.${n}`);
    const rest = mine.filter((q) => !(q in points));
    const left = part in points ? points[part] - mine.filter((q) => q in points).reduce((a, q) => a + points[q], 0) : null;
    for (const q of mine) shares[q] = q in points ? points[q] : left === null ? 1 : rest.length ? left / rest.length : 0;
  }
  return shares;
}

function shapeOf(nested) {
  const shape = [];
  for (let item = nested; Array.isArray(item); item = item[0]) shape.push(item.length);
  return shape;
}

function markOne(quantity, answer, expected, answerShape, shape, candidates, close) {
  const carried = candidates.carried || [];
  // the general mistakes, on the key and on what the student's own earlier answers give
  const whole = { ...candidates, sign: [{ shape, data: expected.map((e) => -e) }, ...carried.map((v) => ({ shape: v.shape, data: v.data.map((x) => -x) }))] };
  if (shape.length === 2) {
    const [rows, cols] = shape;
    const transpose = (data) => ({ shape: [cols, rows], data: data.map((_, k) => data[(k % rows) * cols + Math.floor(k / rows)]) });
    whole.transposed = [transpose(expected), ...carried.filter((v) => v.shape.length === 2).map((v) => transpose(v.data))];
  }
  const entry = (index, a, e, verdict, mistake = null) => ({ quantity, index, answer: Number.isNaN(a) ? null : a, expected: e, verdict, mistake, void: null });
  if (answerShape.join() !== shape.join()) {
    // A whole answer of another shape can only be a mistake that changes the shape (pool stride 2, a matrix of
    // weights transposed).
    const answered = answer.some((a) => !Number.isNaN(a));
    for (const [label, values] of Object.entries(whole))
      for (const v of values)
        if (answered && v.shape.join() === answerShape.join() && answer.every((a, k) => Number.isNaN(a) || close(a, v.data[k]))) {
          return answer.map((a, k) => entry(unravel(k, answerShape), a, null, "wrong", label));
        }
    return answer.map((a, k) => entry(unravel(k, answerShape), a, null, Number.isNaN(a) ? "blank" : "wrong"));
  }
  const fits = {};
  answer.forEach((a, k) => {
    const e = expected[k];
    if (Number.isNaN(a) || close(a, e)) return;
    // a mistake's value only where it is not the key's; the right rule on their answers may be within rounding of it
    fits[k] = Object.entries(whole)
      .filter(([label, values]) => values.some((v) => v.shape.join() === shape.join() && close(a, v.data[k]) && (label === "carried" || !close(v.data[k], e))))
      .map(([label]) => label);
  });
  // A mistake is made over a whole array: where an entry fits several, take the one that explains most entries.
  const explains = {};
  for (const labels of Object.values(fits)) for (const label of labels) explains[label] = (explains[label] || 0) + 1;
  return answer.map((a, k) => {
    const e = expected[k], at = unravel(k, shape);
    if (Number.isNaN(a)) return entry(at, a, e, "blank");
    if (!(k in fits)) return entry(at, a, e, "right");
    if (fits[k].includes("carried")) return entry(at, a, e, "carried");
    let best = null;
    for (const label of Object.keys(whole)) if (fits[k].includes(label) && (best === null || explains[label] > explains[best])) best = label;
    return entry(at, a, e, "wrong", best);
  });
}
