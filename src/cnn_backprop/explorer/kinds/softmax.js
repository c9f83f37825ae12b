// softmax: the output P(class k) = e^z_k / sum_j e^z_j of K >= 2 numbers z, and its loss, cross-entropy; last.
// Its output is named output; dL/dz = output - one_hot(y).  Computed from z - max(z), so no exponent is positive.

import { factor, fmt } from "cnn-backprop/arrays.js";
import { kind, squaredError } from "cnn-backprop/contract.js";

export default kind({
  name: "softmax",
  isOutput: true,
  reads: "vector",

  build() {
    let z;
    return {
      params: {},
      forward(input) {
        z = input;
        const top = Math.max(...z.data);
        const exps = z.data.map((v) => Math.exp(v - top));
        const total = exps.reduce((a, b) => a + b, 0);
        this.logSum = Math.log(total) + top;
        this.output = { shape: z.shape, data: exps.map((e) => e / total) };
        return this.output;
      },
      loss(label) {
        return this.logSum - z.data[label];
      },
      backward(label) {
        const grad = Float64Array.from(this.output.data);
        grad[label] -= 1;
        return { shape: z.shape, data: grad };
      },
    };
  },
  target: (output, label) => Array.from(output.data, (_, k) => Number(k === label)), // one-hot
  logitMistakes: (output, target) => ({ ...squaredError(output, target), "softmax-no-minus-y": output }),

  valueArithmetic({ entry, index, value, x }) {
    const exps = Array.from(x.data, (v) => `e^${factor(v)}`).join(" + ");
    return { lines: [`output[${index[0]}] = e^${factor(x.data[index[0]])} / (${exps}) = ${value.toFixed(4)}`], sources: [[entry.input, index]] };
  },
  inputGradientArithmetic({ state, index, value }) {
    const p = state.values.output.data[index[0]];
    return { lines: [`dL/dz = output - y = ${p.toFixed(4)} - ${Number(index[0] === state.label)} = ${fmt(value)}`], sources: [["output", index]] };
  },
});
