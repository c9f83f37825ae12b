// relu: max(0, x) entry by entry.  Named after the layer it follows (conv_relu, fc1_relu), as is its output.

import { factor, fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "relu",
  activation: true,

  build() {
    let x;
    return {
      params: {},
      forward(input) {
        x = input;
        return { shape: x.shape, data: x.data.map((v) => (v > 0 ? v : 0)) };
      },
      // The gradient passes where the input was positive (at 0, the subgradient 0, as PyTorch).
      backward(grad) {
        return { shape: grad.shape, data: grad.data.map((g, i) => (x.data[i] > 0 ? g : 0)) };
      },
    };
  },

  valueArithmetic: ({ entry, quantity, index, value, x }) => ({
    lines: [`${quantity} = max(0, ${fmt(get(x, index))}) = ${fmt(value)}`],
    sources: [[entry.input, index]],
  }),
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const on = get(state.values[quantity], index) > 0 ? 1 : 0;
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output} * [${quantity} > 0] = ${factor(get(up, index))}*${on} = ${fmt(value)}`],
      sources: [[`backward.${entry.output}`, index]],
    };
  },

  backwardMistakes: ({ grad }) => ({ "no-relu-mask": grad }),
});
