// elu [alpha A]: x where positive, A * (e^x - 1) elsewhere (A = 1 by default, as torch.nn.ELU).
// Named after the layer it follows (conv_elu), as is its output.  Its derivative where x <= 0 is A e^x = out + A.

import { factor, fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "elu",
  order: 23,
  activation: true,

  parse: (words, option) => ({ alpha: option("alpha", 1) }),

  build({ alpha }) {
    let x, out;
    return {
      params: {},
      forward(input) {
        x = input;
        out = { shape: x.shape, data: x.data.map((v) => (v > 0 ? v : alpha * Math.expm1(v))) };
        return out;
      },
      backward(grad) {
        return { shape: grad.shape, data: grad.data.map((g, i) => (x.data[i] > 0 ? g : g * (out.data[i] + alpha))) };
      },
    };
  },

  valueArithmetic: ({ entry, quantity, index, value, x }) => {
    const v = get(x, index);
    const rule = v > 0 ? fmt(v) : `${entry.layer.alpha} * (e^${factor(v)} - 1)`;
    return { lines: [`${quantity} = ${rule} = ${fmt(value)}`], sources: [[entry.input, index]] };
  },
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const { alpha } = entry.layer;
    const out = get(state.values[entry.output], index);
    const on = get(state.values[quantity], index) > 0 ? "1" : `(${factor(out)} + ${alpha})`;
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output} * (1 if ${quantity} > 0 else ${entry.output} + ${alpha}) = ${factor(get(up, index))}*${on} = ${fmt(value)}`],
      sources: [[`backward.${entry.output}`, index], [entry.output, index]],
    };
  },

  // The derivative where x <= 0 taken as the output alone, the + A dropped.
  backwardMistakes: ({ layer, x, grad }) => {
    const out = layer.forward(x);
    return { "elu-alpha-dropped": { shape: grad.shape, data: grad.data.map((g, i) => (x.data[i] > 0 ? g : g * out.data[i])) } };
  },
});
