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

// Channel c of the layer's input normalised by the statistics it used (the batch's, or the running ones in
// evaluation): x_hat, as its forward computed it.
function normalised(state, { name, input }, c) {
  const m = state.extras[`${name}_mean`].data[c], v = state.extras[`${name}_var`].data[c];
  return channel(state.values[input], c).map((x) => (x - m) / Math.sqrt(v + EPS));
}

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

  // out = gamma * x_hat + beta, x_hat written out, then the product.
  valueArithmetic({ state, entry, quantity, index, value, x }) {
    const c = index[0], name = entry.name;
    const g = state.params[`${name}_gamma`].data[c], b = state.params[`${name}_beta`].data[c];
    const m = state.extras[`${name}_mean`].data[c], v = state.extras[`${name}_var`].data[c];
    const xHat = normalised(state, entry, c)[index[1] * x.shape[2] + index[2]];
    return {
      lines: [`${quantity} = gamma * (x - mean) / sqrt(var + eps) + beta = ${fmt(g)} * (${fmt(get(x, index))} - ${factor(m)}) / sqrt(${fmt(v)} + 1e-05) + ${factor(b)} = ${fmt(g)} * ${factor(xHat)} + ${factor(b)} = ${fmt(value)}`],
      sources: [[`${name}_gamma`, [c]], [`${name}_beta`, [c]]],
    };
  },
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const [c] = index, name = entry.name, out = entry.output;
    const g = state.params[`${name}_gamma`].data[c];
    const v = state.extras[`${name}_var`].data[c];
    const grads = channel(up, c), xHat = normalised(state, entry, c);
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
  // dL/dbeta[c] sums channel c of dL/dout; dL/dgamma[c] each of them times its x_hat.
  paramGradientArithmetic({ state, entry, quantity, key, index: [c], value, up }) {
    const grads = channel(up, c), xHat = normalised(state, entry, c), out = entry.output;
    const [, H, W] = up.shape, sources = [];
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) sources.push([`backward.${out}`, [c, i, j]]);
    const terms = Array.from(grads, (g, k) => (key === "beta" ? factor(g) : `${factor(g)}*${factor(xHat[k])}`)).join(" + ");
    const rule = key === "beta" ? `sum of dL/d${out}[${c}]` : `sum of dL/d${out}[${c}] * x_hat`;
    return { lines: [`dL/d${quantity} = ${rule} = ${terms} = ${fmt(value)}`], sources };
  },

  backwardMistakes: ({ layer, grad, shape }) => ({ "bn-constant-stats": { shape, data: layer.constantStats(grad).data } }),
});
