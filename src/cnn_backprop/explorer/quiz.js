// Marking typed answers with check.py's rules: right, carried, wrong (with the known mistake named) or blank.
// Each step of the pass is run again on the student's own values (and on the key's), by the right rule and by
// each mistaken rule; the catalogue of mistakes and their explanations comes from Python, in the page's data.

import { NOTEBOOK_BUGS, buildLayer, keepAxes, pass, toNested, unravel } from "cnn-backprop/engine.js";

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

// Every answerable (part, name) of a result, as check.Key.quantities.
export function quantities(result) {
  const found = [];
  for (const part of PARTS)
    for (const name of Object.keys(result[part]))
      if (!name.endsWith("_argmax") && !(part === "backward" && name === "image") && !(part === "shapes" && name === "input"))
        found.push([part, name]);
  return found;
}

function candidates(key, part, name, values, grads) {
  if (part === "shapes") {
    const entry = key.arch.find((e) => e.name === name || e.output === name);
    if (entry && entry.layer.kind === "maxpool" && entry.layer.stride !== 2) {
      const side = Math.floor((entry.inShape[1] - entry.layer.size) / 2) + 1;
      const sides = entry.outShape[0] === 1 ? [side, side] : [entry.outShape[0], side, side];
      return { "pool-stride-2": [{ shape: [sides.length], data: sides }] };
    }
    return {};
  }
  const found = {};
  for (const inputs of [[values, grads], [key.values, key.grads]]) {
    const step = part === "forward" ? forwardStep(key, name, ...inputs) : backwardStep(key, name, ...inputs);
    for (const [label, value] of Object.entries(step)) (found[label] ||= []).push(layout(value, key.keep[name] ?? 0));
  }
  found.carried = found.carried.slice(0, 1);
  return found;
}

function inputOf(key, values, entry) {
  const source = key.arch.find((e) => e.output === entry.input);
  return source && source.layer.kind === "flatten" ? { shape: [values[source.input].data.length], data: values[source.input].data } : values[entry.input];
}

function rerun(key, entry, x, changes = {}) {
  // One layer's forward on x, through the engine's own layers (a pass over a one-layer network).
  const one = key.single(entry, changes);
  return one.forward(x);
}

function forwardStep(key, name, values) {
  if (name === "loss") {
    const p = values.output.data, y = key.label;
    const py = p.length > 1 ? p[y] : y === 1 ? p[0] : 1 - p[0];
    return { carried: { shape: [1], data: Float64Array.of(-Math.log(py)) } };
  }
  const entry = key.arch.find((e) => e.output === name);
  const x = inputOf(key, values, entry);
  const found = { carried: rerun(key, entry, x) };
  const kind = entry.layer.kind;
  if (kind === "conv") {
    found["flipped-kernel"] = rerun(key, entry, x, { flipped: true });
    const bias = key.params[`${entry.name}_bias`].data, per = found.carried.data.length / bias.length;
    found["no-bias"] = { shape: found.carried.shape, data: found.carried.data.map((v, i) => v - bias[Math.floor(i / per)]) };
  } else if (kind === "dense") {
    const bias = key.params[`${entry.name}_bias`].data;
    found["no-bias"] = { shape: found.carried.shape, data: found.carried.data.map((v, i) => v - bias[i]) };
  } else if (kind === "maxpool" && entry.layer.stride !== 2) {
    found["pool-stride-2"] = rerun(key, entry, x, { stride: 2 });
  }
  const following = key.arch.find((e) => e.input === name);
  if (following && following.layer.kind === "relu") found["post-activation"] = { shape: key.values[name].shape, data: key.values[name].data.map((v) => Math.max(v, 0)) };
  else if (following && (following.layer.kind === "sigmoid" || following.layer.kind === "softmax")) found["post-activation"] = key.values.output;
  return found;
}

