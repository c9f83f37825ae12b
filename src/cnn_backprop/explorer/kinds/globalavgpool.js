// globalavgpool: the mean of each channel's whole map (AdaptiveAvgPool2d(1)), C maps to C 1x1 maps.  Named pool
// (pool1, ...) like the other pools, as is its output.  Backward, each channel's gradient is shared equally by the
// H*W entries of its map.

import { factor, fmt, get, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "globalavgpool",
  order: 32,
  base: "pool",
  reads: "map",
  names: (own) => [own, own],
  shapes: (layer, [channels]) => ({ out: [channels, 1, 1], params: {} }),

  build() {
    let x;
    return {
      params: {},
      forward(input) {
        x = input;
        const [C, H, W] = x.shape, out = zeros([C, 1, 1]);
        for (let c = 0; c < C; c++) {
          let total = 0;
          for (let k = 0; k < H * W; k++) total += x.data[c * H * W + k];
          out.data[c] = total / (H * W);
        }
        return out;
      },
      backward(grad) {
        const [, H, W] = x.shape;
        return { shape: x.shape, data: x.data.map((v, k) => grad.data[Math.floor(k / (H * W))] / (H * W)) };
      },
    };
  },

  valueArithmetic({ entry, quantity, index, value, x }) {
    const [, H, W] = x.shape, c = index[0];
    const values = [], sources = [];
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        values.push(fmt(get(x, [c, i, j])));
        sources.push([entry.input, [c, i, j]]);
      }
    return { lines: [`${quantity} = mean(${values.join(", ")}) = ${fmt(value)}`], sources };
  },
  inputGradientArithmetic({ entry, quantity, index, value, up }) {
    const [, H, W] = entry.inShape, at = [index[0], 0, 0];
    return {
      lines: [`dL/d${quantity} = dL/d${entry.output}[${at.join(",")}] / ${H * W} = ${factor(get(up, at))}/${H * W} = ${fmt(value)}`],
      sources: [[`backward.${entry.output}`, at]],
    };
  },

  // The channel's whole gradient to every entry of its map: not divided by H*W.
  backwardMistakes: ({ x, grad }) => {
    const [, H, W] = x.shape;
    return { "globalavgpool-no-divide": { shape: x.shape, data: x.data.map((v, k) => grad.data[Math.floor(k / (H * W))]) } };
  },
});
