// Marking typed answers with check.py's rules: right, carried, wrong (with the known mistake named) or blank.
// Each step of the pass is run again on the student's own values (and on the key's), by the right rule and by
// each mistaken rule; the catalogue of mistakes and their explanations comes from Python, in the page's data.
// The mistaken rules are the kinds' own (forwardMistakes, backwardMistakes, ... in kinds/).

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

function candidates(key, part, name, values, grads) {
  if (part === "shapes") {
    const entry = key.arch.find((e) => e.name === name || e.output === name);
    const found = entry ? kindOf(entry.layer).shapeMistakes(entry) : {};
    return Object.fromEntries(Object.entries(found).map(([label, shape]) => {
      const sides = squeezed(shape, key.keep[entry.output]); // as the JSON's "shapes" writes it
      return [label, [{ shape: [sides.length], data: sides }]];
    }));
  }
  const found = {};
  for (const inputs of [[values, grads], [key.values, key.grads]]) {
    const step = part === "forward" ? forwardStep(key, name, ...inputs) : backwardStep(key, name, ...inputs);
    for (const [label, value] of Object.entries(step)) (found[label] ||= []).push(layout(value, key.keep[name] ?? 0));
  }
  found.carried = found.carried.slice(0, 1);
  return found;
}

// What ``entry`` reads, through a layer that only reshapes (the flatten before a dense layer).
function inputOf(key, values, entry) {
  const source = key.arch.find((e) => e.output === entry.input);
  return source && kindOf(source.layer).reshapes ? { shape: [values[source.input].data.length], data: values[source.input].data } : values[entry.input];
}

// The layer that reads ``name``, through a layer that only reshapes.
function readerOf(key, name) {
  const reader = key.arch.find((e) => e.input === name);
  return kindOf(reader.layer).reshapes ? readerOf(key, reader.output) : reader;
}

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
  const following = key.arch.find((e) => e.input === name);
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
  const reader = readerOf(key, name), kind = kindOf(reader.layer);
  const shape = values[name].shape;
  if (kind.isOutput) {
    // dL/dz = output - target, from the student's own output.
    const output = { shape, data: values.output.data }, target = kind.target(output, key.label);
    return { carried: { shape, data: output.data.map((v, k) => v - target[k]) }, ...kind.logitMistakes(output, target) };
  }
  const layer = key.single(reader);
  const x = inputOf(key, values, reader);
  layer.forward(x);
  const grad = grads[reader.output];
  const right = { shape, data: layer.backward(grad).data };
  const stride = strideOne(key, reader, x, grad);
  return { carried: right, ...kind.backwardMistakes({ key, entry: reader, layer, x, grad, shape, right, strideOne: stride }) };
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

// Whether a is b to ``tol``; ``strict``, a nonzero b smaller than tol must be met to 1 part in 1000, so that 0 is
// not right for 0.00003.
const within = (tol, strict) => (a, b) => Number.isFinite(b) && Math.abs(a - b) <= (strict && b !== 0 && Math.abs(b) < tol ? 1e-3 * Math.abs(b) : tol + 1e-12);

// Every answer marked: answers is {"part.name": nested array or number, null for blanks}, as check.read_answers reads.
// ``strict`` is the page's quiz, where no answer may score for being zero: tiny values to 1 part in 1000, and no
// credit carried for a zero that zeros before it make.
export function mark(key, answers, decimals = 4, strict = false) {
  const close = within(10 ** -decimals, strict);
  const values = { ...key.values }, grads = { ...key.grads };
  for (const [quantity, answer] of Object.entries(answers)) {
    const [part, name] = quantity.split(".");
    const store = part === "forward" ? values : part === "backward" ? grads : null;
    if (!store || name === "loss") continue;
    const theirs = full(answer, store[name].shape);
    if (theirs) store[name] = { shape: theirs.shape, data: theirs.data.map((v, i) => (Number.isNaN(v) ? store[name].data[i] : v)) };
  }
  const entries = [];
  for (const [quantity, answer] of Object.entries(answers)) {
    const [part, name] = quantity.split(".");
    const expected = [key.result[part][name]].flat(Infinity);
    const given = [answer].flat(Infinity).map((v) => (v === null || v === undefined ? NaN : v));
    const shape = shapeOf(key.result[part][name]);
    entries.push(...markOne(quantity, given, expected, shapeOf(answer), shape, candidates(key, part, name, values, grads), close, strict));
  }
  return entries;
}

function shapeOf(nested) {
  const shape = [];
  for (let item = nested; Array.isArray(item); item = item[0]) shape.push(item.length);
  return shape;
}

function markOne(quantity, answer, expected, answerShape, shape, candidates, close, strict) {
  const whole = { ...candidates, sign: [{ shape, data: expected.map((e) => -e) }] };
  if (shape.length === 2) {
    const [rows, cols] = shape;
    whole.transposed = [{ shape: [cols, rows], data: expected.map((_, k) => expected[(k % rows) * cols + Math.floor(k / rows)]) }];
  }
  if (answerShape.join() !== shape.join()) {
    // A whole answer of another shape can only be a mistake that changes the shape (pool stride 2, a matrix of
    // weights transposed).
    const answered = answer.some((a) => !Number.isNaN(a));
    for (const [label, values] of Object.entries(whole))
      for (const v of values)
        if (answered && v.shape.join() === answerShape.join() && answer.every((a, k) => Number.isNaN(a) || close(a, v.data[k]))) {
          return answer.map((a, k) => ({ quantity, index: unravel(k, answerShape), answer: Number.isNaN(a) ? null : a, expected: null, verdict: "wrong", mistake: label }));
        }
    return answer.map((a, k) => ({ quantity, index: unravel(k, answerShape), answer: Number.isNaN(a) ? null : a, expected: null, verdict: Number.isNaN(a) ? "blank" : "wrong", mistake: null }));
  }
  const fits = {};
  answer.forEach((a, k) => {
    const e = expected[k];
    if (Number.isNaN(a) || close(a, e)) return;
    fits[k] = Object.entries(whole)
      .filter(([label, values]) => values.some((v) => v.shape.join() === shape.join() && close(a, v.data[k]) && !close(v.data[k], e) && !(strict && label === "carried" && v.data[k] === 0)))
      .map(([label]) => label);
  });
  // A mistake is made over a whole array: where an entry fits several, take the one that explains most entries.
  const explains = {};
  for (const labels of Object.values(fits)) for (const label of labels) explains[label] = (explains[label] || 0) + 1;
  return answer.map((a, k) => {
    const e = expected[k], at = unravel(k, shape);
    if (Number.isNaN(a)) return { quantity, index: at, answer: null, expected: e, verdict: "blank", mistake: null };
    if (!(k in fits)) return { quantity, index: at, answer: a, expected: e, verdict: "right", mistake: null };
    if (fits[k].includes("carried")) return { quantity, index: at, answer: a, expected: e, verdict: "carried", mistake: null };
    let best = null;
    for (const label of Object.keys(whole)) if (fits[k].includes(label) && (best === null || explains[label] > explains[best])) best = label;
    return { quantity, index: at, answer: a, expected: e, verdict: "wrong", mistake: best };
  });
}

