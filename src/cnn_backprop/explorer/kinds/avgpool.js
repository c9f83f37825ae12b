// avgpool K [stride S]: the mean of each K x K window (stride K by default, as PyTorch).  Named pool (pool1, ...)
// like maxpool, its output too.

import { factor, fmt, get, outSide, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "avgpool",
  base: "pool",
  reads: "map",
  hyperKeys: ["size", "stride"],
  sizedAnswer: true,
  names: (own) => [own, own],

  parse(words, option) {
    const size = Number(words[0]);
    return { size, stride: option("stride", size) };
  },
  shapes({ size, stride }, [channels, side]) {
    const out = outSide(side, size, stride);
    return { out: [channels, out, out] };
  },

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

  valueArithmetic({ entry: { layer, input }, quantity, index: [c, i, j], value, x }) {
    const window = [], sources = [];
    for (let m = 0; m < layer.size; m++)
      for (let n = 0; n < layer.size; n++) {
        const at = [c, layer.stride * i + m, layer.stride * j + n];
        window.push(fmt(get(x, at)));
        sources.push([input, at]);
      }
    return { lines: [`${quantity} = mean(${window.join(", ")}) = ${fmt(value)}`], sources };
  },
  // dL/dx[c, r, s]: 1/K^2 of the gradient of every window it is in.
  inputGradientArithmetic({ entry, quantity, index: [c, r, s], value, up }) {
    const { size, stride } = entry.layer, O = up.shape[1];
    const terms = [], sources = [];
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++) {
        if (r - stride * i < 0 || r - stride * i >= size || s - stride * j < 0 || s - stride * j >= size) continue;
        terms.push(`${factor(get(up, [c, i, j]))}/${size * size}`);
        sources.push([`backward.${entry.output}`, [c, i, j]]);
      }
    return { lines: [`dL/d${quantity} = ${terms.join(" + ") || "0 (no window's maximum)"} = ${fmt(value)}`], sources };
  },
});
