// tanh: tanh(x) entry by entry.  Named after the layer it follows (conv_tanh), as is its output.
// Its derivative is 1 - out^2, written with the output the forward pass kept.

import { factor, fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "tanh",
  order: 21,
  activation: true,

  build() {
    let out;
    return {
      params: {},
      forward(x) {
        out = { shape: x.shape, data: x.data.map(Math.tanh) };
        return out;
      },
      backward(grad) {
        return { shape: grad.shape, data: grad.data.map((g, i) => g * (1 - out.data[i] * out.data[i])) };
      },
    };
  },

  valueArithmetic: ({ entry, quantity, index, value, x }) => ({
    lines: [`${quantity} = tanh(${fmt(get(x, index))}) = ${fmt(value)}`],
    sources: [[entry.input, index]],
  }),
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const out = get(state.values[entry.output], index);
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output} * (1 - ${entry.output}^2) = ${factor(get(up, index))}*(1 - ${factor(out)}^2) = ${fmt(value)}`],
      sources: [[`backward.${entry.output}`, index]],
    };
  },

  // 1 - x^2 of the input instead of 1 - out^2 of the output.
  backwardMistakes: ({ x, grad, shape }) => ({
    "tanh-wrong-derivative": { shape, data: grad.data.map((g, i) => g * (1 - x.data[i] ** 2)) },
  }),
});
