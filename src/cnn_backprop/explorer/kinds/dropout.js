// dropout P: in training mode each entry kept (mask 1) and scaled by 1/(1 - P), or dropped (mask 0); the identity in
// evaluation.  The mask is the given's NAME_mask (drawn from the seed by Python).  Named drop (drop1, ...), as is its
// output; the forward JSON also has NAME_mask.

import { factor, fmt, get } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "dropout",
  order: 35,
  base: "drop",
  modal: true,
  givenDraws: ["mask"],
  extras: ["mask"],
  names: (own) => [own, own],
  parse: (words) => ({ p: Number(words[0]) }),

  build(layer) {
    const training = layer.mode !== "eval";
    let mask, scale;
    return {
      params: {},
      get mask() {
        return mask;
      },
      forward(x) {
        mask = training ? layer.mask : { shape: x.shape, data: x.data.map(() => 1) };
        scale = training ? 1 / (1 - layer.p) : 1;
        return { shape: x.shape, data: x.data.map((v, i) => v * mask.data[i] * scale) };
      },
      backward(grad) {
        return { shape: grad.shape, data: grad.data.map((g, i) => g * mask.data[i] * scale) };
      },
    };
  },

  valueArithmetic({ state, entry, quantity, index, value, x }) {
    if (entry.layer.mode === "eval") return { lines: [`${quantity} = ${fmt(get(x, index))} = ${fmt(value)}`], sources: [[entry.input, index]] };
    const m = get(state.extras[`${entry.name}_mask`], index);
    return {
      lines: [`${quantity} = ${factor(get(x, index))} * ${m} / (1 - ${entry.layer.p}) = ${fmt(value)}`],
      sources: [[entry.input, index]],
    };
  },
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const sources = [[`backward.${entry.output}`, index]];
    if (entry.layer.mode === "eval") return { lines: [`dL/d${quantity} = dL/d${entry.output} = ${fmt(value)}`], sources };
    const m = get(state.extras[`${entry.name}_mask`], index);
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output} * mask / (1 - ${entry.layer.p}) = ${factor(get(up, index))}*${m}/${1 - entry.layer.p} = ${fmt(value)}`],
      sources,
    };
  },

  // The kept entries not scaled by 1/(1 - P), forward and backward.
  forwardMistakes: ({ entry, right, x }) =>
    entry.layer.mode === "eval" ? {} : { "dropout-unscaled": { shape: right.shape, data: right.data.map((v) => v * (1 - entry.layer.p)) } },
  backwardMistakes: ({ entry, layer, grad, shape }) =>
    entry.layer.mode === "eval" ? {} : { "dropout-unscaled": { shape, data: grad.data.map((g, i) => g * layer.mask.data[i]) } },
});
