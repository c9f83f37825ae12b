// sigmoid anywhere but last: 1 / (1 + e^-x) entry by entry, a hidden activation (the last sigmoid is the output,
// kinds/sigmoid.js).  Named after the layer it follows (conv_sigmoid), as is its output; dL/dx = dL/dout * out (1 - out).

import { factor, fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

// e^ only of -|v|, which cannot overflow.
const logistic = (v) => {
  const e = Math.exp(-Math.abs(v));
  return v >= 0 ? 1 / (1 + e) : e / (1 + e);
};

export default kind({
  name: "hiddensigmoid",
  word: "sigmoid",
  order: 24,
  activation: true,

  build() {
    let out;
    return {
      params: {},
      forward(input) {
        out = { shape: input.shape, data: input.data.map(logistic) };
        return out;
      },
      backward(grad) {
        return { shape: grad.shape, data: grad.data.map((g, i) => g * out.data[i] * (1 - out.data[i])) };
      },
    };
  },

  valueArithmetic: ({ entry, quantity, index, value, x }) => ({
    lines: [`${quantity} = 1 / (1 + e^-${factor(get(x, index))}) = ${fmt(value)}`],
    sources: [[entry.input, index]],
  }),
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const o = factor(get(state.values[entry.output], index));
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output} * ${entry.output} * (1 - ${entry.output}) = ${factor(get(up, index))}*${o}*(1 - ${o}) = ${fmt(value)}`],
      sources: [[`backward.${entry.output}`, index], [entry.output, index]],
    };
  },

  // The derivative x (1 - x) of the input instead of out (1 - out) of the output.
  backwardMistakes: ({ x, grad }) => ({
    "sigmoid-wrong-derivative": { shape: grad.shape, data: grad.data.map((g, i) => g * x.data[i] * (1 - x.data[i])) },
  }),
});
