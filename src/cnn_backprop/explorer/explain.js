// Where one number comes from: the cells it is computed from, and its arithmetic, as `--explain` writes it.
// Indices are full ones (channel first, no batch); each kind writes its own arithmetic (valueArithmetic,
// inputGradientArithmetic, paramGradientArithmetic in its kinds/ module).

import { factor, fmt, get, squeezed, unravel } from "cnn-backprop/arrays.js";
import { keepAxes, kindOf } from "cnn-backprop/engine.js";

// ``quantity[index]`` as the --json layout indexes it (the leading axes of length 1 dropped).
function named(state, quantity, index) {
  const shape = arrayOf(state, quantity).shape;
  // a drawn mask keeps every axis, as its given writes it (and its cells' data-index)
  const drawn = !state.values[quantity] && Object.hasOwn(state.extras, quantity);
  const rank = squeezed(shape, keepAxes(state.arch)[quantity] ?? (drawn ? shape.length : 0)).length;
  return `${quantity}[${index.slice(index.length - rank).join(",")}]`;
}

// A quantity's array: a value, a parameter, or what a layer drew in training mode (a dropout's mask).
const arrayOf = (state, quantity) => state.values[quantity] || state.params[quantity] || state.extras[quantity];

// The sources as the page shows them: an entry of a reshaped map (the flatten before a dense layer) is the entry
// of the map it reshapes.
function shownSources(state, sources) {
  return sources.map(([quantity, index]) => {
    const bare = quantity.replace(/^backward\./, "");
    const source = state.arch.find((e) => e.output === bare && kindOf(e.layer).reshapes);
    if (!source) return [quantity, index];
    const prefix = quantity.slice(0, quantity.length - bare.length);
    return [`${prefix}${source.input}`, unravel(index[0], state.values[source.input].shape)];
  });
}

// The result with its value named on a first line, its sources as shown.
function titled(state, title, { lines, sources }) {
  return { lines: [title, ...lines], sources: shownSources(state, sources) };
}

// The layer that reads ``quantity``, looking through a layer that only reshapes (the flatten before a dense layer).
function readerOf(state, quantity) {
  const reader = state.arch.find((entry) => entry.input === quantity);
  return reader && kindOf(reader.layer).reshapes ? readerOf(state, reader.output) : reader;
}

// {lines, sources: [[quantity, fullIndex]]} for the forward value quantity[index].
export function forwardArithmetic(state, quantity, index) {
  const entry = state.arch.find((e) => e.output === quantity);
  const title = named(state, quantity, index);
  if (!entry) {
    const how = Object.hasOwn(state.extras, quantity) ? "given (drawn in training mode)" : "given";
    return { lines: [title, `${quantity} is ${how}: ${fmt(get(arrayOf(state, quantity), index))}`], sources: [] };
  }
  const value = get(state.values[quantity], index);
  return titled(state, title, kindOf(entry.layer).valueArithmetic({ state, entry, quantity, index, value, x: state.values[entry.input] }));
}

// {lines, sources} for the gradient dL/d(quantity)[index]: of a parameter, from its layer; of a value, from the
// layer that reads it, or where several do (a residual block's input), each one's part and then their sum.
export function backwardArithmetic(state, quantity, index) {
  const value = get(state.grads[quantity], index);
  const title = `dL/d${named(state, quantity, index)}`;
  const owner = state.arch.find((entry) => Object.hasOwn(entry.params, quantity));
  if (owner) {
    const key = quantity.slice(owner.name.length + 1), up = state.grads[owner.output];
    return titled(state, title, kindOf(owner.layer).paramGradientArithmetic({ state, entry: owner, quantity, key, index, value, up }));
  }
  if (state.parts?.[quantity]) return titled(state, title, branchArithmetic(state, quantity, index, value));
  const reader = readerOf(state, quantity);
  if (!reader) return { lines: [title, `dL/d${quantity} = ${fmt(value)}`], sources: [] };
  const found = kindOf(reader.layer).inputGradientArithmetic({ state, entry: reader, quantity, index, value, up: state.grads[reader.output] });
  return titled(state, title, found);
}

// dL/d(a value several layers read)[index]: what each passes back, by its own arithmetic, then their sum (as
// `--explain` writes it).
function branchArithmetic(state, quantity, index, value) {
  const lines = [], sources = [], paths = Object.entries(state.parts[quantity]);
  for (const [layer, part] of paths) {
    const entry = state.arch.find((e) => e.name === layer), via = `dL/d${quantity} via ${layer}`;
    const found = kindOf(entry.layer).inputGradientArithmetic({ state, entry, quantity, index, value: get(part, index), up: state.grads[entry.output] });
    lines.push(...found.lines.map((line, k) => (k ? line : line.replace(`dL/d${quantity}`, via))));
    sources.push(...found.sources);
  }
  lines.push(
    `${quantity} feeds ${paths.length} layers: the chain rule adds what each passes back`,
    `dL/d${quantity} = ${paths.map(([layer]) => `(via ${layer})`).join(" + ")} = ${paths.map(([, part]) => factor(get(part, index))).join(" + ")} = ${fmt(value)}`,
  );
  return { lines, sources };
}
