// Where one number comes from: the cells it is computed from, and its arithmetic, as `--explain` writes it.
// Indices are full ones (channel first, no batch); each kind writes its own arithmetic (valueArithmetic,
// inputGradientArithmetic, paramGradientArithmetic in its kinds/ module).

import { fmt, get } from "cnn-backprop/arrays.js";
import { kindOf } from "cnn-backprop/engine.js";

// The layer that reads ``quantity``, looking through a layer that only reshapes (the flatten before a dense layer).
function readerOf(state, quantity) {
  const reader = state.arch.find((entry) => entry.input === quantity);
  return reader && kindOf(reader.layer).reshapes ? readerOf(state, reader.output) : reader;
}

// {lines, sources: [[quantity, fullIndex]]} for the forward value quantity[index].
export function forwardArithmetic(state, quantity, index) {
  const entry = state.arch.find((e) => e.output === quantity);
  if (!entry) return { lines: [`${quantity} is given`], sources: [] };
  const value = get(state.values[quantity], index);
  return kindOf(entry.layer).valueArithmetic({ state, entry, quantity, index, value, x: state.values[entry.input] });
}

// {lines, sources} for the gradient dL/d(quantity)[index]: of a parameter, from its layer; of a value, from the
// layer that reads it.
export function backwardArithmetic(state, quantity, index) {
  const value = get(state.grads[quantity], index);
  const owner = state.arch.find((entry) => Object.hasOwn(entry.params, quantity));
  if (owner) {
    const key = quantity.slice(owner.name.length + 1), up = state.grads[owner.output];
    return kindOf(owner.layer).paramGradientArithmetic({ state, entry: owner, quantity, key, index, value, up });
  }
  const reader = readerOf(state, quantity);
  if (!reader) return { lines: [`dL/d${quantity} = ${fmt(value)}`], sources: [] };
  return kindOf(reader.layer).inputGradientArithmetic({ state, entry: reader, quantity, index, value, up: state.grads[reader.output] });
}
