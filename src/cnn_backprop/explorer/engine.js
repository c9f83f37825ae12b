// The page's engine: the Python engine's forward and backward pass, in float64, for any network spec.
// run(given) returns the layout of `cnn-backprop walkthrough --json`; the tests hold the two equal to 1e-12.
// Arrays are {shape, data} in row-major order while computing, nested lists only at the edges.
// Everything particular to a kind of layer is in its kinds/ module; this file only strings layers together.

import { squeezed, toArray, toNested } from "cnn-backprop/arrays.js";
import { KINDS } from "cnn-backprop/kinds.js";

export { toArray, toNested, unravel } from "cnn-backprop/arrays.js";
export { KINDS };

export const SEED_SPEC = "conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid";
const KEEP_IMAGE = 2; // the image keeps its height and width in the JSON layout

const depth = (nested) => (Array.isArray(nested) ? 1 + depth(nested[0]) : 0);

export const kindOf = (layer) => {
  if (!Object.hasOwn(KINDS, layer.kind)) throw new Error(`unknown layer ${JSON.stringify(layer.kind)}; layers: ${Object.keys(KINDS).join(", ")}`);
  return KINDS[layer.kind];
};

// The kind a spec's word is (as kinds.spelled): where two kinds share the word, the output kind last, the other
// elsewhere; the word itself where no kind has it (kindOf says so).
export function spelled(word, last) {
  const kinds = Object.entries(KINDS).filter(([, kind]) => (kind.word || kind.name) === word);
  kinds.sort(([, a], [, b]) => (a.isOutput !== last) - (b.isOutput !== last));
  return kinds.length ? kinds[0][0] : word;
}