function backwardStep(key, name, values, grads) {
  const owner = key.arch.find((e) => Object.hasOwn(e.params, name));
  if (owner) {
    const layer = key.single(owner);
    layer.forward(inputOf(key, values, owner));
    layer.backward(grads[owner.output]);
    const grad = layer.grads[name.slice(owner.name.length + 1)];
    const found = { carried: grad };
    if (name.endsWith("_kernel")) found["flipped-kernel"] = flip(grad);
    return found;
  }
  let reader = key.arch.find((e) => e.input === name);
  if (reader.layer.kind === "flatten") reader = key.arch.find((e) => e.input === reader.output);
  const shape = values[name].shape;
  if (reader.layer.kind === "sigmoid" || reader.layer.kind === "softmax") {
    const p = values.output.data, y = key.label;
    const target = Array.from(p, (_, k) => (reader.layer.kind === "sigmoid" ? y : Number(k === y)));
    const found = { carried: { shape, data: p.map((v, k) => v - target[k]) } };
    if (reader.layer.kind === "sigmoid") found["squared-error-gradient"] = { shape, data: p.map((v, k) => (v - target[k]) * v * (1 - v)) };
    return found;
  }
  const layer = key.single(reader);
  layer.forward(inputOf(key, values, reader));
  const g = grads[reader.output];
  const found = { carried: { shape, data: layer.backward(g).data } };
  if (reader.layer.kind === "relu") found["no-relu-mask"] = g;
  else if (reader.layer.kind === "dense" && g.data.length === 1) found["fc-weight-grad"] = { shape, data: NOTEBOOK_BUGS.dense(layer, g).data };
  else if (reader.layer.kind === "maxpool") {
    found["pool-overwrite"] = { shape, data: NOTEBOOK_BUGS.maxpool(layer, g).data };
    const spread = poolSpread(layer, g, reader.layer);
    found["pool-to-all"] = { shape, data: spread };
    found["pool-average"] = { shape, data: spread.map((v) => v / (reader.layer.size * reader.layer.size)) };
  }
  return found;
}

function poolSpread(layer, grad, { size, stride }) {
  const x = layer.input, [C, H] = x.shape, O = grad.shape[1];
  const out = new Float64Array(x.data.length);
  for (let c = 0; c < C; c++)
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++)
        for (let m = 0; m < size; m++)
          for (let n = 0; n < size; n++) out[(c * H + stride * i + m) * H + stride * j + n] += grad.data[(c * O + i) * O + j];
  return out;
}

function flip(kernel) {
  const [, , K] = kernel.shape.slice(-3);
  const out = new Float64Array(kernel.data.length);
  for (let base = 0; base < kernel.data.length; base += K * K)
    for (let m = 0; m < K; m++) for (let n = 0; n < K; n++) out[base + m * K + n] = kernel.data[base + (K - 1 - m) * K + (K - 1 - n)];
  return { shape: kernel.shape, data: out };
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

const close = (a, b, tol) => Number.isFinite(b) && Math.abs(a - b) <= tol + 1e-12;

// Every answer marked: answers is {"part.name": nested array or number, null for blanks}, as check.read_answers reads.
export function mark(key, answers, decimals = 4) {
  const tol = 10 ** -decimals;
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
    entries.push(...markOne(quantity, given, expected, shapeOf(answer), shape, candidates(key, part, name, values, grads), tol));
  }
  return entries;
}

function shapeOf(nested) {
  const shape = [];
  for (let item = nested; Array.isArray(item); item = item[0]) shape.push(item.length);
  return shape;
}

function markOne(quantity, answer, expected, answerShape, shape, candidates, tol) {
  if (answerShape.join() !== shape.join()) {
    // A whole answer of another shape can only be a mistake that changes the shape (pool stride 2).
    const answered = answer.some((a) => !Number.isNaN(a));
    for (const [label, values] of Object.entries(candidates))
      for (const v of values)
        if (answered && v.shape.join() === answerShape.join() && answer.every((a, k) => Number.isNaN(a) || Math.abs(a - v.data[k]) <= tol)) {
          return answer.map((a, k) => ({ quantity, index: unravel(k, answerShape), answer: Number.isNaN(a) ? null : a, expected: null, verdict: "wrong", mistake: label }));
        }
    return answer.map((a, k) => ({ quantity, index: unravel(k, answerShape), answer: Number.isNaN(a) ? null : a, expected: null, verdict: Number.isNaN(a) ? "blank" : "wrong", mistake: null }));
  }
  const whole = { ...candidates, sign: [{ shape, data: expected.map((e) => -e) }] };
  if (shape.length === 2 && shape[0] === shape[1]) {
    const n = shape[0];
    whole.transposed = [{ shape, data: expected.map((_, k) => expected[(k % n) * n + Math.floor(k / n)]) }];
  }
  const fits = {};
  answer.forEach((a, k) => {
    const e = expected[k];
    if (Number.isNaN(a) || close(a, e, tol)) return;
    fits[k] = Object.entries(whole)
      .filter(([, values]) => values.some((v) => v.shape.join() === shape.join() && close(a, v.data[k], tol) && !close(v.data[k], e, tol)))
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

