// leakyrelu [slope A]: x where positive, A * x elsewhere (A = 0.01 by default, as torch.nn.LeakyReLU).
// Named after the layer it follows (conv_leakyrelu), as is its output.  At 0 the slope is A, as in PyTorch.

import { factor, fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "leakyrelu",
  order: 22,
  activation: true,

  parse: (words, option) => ({ slope: option("slope", 0.01) }),

  build({ slope }) {
    let x;
    return {
      params: {},
      forward(input) {
        x = input;
        return { shape: x.shape, data: x.data.map((v) => (v > 0 ? v : slope * v)) };
      },
      backward(grad) {
        return { shape: grad.shape, data: grad.data.map((g, i) => (x.data[i] > 0 ? g : slope * g)) };
      },
    };
  },

  valueArithmetic: ({ entry, quantity, index, value, x }) => {
    const v = get(x, index);
    const rule = v > 0 ? fmt(v) : `${entry.layer.slope} * ${factor(v)}`;
    return { lines: [`${quantity} = ${rule} = ${fmt(value)}`], sources: [[entry.input, index]] };
  },
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const on = get(state.values[quantity], index) > 0 ? 1 : entry.layer.slope;
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output} * (1 if ${quantity} > 0 else ${entry.layer.slope}) = ${factor(get(up, index))}*${on} = ${fmt(value)}`],
      sources: [[`backward.${entry.output}`, index]],
    };
  },

  // A ReLU's rule: the gradient stopped where the input was not positive.
  backwardMistakes: ({ x, grad, shape }) => ({
    "leaky-slope-dropped": { shape, data: grad.data.map((g, i) => (x.data[i] > 0 ? g : 0)) },
  }),
});
