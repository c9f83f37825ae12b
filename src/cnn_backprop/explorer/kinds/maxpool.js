// maxpool K [stride S]: the maximum of each K x K window (stride K by default, as PyTorch).  Named pool (pool1, ...)
// like avgpool, its output too; the forward JSON also has NAME_argmax, each window's [row, col] in its input.

import { factor, fmt, get, outSide, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";
import { POOL, windowOf, windowsHolding } from "cnn-backprop/kinds/_pool.js";

// The seed notebook's backward: dP[i, j] = dw, so an entry that is the maximum of several windows keeps only the
// last window's gradient (the chain rule adds them).  After layer.forward.
function overwritten(layer, grad) {
  const x = layer.input, [, H] = x.shape, O = grad.shape[1];
  const dx = zeros(x.shape);
  layer.argmax.forEach(([r, s], k) => {
    const c = Math.floor(k / (O * O));
    dx.data[(c * H + r) * H + s] = grad.data[k];
  });
  return dx;
}

// Each window's gradient sent to every entry of the window.
function spread(layer, grad, { size, stride }) {
  const x = layer.input, [C, H] = x.shape, O = grad.shape[1];
  const out = new Float64Array(x.data.length);
  for (let c = 0; c < C; c++)
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++)
        for (let m = 0; m < size; m++)
          for (let n = 0; n < size; n++) out[(c * H + stride * i + m) * H + stride * j + n] += grad.data[(c * O + i) * O + j];
  return out;
}

// The side the notebook's "Given" (stride 2) makes of this layer's input.
const strideTwoSide = (entry) => Math.floor((entry.inShape[1] - entry.layer.size) / 2) + 1;

export default kind({
  name: "maxpool",
  ...POOL,

  build({ size, stride }) {
    let x, argmax;
    return {
      params: {},
      get argmax() {
        return argmax;
      },
      get input() {
        return x;
      },
      forward(input) {
        x = input;
        const [C, H] = input.shape;
        const O = outSide(H, size, stride);
        const out = zeros([C, O, O]);
        argmax = [];
        for (let c = 0; c < C; c++)
          for (let i = 0; i < O; i++)
            for (let j = 0; j < O; j++) {
              let best = -Infinity, at = null;
              for (let m = 0; m < size; m++)
                for (let n = 0; n < size; n++) {
                  const v = x.data[(c * H + stride * i + m) * H + stride * j + n];
                  if (v > best) [best, at] = [v, [stride * i + m, stride * j + n]]; // the first maximum wins a tie
                }
              out.data[(c * O + i) * O + j] = best;
              argmax.push(at);
            }
        return out;
      },
      // Each window's gradient goes to its maximum; an entry that is the maximum of several windows adds them up.
      backward(grad) {
        const [C, H] = x.shape, O = grad.shape[1];
        const dx = zeros(x.shape);
        for (let c = 0; c < C; c++)
          for (let i = 0; i < O; i++)
            for (let j = 0; j < O; j++) {
              const [r, s] = argmax[(c * O + i) * O + j];
              dx.data[(c * H + r) * H + s] += grad.data[(c * O + i) * O + j];
            }
        return dx;
      },
    };
  },
  extras: ["argmax"], // each window's [row, col] in its input, row-major

  valueArithmetic({ entry, quantity, index, value, x }) {
    const { values, sources } = windowOf(entry, index, x);
    return { lines: [`${quantity} = max(${values.join(", ")}) = ${fmt(value)}`], sources };
  },
  // dL/dx[c, r, s]: the gradients of the windows whose maximum it is, each whole; nothing from the others.
  inputGradientArithmetic({ state, entry, quantity, index, value, up }) {
    const O = up.shape[1], argmax = state.extras[`${entry.name}_argmax`];
    const chose = ([c, i, j]) => argmax[(c * O + i) * O + j].every((v, axis) => v === index[axis + 1]);
    const holding = windowsHolding(entry.layer, index, O), windows = holding.filter(chose);
    const sources = windows.map((at) => [`backward.${entry.output}`, at]);
    const lines = windows.map((at) => `  window [${at.slice(1).join(",")}] chose this position: its gradient ${fmt(get(up, at))} comes back whole`);
    const passed = holding.length - windows.length;
    if (passed) lines.push(`  ${passed} other window${passed === 1 ? "" : "s"} holding it chose another position: nothing from ${passed === 1 ? "it" : "them"}`);
    const sum = windows.map((at) => factor(get(up, at))).join(" + ") || "0";
    return { lines: [`dL/d${quantity} = the gradients of the windows whose maximum it is`, ...lines, `  = ${sum} = ${fmt(value)}`], sources };
  },

  shapeMistakes: (entry) => (entry.layer.stride === 2 ? {} : { "pool-stride-2": [entry.outShape[0], strideTwoSide(entry), strideTwoSide(entry)] }),
  forwardMistakes: ({ entry, rerun }) => (entry.layer.stride === 2 ? {} : { "pool-stride-2": rerun({ stride: 2 }) }),
  backwardMistakes({ entry, layer, grad, shape, strideOne }) {
    const all = spread(layer, grad, entry.layer), area = entry.layer.size * entry.layer.size;
    return {
      ...(entry.layer.stride > 1 ? { "stride-ignored": { shape, data: strideOne().dx.data } } : {}),
      "pool-overwrite": { shape, data: overwritten(layer, grad).data },
      "pool-to-all": { shape, data: all },
      "pool-average": { shape, data: all.map((v) => v / area) },
    };
  },

  // The seed notebook's two mistakes here, each a switch on the page: the overwriting backward, and its "Given"
  // stride 2, which leaves the pooled map too small for the FC layer's weights.
  notebook: {
    bug: overwritten,
    bugText: "pooling gradient overwritten (dP[i, j] = dw) instead of summed",
    notes: [
      {
        id: "stride",
        text: "pool stride 2 (the notebook's Given) with its 4-input FC layer",
        note(entry, state) {
          const side = strideTwoSide(entry), inputs = entry.inShape[0] * side * side, { layer, inShape } = entry;
          const fc = state.arch.find((e) => Object.hasOwn(e.params, `${e.name}_weights`));
          const weights = state.params[`${fc.name}_weights`].shape[1];
          return `With stride 2 a ${layer.size}x${layer.size} window fits the ${inShape[1]}x${inShape[1]} map ${side}x${side} times: ${inputs} FC input${inputs === 1 ? "" : "s"}, but the notebook's FC layer has ${weights} weights. Only stride 1 gives the 2x2 pooled map its 4 weights need.`;
        },
      },
    ],
  },
});
