// batchnorm: BatchNorm2d of one image after a conv layer: each channel normalised over its map, then scaled and
// shifted, out = gamma * (x - mean) / sqrt(var + eps) + beta (the biased variance, eps 1e-5).  Named bn (bn1, ...),
// as is its output; parameters NAME_gamma and NAME_beta; the forward JSON also has NAME_mean and NAME_var.
// The mean and variance depend on every x of the channel, so dL/dx has three terms.  In evaluation mode (a given's
// mode "eval", with NAME_running_mean and NAME_running_var) they are the running statistics, constants, and
// dL/dx = gamma / sqrt(var + eps) * dL/dout.

import { factor, fmt, get, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

const EPS = 1e-5;

// Channel c's numbers of an array {shape: [C, H, W], data}.
const channel = (array, c) => {
  const n = array.shape[1] * array.shape[2];
  return array.data.subarray(c * n, (c + 1) * n);
};
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

export default kind({
  name: "batchnorm",
  order: 15,
  base: "bn",
  reads: "map",
  names: (own) => [own, own],
  paramKeys: ["gamma", "beta"],
  keep: { gamma: 0, beta: 0 },
  torchKeys: { gamma: "weight", beta: "bias" },
  shapes: (layer, inShape) => ({ out: inShape, params: { gamma: [inShape[0]], beta: [inShape[0]] } }),
  extras: ["mean", "var"],
  modal: true,
  givenBuffers: ["running_mean", "running_var"],

  build(layer, { gamma, beta }) {
    const evaluation = layer.mode === "eval";
    let xHat, means, variances;
    return {
      params: { gamma, beta },
      get mean() {
        return means;
      },
      get var() {
        return variances;
      },
      forward(x) {
        const C = x.shape[0];
        means = zeros([C]);
        variances = zeros([C]);
        xHat = zeros(x.shape);
        const out = zeros(x.shape);
        for (let c = 0; c < C; c++) {
          const values = channel(x, c);
          means.data[c] = evaluation ? layer.running_mean.data[c] : mean(values);
          variances.data[c] = evaluation ? layer.running_var.data[c] : mean(values.map((v) => (v - means.data[c]) ** 2));
          const scale = 1 / Math.sqrt(variances.data[c] + EPS);
          channel(xHat, c).set(values.map((v) => (v - means.data[c]) * scale));
          channel(out, c).set(channel(xHat, c).map((h) => gamma.data[c] * h + beta.data[c]));
        }
        return out;
      },
      // dL/dx = gamma / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat)), g = dL/dout, per channel.
      backward(grad) {
        const C = grad.shape[0];
        const dx = zeros(grad.shape), dGamma = zeros([C]), dBeta = zeros([C]);
        for (let c = 0; c < C; c++) {
          const g = channel(grad, c), h = channel(xHat, c);
          const gMean = mean(g), ghMean = mean(g.map((v, k) => v * h[k]));
          dBeta.data[c] = gMean * g.length;
          dGamma.data[c] = ghMean * g.length;
          const scale = gamma.data[c] / Math.sqrt(variances.data[c] + EPS);
          channel(dx, c).set(g.map((v, k) => (evaluation ? scale * v : scale * (v - gMean - h[k] * ghMean))));
        }
        this.grads = { gamma: dGamma, beta: dBeta };
        return dx;
      },
      // The gradient as if the mean and variance did not depend on x (the "bn-constant-stats" mistake).
      constantStats(grad) {
        const data = grad.data.map((v, k) => {
          const c = Math.floor(k / (grad.shape[1] * grad.shape[2]));
          return (v * gamma.data[c]) / Math.sqrt(variances.data[c] + EPS);
        });
        return { shape: grad.shape, data };
      },
    };
  },

  valueArithmetic({ state, entry: { name }, quantity, index, value, x }) {
    const c = index[0];
    const g = state.params[`${name}_gamma`].data[c], b = state.params[`${name}_beta`].data[c];
    const m = state.extras[`${name}_mean`].data[c], v = state.extras[`${name}_var`].data[c];
    return {
      lines: [`${quantity} = gamma * (x - mean) / sqrt(var + eps) + beta = ${fmt(g)} * (${fmt(get(x, index))} - ${factor(m)}) / sqrt(${fmt(v)} + 1e-05) + ${factor(b)} = ${fmt(value)}`],
      sources: [[`${name}_gamma`, [c]], [`${name}_beta`, [c]]],
    };
  },
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const [c] = index, name = entry.name, out = entry.output;
    const g = state.params[`${name}_gamma`].data[c];
    const m = state.extras[`${name}_mean`].data[c], v = state.extras[`${name}_var`].data[c];
    const grads = channel(up, c), xHat = channel(state.values[entry.input], c).map((x) => (x - m) / Math.sqrt(v + EPS));
    const at = index[1] * up.shape[2] + index[2];
    if (entry.layer.mode === "eval") {
      return {
        lines: [`dL/d${quantity} = gamma / sqrt(var + eps) * dL/d${out} = ${fmt(g)} / sqrt(${fmt(v)} + 1e-05) * ${factor(grads[at])} = ${fmt(value)}`],
        sources: [[`backward.${out}`, index]],
      };
    }
    const gMean = mean(grads), ghMean = mean(grads.map((u, k) => u * xHat[k]));
    const terms = `${fmt(grads[at])} - ${factor(gMean)} - ${factor(xHat[at])}*${factor(ghMean)}`;
    return {
      lines: [`dL/d${quantity} = gamma / sqrt(var + eps) * (dL/d${out} - mean(dL/d${out}) - x_hat * mean(dL/d${out} * x_hat)) = ${fmt(g)} / sqrt(${fmt(v)} + 1e-05) * (${terms}) = ${fmt(value)}`],
      sources: [[`backward.${out}`, index]],
    };
  },
  paramGradientArithmetic({ entry, quantity, key, index, value }) {
    const rule = key === "beta" ? `sum of dL/d${entry.output}[${index[0]}]` : `sum of dL/d${entry.output}[${index[0]}] * x_hat`;
    return { lines: [`dL/d${quantity} = ${rule} = ${fmt(value)}`], sources: [] };
  },

  backwardMistakes: ({ layer, grad, shape }) => ({ "bn-constant-stats": { shape, data: layer.constantStats(grad).data } }),
});
