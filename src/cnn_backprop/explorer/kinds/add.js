// add: a residual block's end, res_add = the block's last output + its input (or its 1x1 shortcut conv's output).
// Backward it hands dL/dres_add whole to each input, so the block's input, read twice, gets the sum of two paths.
// The spec writes it residual(LAYERS); the engine puts in the shortcut conv where the block changes the shape.

import { fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "add",
  word: "residual",
  order: 45,
  base: "res",
  reads: "map",
  gives: "same",
  joins: true,

  parse() {
    throw new Error("a residual block writes its layers in parentheses");
  },
  names: (own) => [own, `${own}_add`],
  // The 1x1 conv that brings the block's input to its layers' output: their channels, at the stride S that makes
  // the side, (H - 1) / S + 1 = H' (the smallest).
  shortcut(inShape, outShape) {
    const [, side] = inShape, [filters, out] = outShape;
    let stride = 1;
    while (stride <= side && Math.floor((side - 1) / stride) + 1 !== out) stride++;
    if (stride > side) throw new Error(`a residual block makes a ${side}x${side} map ${out}x${out}, which no 1x1 shortcut conv can`);
    return { kind: "conv", filters, size: 1, stride, padding: 0 };
  },

  build() {
    let count;
    return {
      params: {},
      // inputs: the arrays it adds, all of one shape.
      forward(inputs) {
        count = inputs.length;
        return { shape: inputs[0].shape, data: inputs[0].data.map((_, k) => inputs.reduce((s, x) => s + x.data[k], 0)) };
      },
      // d(a + b)/da = 1: each input's gradient is dL/dout itself.
      backward(grad) {
        return Array.from({ length: count }, () => ({ shape: grad.shape, data: grad.data.slice() }));
      },
    };
  },

  valueArithmetic: ({ entry, state, quantity, index, value }) => ({
    lines: [
      `${quantity} = ${entry.inputs.map((name) => fmt(get(state.values[name], index))).join(" + ")} = ${fmt(value)}`,
    ],
    sources: entry.inputs.map((name) => [name, index]),
  }),
  inputGradientArithmetic: ({ entry, quantity, index, value }) => ({
    lines: [`dL/d${quantity} = dL/d${entry.output} = ${fmt(value)}`],
    sources: [[`backward.${entry.output}`, index]],
  }),

  // As kinds/add.py: a halved gradient in each input's part; the shortcut's part left out of the block input's sum.
  backwardMistakes: ({ x, grad }) => ({
    "add-gradient-halved": x.map(() => ({ shape: grad.shape, data: grad.data.map((g) => g / 2) })),
  }),
  branchMistakes: (total, shortcut) => ({
    "shortcut-gradient-dropped": { shape: total.shape, data: total.data.map((t, k) => t - shortcut.data[k]) },
  }),
});
