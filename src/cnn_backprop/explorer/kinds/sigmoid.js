// sigmoid: the output P(class 1) = 1 / (1 + e^-z) of one number z, and its loss, binary cross-entropy; last.
// Its output is named output; dL/dz = output - y.  Fused with the loss so that no exponent is positive.

import { fmt } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "sigmoid",
  isOutput: true,
  reads: "vector",
  notebook: {}, // the notebook's output: one number, so its FC mistake sends back dL/dz * input

  build() {
    let z;
    return {
      params: {},
      forward(input) {
        z = input;
        const v = z.data[0], e = Math.exp(-Math.abs(v));
        this.output = { shape: [1], data: Float64Array.of(v >= 0 ? 1 / (1 + e) : e / (1 + e)) };
        return this.output;
      },
      loss(label) {
        const v = z.data[0];
        return Math.max(v, 0) - label * v + Math.log1p(Math.exp(-Math.abs(v)));
      },
      backward(label) {
        const grad = Float64Array.from(this.output.data);
        grad[0] -= label;
        return { shape: z.shape, data: grad };
      },
    };
  },
  target: (output, label) => [label],

  valueArithmetic: ({ entry, value, x }) => ({
    lines: [`output = sigmoid(${fmt(x.data[0])}) = 1 / (1 + e^-z) = ${value.toFixed(4)}`],
    sources: [[entry.input, [0]]],
  }),
  inputGradientArithmetic({ state, index, value }) {
    const p = state.values.output.data[index[0]];
    return { lines: [`dL/dz = output - y = ${p.toFixed(4)} - ${state.label} = ${fmt(value)}`], sources: [["output", index]] };
  },
});
