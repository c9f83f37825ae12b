// avgpool K [stride S]: the mean of each K x K window (stride K by default, as PyTorch).  Named pool (pool1, ...)
// like maxpool, its output too.

import { factor, fmt, get, outSide, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";
import { POOL, windowOf, windowsHolding } from "cnn-backprop/kinds/_pool.js";

export default kind({
  name: "avgpool",
  ...POOL,

  build({ size, stride }) {
    let x;
    return {
      params: {},
      forward(input) {
        x = input;
        const [C, H] = input.shape;
        const O = outSide(H, size, stride);
        const out = zeros([C, O, O]);
        for (let c = 0; c < C; c++)
          for (let i = 0; i < O; i++)
            for (let j = 0; j < O; j++) {
              let total = 0;
              for (let m = 0; m < size; m++)
                for (let n = 0; n < size; n++) total += x.data[(c * H + stride * i + m) * H + stride * j + n];
              out.data[(c * O + i) * O + j] = total / (size * size);
            }
        return out;
      },
      // Each window's gradient is split equally over its K * K entries; overlapping windows add up.
      backward(grad) {
        const [C, H] = x.shape, O = grad.shape[1];
        const dx = zeros(x.shape);
        for (let c = 0; c < C; c++)
          for (let i = 0; i < O; i++)
            for (let j = 0; j < O; j++) {
              const g = grad.data[(c * O + i) * O + j];
              for (let m = 0; m < size; m++)
                for (let n = 0; n < size; n++) dx.data[(c * H + stride * i + m) * H + stride * j + n] += g / (size * size);
            }
        return dx;
      },
    };
  },

  valueArithmetic({ entry, quantity, index, value, x }) {
    const { values, sources } = windowOf(entry, index, x);
    return { lines: [`${quantity} = mean(${values.join(", ")}) = ${fmt(value)}`], sources };
  },
  // dL/dx[c, r, s]: 1/K^2 of the gradient of every window it is in.
  inputGradientArithmetic({ entry, quantity, index, value, up }) {
    const { size } = entry.layer;
    const windows = windowsHolding(entry.layer, index, up.shape[1]);
    const terms = windows.map((at) => `${factor(get(up, at))}/${size * size}`);
    const sources = windows.map((at) => [`backward.${entry.output}`, at]);
    return { lines: [`dL/d${quantity} = ${terms.join(" + ") || "0 (no window holds it)"} = ${fmt(value)}`], sources };
  },

  backwardMistakes({ entry, right, shape, strideOne }) {
    const area = entry.layer.size * entry.layer.size;
    return {
      "avgpool-no-divide": { shape, data: right.data.map((v) => v * area) },
      ...(entry.layer.stride > 1 ? { "stride-ignored": { shape, data: strideOne().dx.data } } : {}),
    };
  },
});
