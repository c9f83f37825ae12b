// dense O: a fully connected layer, z = W x + b with O outputs.  Named fc (fc1, fc2, ...), its output NAME_pre;
// parameters NAME_weights (O x D) and NAME_bias.

import { factor, fmt, skipped, unravel, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

// The seed notebook's backward: dL/dweights (dL/dz * x, one output) sent back as dL/dx instead of dL/dz * weights.
function weightsGradSentBack(layer, grad) {
  layer.backward(grad);
  return { shape: layer.input.shape, data: layer.input.data.map((v) => grad.data[0] * v) };
}

export default kind({
  name: "dense",
  base: "fc",
  reads: "vector",
  gives: "vector",
  paramKeys: ["weights", "bias"],
  keep: { weights: 1, bias: 0 },
  torchKeys: { weights: "weight", bias: "bias" },
  notebook: { bug: weightsGradSentBack, bugText: "dL/dw_fc sent back into pooling instead of dL/dpool = dL/dz * w_fc" },

  parse: (words) => ({ outputs: Number(words[0]) }),
  sizesFrom(read) {
    const weights = read("weights", 2);
    return weights ? { outputs: weights.shape[0] } : {};
  },
  shapes: ({ outputs }, [inputs]) => ({ out: [outputs], params: { weights: [outputs, inputs], bias: [outputs] } }),

  build(layer, { weights, bias }) {
    const [O, D] = weights.shape;
    let x;
    return {
      params: { weights, bias },
      get input() {
        return x;
      },
      forward(input) {
        x = input;
        const out = zeros([O]);
        for (let o = 0; o < O; o++) {
          let total = 0;
          for (let d = 0; d < D; d++) total += weights.data[o * D + d] * x.data[d];
          out.data[o] = total + bias.data[o];
        }
        return out;
      },
      backward(grad) {
        const dWeights = zeros(weights.shape), dx = zeros([D]);
        for (let o = 0; o < O; o++)
          for (let d = 0; d < D; d++) {
            dWeights.data[o * D + d] = grad.data[o] * x.data[d];
            dx.data[d] += grad.data[o] * weights.data[o * D + d];
          }
        this.grads = { weights: dWeights, bias: { shape: [O], data: Float64Array.from(grad.data) } };
        return dx;
      },
    };
  },

  valueArithmetic({ state, entry: { name, input }, quantity, index: [o], value, x }) {
    const weights = state.params[`${name}_weights`], D = weights.shape[1];
    const terms = [], sources = [];
    let zeros = 0;
    for (let d = 0; d < D; d++) {
      sources.push([`${name}_weights`, [o, d]], [input, unravel(d, x.shape)]);
      if (x.data[d] === 0) zeros += 1;
      else terms.push(`${factor(x.data[d])}*${factor(weights.data[o * D + d])}`);
    }
    if (zeros) terms.push(skipped(zeros, "terms with a zero input"));
    return {
      lines: [
        `${quantity} = sum over d of x[d] * W[o, d] + b[o]   (x = ${input} flattened, W = ${name}_weights, b = ${name}_bias; o=${o})`,
        `  = ${terms.join(" + ")} + ${factor(state.params[`${name}_bias`].data[o])} = ${fmt(value)}`,
      ],
      sources,
    };
  },
  paramGradientArithmetic({ state, entry, quantity, key, index: [o, d], value, up }) {
    const from = [[`backward.${entry.output}`, [o]]];
    if (key !== "bias") from.push([entry.input, unravel(d, state.values[entry.input].shape)]);
    if (key === "bias") return { lines: [`dL/d${quantity} = dL/d${entry.output} = ${fmt(value)}`], sources: from };
    const x = state.values[entry.input];
    return { lines: [`dL/d${quantity} = dL/d${entry.output} * input = ${factor(up.data[o])}*${factor(x.data[d])} = ${fmt(value)}`], sources: from };
  },
  // dL/dx[d] = the sum over outputs of dL/dz[o] * weights[o, d]; d counts along the (flattened) input.
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const weights = state.params[`${entry.name}_weights`], D = weights.shape[1];
    const shape = state.values[quantity].shape;
    let d = 0;
    for (let axis = 0; axis < index.length; axis++) d = d * shape[axis] + index[axis];
    const terms = [], sources = [];
    for (let o = 0; o < up.data.length; o++) {
      terms.push(`${factor(up.data[o])}*${factor(weights.data[o * D + d])}`);
      sources.push([`backward.${entry.output}`, [o]], [`${entry.name}_weights`, [o, d]]);
    }
    return { lines: [`dL/d${quantity} = sum over o of dL/d${entry.output}[o] * ${entry.name}_weights[o, ${d}] (the weight times the output's gradient)`, `  = ${terms.join(" + ")} = ${fmt(value)}`], sources };
  },

  forwardMistakes({ key, entry, right }) {
    const bias = key.params[`${entry.name}_bias`].data;
    return { "no-bias": { shape: right.shape, data: right.data.map((v, i) => v - bias[i]) } };
  },
  backwardMistakes: ({ layer, grad, shape }) =>
    grad.data.length === 1 ? { "fc-weight-grad": { shape, data: weightsGradSentBack(layer, grad).data } } : {},
});