// ``text`` split at each comma outside parentheses.
function topLevel(text) {
  const parts = [];
  let depth = 0, start = 0;
  [...text].forEach((char, i) => {
    depth += (char === "(") - (char === ")");
    if (depth === 0 && char === ",") {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  });
  return [...parts, text.slice(start)];
}

function parseItem(item, last) {
  const [word, ...words] = item.trim().split(/\s+/);
  const option = (key, fallback) => {
    const at = words.indexOf(key);
    return at < 0 ? fallback : Number(words[at + 1]);
  };
  const layer = { kind: spelled(word.toLowerCase(), last) };
  return { ...layer, ...kindOf(layer).parse(words, option) };
}

// The layers of a spec; a block, residual(LAYERS), is its layers and then the layer that joins them (an add).
export function parseSpec(spec) {
  const items = topLevel(spec);
  const layers = items.flatMap((item, index) => {
    const block = item.trim().match(/^(\w+)\s*\((.*)\)$/s);
    if (!block) return [parseItem(item, index === items.length - 1)];
    const inner = block[2].split(",").map((text) => parseItem(text, false));
    return [...inner, { kind: spelled(block[1].toLowerCase(), false), span: inner.length, projection: false }];
  });
  // The first layer that reads a vector gets the layer that makes one (flatten) before it, unless one came earlier.
  let gives = "map";
  for (let i = 0; i < layers.length; i++) {
    const kind = kindOf(layers[i]);
    if (kind.reads === "vector" && gives === "map") {
      const [name] = Object.entries(KINDS).find(([, k]) => k.reads === "map" && k.gives === "vector");
      layers.splice(i, 0, { kind: name });
      break;
    }
    if (kind.gives !== "same") gives = kind.gives;
  }
  return layers;
}

// What each layer reads (as architecture.wiring): {sources: [[layer index, -1 the image], ...], shortcuts: {index
// of a block's shortcut conv: its add's index}}.  A layer reads the one before, but an add reads its block's last
// layer and its shortcut (the conv right before it where it has one, else the block's input).
export function wiring(layers) {
  const sources = layers.map((_, index) => [index - 1]), shortcuts = {};
  layers.forEach((layer, index) => {
    if (!kindOf(layer).joins) return;
    const last = index - 1 - (layer.projection ? 1 : 0), blockInput = last - layer.span;
    if (layer.projection) {
      shortcuts[index - 1] = index;
      sources[index - 1] = [blockInput];
    }
    sources[index] = [last, layer.projection ? index - 1 : blockInput];
  });
  return { sources, shortcuts };
}

// Every layer's name and output name, from the kinds alone (as architecture.names does); a block's shortcut conv is
// named after its add (res_shortcut), leaving the other convs' numbers as they are.
export function names(layers) {
  const kinds = layers.map(kindOf);
  const { shortcuts } = wiring(layers);
  const counts = {};
  kinds.forEach((kind, i) => {
    if (kind.base && !(i in shortcuts)) counts[kind.base] = (counts[kind.base] || 0) + 1;
  });
  const seen = {};
  const numbered = kinds.map((kind, i) => {
    if (!kind.base || i in shortcuts) return null;
    seen[kind.base] = (seen[kind.base] || 0) + 1;
    return counts[kind.base] === 1 ? kind.base : `${kind.base}${seen[kind.base]}`;
  });
  let previous = "image";
  return kinds.map((kind, index) => {
    const following = numbered.find((name, i) => i > index && name !== null);
    const shortcut = index in shortcuts ? `${numbered[shortcuts[index]]}_shortcut` : null;
    const [name, output] = shortcut ? [shortcut, shortcut] : kind.names(numbered[index], previous, following);
    previous = name;
    return { name, output };
  });
}

// ``layers`` with a 1x1 conv on the shortcut of each block whose layers change the shape of what they read.
function projected(layers, imageShape) {
  const result = [], shapes = [];
  for (const layer of layers) {
    const kind = kindOf(layer);
    const shape = shapes.length ? shapes.at(-1) : imageShape;
    if (kind.joins) {
      const blockInput = shapes.length > layer.span ? shapes.at(-1 - layer.span) : imageShape;
      if (blockInput.join() !== shape.join()) {
        result.push(kind.shortcut(blockInput, shape));
        layer.projection = true;
      }
    }
    result.push(layer);
    shapes.push(kind.shapes(layer, shape).out);
  }
  return result;
}

// The architecture of a given: the spec with the sizes its hyperparameters and arrays set, and every shape.
export function architecture(given) {
  const parsed = parseSpec(given.net || SEED_SPEC);
  const named = names(parsed);
  const image = toArray(given.image, 3);
  parsed.forEach((layer, i) => {
    const { name } = named[i], kind = kindOf(layer);
    for (const key of kind.hyperKeys) if (given[`${name}_${key}`] !== undefined) layer[key] = given[`${name}_${key}`];
    const read = (key, ndim) => (given[`${name}_${key}`] === undefined ? undefined : toArray(given[`${name}_${key}`], ndim));
    Object.assign(layer, kind.sizesFrom(read));
    // The mode a layer computes in, and in evaluation mode what it reads besides its parameters (running statistics).
    layer.mode = given.mode || "train";
    if (layer.mode === "eval") for (const key of kind.givenBuffers) layer[key] = read(key, 1);
    // ...and in training mode what it drew (a dropout's mask), written in its full shape
    if (layer.mode === "train") for (const key of kind.givenDraws) layer[key] = read(key, depth(given[`${name}_${key}`]));
  });
  const layers = projected(parsed, image.shape);
  const placed = names(layers), { sources } = wiring(layers);
  const entries = [];
  layers.forEach((layer, i) => {
    const { name, output } = placed[i];
    const inputs = sources[i].map((at) => (at < 0 ? "image" : entries[at].output));
    const inShape = sources[i][0] < 0 ? image.shape : entries[sources[i][0]].outShape;
    const { out, params: shapes = {} } = kindOf(layer).shapes(layer, inShape);
    const params = {};
    for (const key of kindOf(layer).paramKeys) params[`${name}_${key}`] = shapes[key];
    entries.push({ layer, name, output, input: inputs[0], inputs, inShape, outShape: out, params });
  });
  return entries;
}

// One layer of an architecture holding ``params``; ``changes`` makes a mistaken one (a flipped kernel, another stride).
export function buildLayer(entry, params, changes = {}) {
  const layer = { ...entry.layer, ...changes };
  const own = {};
  for (const key of kindOf(layer).paramKeys) own[key] = params[`${entry.name}_${key}`];
  return kindOf(layer).build(layer, own);
}

export function paramsOf(given, arch) {
  const params = {};
  for (const entry of arch) for (const [key, shape] of Object.entries(entry.params)) {
    const array = toArray(given[key], shape.length);
    params[key] = { shape, data: array.data };
  }
  return params;
}

// One forward and one backward pass: {arch, values, grads, extras, loss}, every array in full shape.
// ``extras`` has what a layer's forward finds besides its output, as NAME_KEY (a max pool's argmax); ``argmax`` is
// the same object, under the name it had when max pools had the only extras.
// options.arch is the given's architecture, when known (training, which runs many images through one network).
// options.backward {kind: rule(layer, grad)} replaces a kind's backward (the notebook's mistakes).
export function pass(given, options = {}) {
  const arch = options.arch || architecture(given);
  const params = options.params || paramsOf(given, arch);
  const layers = arch.map((entry) => buildLayer(entry, params));
  const image = toArray(given.image, 3);
  const values = { image }, extras = {};
  arch.forEach((entry, i) => {
    const inputs = entry.inputs || [entry.input];
    values[entry.output] = layers[i].forward(inputs.length > 1 ? inputs.map((name) => values[name]) : values[inputs[0]]);
    for (const key of kindOf(entry.layer).extras) extras[`${entry.name}_${key}`] = layers[i][key];
  });
  const out = layers[layers.length - 1];
  const loss = out.loss(given.label);
  // A value that feeds several layers (a residual block's input) gets the sum of what each passes back; ``parts``
  // keeps those, {value: {the layer it came back through: its part}} (as the Python pass's parts).
  const grads = {}, arrived = {}, parts = {};
  const add = (name, part, reader) => {
    (parts[name] ||= {})[reader] = part;
    arrived[name] = arrived[name] ? { shape: part.shape, data: arrived[name].data.map((v, k) => v + part.data[k]) } : part;
  };
  for (let i = arch.length - 1; i >= 0; i--) {
    const entry = arch[i], inputs = entry.inputs || [entry.input];
    let back;
    if (i === arch.length - 1) back = layers[i].backward(given.label);
    else {
      grads[entry.output] = arrived[entry.output];
      back = (options.backward?.[entry.layer.kind] || ((l, g) => l.backward(g)))(layers[i], grads[entry.output]);
    }
    inputs.forEach((name, k) => add(name, inputs.length > 1 ? back[k] : back, entry.name));
    for (const key of Object.keys(entry.params)) grads[key] = layers[i].grads[key.slice(entry.name.length + 1)];
  }
  grads.image = arrived.image;
  for (const name of Object.keys(parts)) if (Object.keys(parts[name]).length < 2) delete parts[name];
  return { arch, params, values, grads, extras, argmax: extras, loss, parts };
}

// How many trailing axes each quantity keeps in the JSON layout (as walkthrough.keep_axes).
export function keepAxes(arch) {
  const keep = { image: KEEP_IMAGE };
  for (const entry of arch) {
    const kind = kindOf(entry.layer);
    keep[entry.output] = entry.outShape.length === 3 ? 2 : kind.reshapes ? 1 : 0; // a flattened map stays a list
    for (const key of Object.keys(entry.params)) keep[key] = kind.keep[key.slice(entry.name.length + 1)];
  }
  return keep;
}

export function run(given) {
  const { arch, params, values, grads, extras, loss } = pass(given);
  const keep = keepAxes(arch);
  const shown = arch.filter((entry) => !kindOf(entry.layer).reshapes); // in forward and backward
  const shapes = { input: squeezed(values.image.shape, keep.image) };
  for (const entry of arch) {
    const kind = kindOf(entry.layer);
    if (kind.sizedAnswer || kind.reshapes) shapes[kind.reshapes ? entry.output : entry.name] = squeezed(entry.outShape, keep[entry.output]);
  }
  const forward = {};
  for (const entry of shown) {
    const kind = kindOf(entry.layer);
    forward[entry.output] = toNested(values[entry.output], keep[entry.output]);
    for (const key of kind.extras) forward[`${entry.name}_${key}`] = extraLayout(extras[`${entry.name}_${key}`]);
  }
  forward.loss = loss;
  const backward = {};
  for (let i = arch.length - 1; i >= 0; i--) {
    const entry = arch[i];
    if (i < arch.length - 1 && !kindOf(entry.layer).reshapes) backward[entry.output] = toNested(grads[entry.output], keep[entry.output]);
    for (const key of Object.keys(entry.params)) backward[key] = toNested(grads[key], keep[key]);
  }
  backward.image = toNested(grads.image, keep.image);
  const torch = { state_dict: {}, grad: {} };
  for (const entry of arch) for (const key of Object.keys(entry.params)) {
    const torchName = `${entry.name}.${kindOf(entry.layer).torchKeys[key.slice(entry.name.length + 1)]}`;
    torch.state_dict[torchName] = toNested(params[key], params[key].shape.length);
    torch.grad[torchName] = toNested(grads[key], params[key].shape.length);
  }
  return { given, shapes, forward, backward, torch };
}

// An extra as walkthrough writes it: a {shape, data} array of more than two axes as one row per output value, any
// other as it is (a max pool's argmax is its list of [row, col] already).
function extraLayout(value) {
  if (!value.data) return value;
  const shape = value.shape.length > 2 ? [value.data.length / value.shape.at(-1), value.shape.at(-1)] : value.shape;
  return toNested({ shape, data: value.data }, shape.length);
}

// The seed notebook's backward mistakes, {kind: rule(layer, grad)}, as a pass can use instead of the layers' own.
export const NOTEBOOK_BUGS = Object.fromEntries(
  Object.entries(KINDS).filter(([, kind]) => kind.notebook?.bug).map(([name, kind]) => [name, kind.notebook.bug]),
);
