// conv FxKxK [stride S] [pad P]: F filters of C x K x K slid over the zero-padded map (cross-correlation, as PyTorch).
// Named conv (conv1, conv2, ...), its output NAME_pre (before the activation); parameters NAME_kernel and NAME_bias.

import { factor, fmt, get, outSide, zeros } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

// The kernel rotated by 180 degrees in each K x K: true convolution, the "flipped-kernel" mistake.
function rotated(kernel) {
  const KK = kernel.shape[3] * kernel.shape[3];
  return { shape: kernel.shape, data: kernel.data.map((_, i) => kernel.data[i - (i % KK) + (KK - 1 - (i % KK))]) };
}

// Where window (i, j)'s entry (m, n) reads the input: the row and column in the unpadded map.
const inputAt = ({ stride, padding }, i, j, m, n) => [stride * i + m - padding, stride * j + n - padding];

export default kind({
  name: "conv",
  base: "conv",
  reads: "map",
  hyperKeys: ["stride", "padding"],
  paramKeys: ["kernel", "bias"],
  keep: { kernel: 2, bias: 0 },
  torchKeys: { kernel: "weight", bias: "bias" },
  sizedAnswer: true,
  notebook: { gradient: "kernel" }, // the panel compares dL/dkernel with the notebook's mistakes and without

  parse(words, option) {
    const [filters, size] = words[0].split("x").map(Number);
    return { filters, size, stride: option("stride", 1), padding: option("pad", 0) };
  },
  sizesFrom(read) {
    const kernel = read("kernel", 4);
    return kernel ? { filters: kernel.shape[0], size: kernel.shape[2] } : {};
  },
  shapes({ filters, size, stride, padding }, [channels, side]) {
    const out = outSide(side, size, stride, padding);
    return { out: [filters, out, out], params: { kernel: [filters, channels, size, size], bias: [filters] } };
  },

  // ``flipped`` (a change the quiz makes) computes with the kernel rotated.
  build(layer, { kernel: given, bias }) {
    const { stride, padding } = layer;
    const kernel = layer.flipped ? rotated(given) : given;
    const [F, C, K] = kernel.shape;
    let x;
    return {
      params: { kernel, bias },
      forward(input) {
        x = input;
        const [, H] = input.shape;
        const O = outSide(H, K, stride, padding);
        const out = zeros([F, O, O]);
        for (let f = 0; f < F; f++)
          for (let i = 0; i < O; i++)
            for (let j = 0; j < O; j++) {
              let total = bias.data[f];
              for (let c = 0; c < C; c++)
                for (let m = 0; m < K; m++)
                  for (let n = 0; n < K; n++) {
                    const r = stride * i + m - padding, s = stride * j + n - padding;
                    if (r >= 0 && r < H && s >= 0 && s < H) total += x.data[(c * H + r) * H + s] * kernel.data[((f * C + c) * K + m) * K + n];
                  }
              out.data[(f * O + i) * O + j] = total;
            }
        return out;
      },
      backward(grad) {
        const H = x.shape[1], O = grad.shape[1];
        const dKernel = zeros(kernel.shape), dBias = zeros(bias.shape), dx = zeros(x.shape);
        for (let f = 0; f < F; f++)
          for (let i = 0; i < O; i++)
            for (let j = 0; j < O; j++) {
              const g = grad.data[(f * O + i) * O + j];
              dBias.data[f] += g;
              for (let c = 0; c < C; c++)
                for (let m = 0; m < K; m++)
                  for (let n = 0; n < K; n++) {
                    const r = stride * i + m - padding, s = stride * j + n - padding;
                    if (r < 0 || r >= H || s < 0 || s >= H) continue;
                    const at = ((f * C + c) * K + m) * K + n;
                    dKernel.data[at] += g * x.data[(c * H + r) * H + s];
                    dx.data[(c * H + r) * H + s] += g * kernel.data[at];
                  }
            }
        this.grads = { kernel: dKernel, bias: dBias };
        return dx;
      },
    };
  },

  // conv_pre[f, i, j] = bias[f] + the sum over its window of input * kernel (a padded entry reads 0).
  valueArithmetic({ state, entry: { layer, name, input }, quantity, index: [f, i, j], value, x }) {
    const kernel = state.params[`${name}_kernel`], bias = state.params[`${name}_bias`].data[f];
    const H = x.shape[1], sources = [], terms = [];
    for (let c = 0; c < x.shape[0]; c++)
      for (let m = 0; m < layer.size; m++)
        for (let n = 0; n < layer.size; n++) {
          const [r, s] = inputAt(layer, i, j, m, n);
          const inside = r >= 0 && r < H && s >= 0 && s < H;
          if (inside) sources.push([input, [c, r, s]]);
          sources.push([`${name}_kernel`, [f, c, m, n]]);
          terms.push(`${factor(inside ? get(x, [c, r, s]) : 0)}*${factor(get(kernel, [f, c, m, n]))}`);
        }
    return { lines: [`${quantity} = ${fmt(bias)} + ${terms.join(" + ")} = ${fmt(value)}`], sources };
  },
  // dL/dkernel[f, c, m, n] pairs each output gradient with the input entry that weight met; dL/dbias sums them.
  paramGradientArithmetic({ state, entry, quantity, key, index, value, up }) {
    const O = up.shape[1];
    if (key === "bias") {
      const f = index[0];
      const terms = Array.from(up.data.subarray(f * O * O, (f + 1) * O * O), factor).join(" + ");
      return { lines: [`dL/d${quantity} = sum of dL/d${entry.output} = ${terms} = ${fmt(value)}`], sources: [] };
    }
    const [f, c, m, n] = index;
    const x = state.values[entry.input], H = x.shape[1], terms = [], sources = [];
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++) {
        const [r, s] = inputAt(entry.layer, i, j, m, n);
        const pixel = r >= 0 && r < H && s >= 0 && s < H ? get(x, [c, r, s]) : 0;
        terms.push(`${factor(get(up, [f, i, j]))}*${factor(pixel)}`);
        sources.push([`backward.${entry.output}`, [f, i, j]]);
      }
    return { lines: [`dL/d${quantity} = ${terms.join(" + ")} = ${fmt(value)}`], sources };
  },
  inputGradientArithmetic: ({ quantity, value }) => ({
    lines: [`dL/d${quantity} = ${fmt(value)} (each window entry's gradient times the kernel, summed)`],
    sources: [],
  }),

  forwardMistakes({ key, entry, right, rerun }) {
    const bias = key.params[`${entry.name}_bias`].data, per = right.data.length / bias.length;
    return {
      "flipped-kernel": rerun({ flipped: true }),
      "no-bias": { shape: right.shape, data: right.data.map((v, i) => v - bias[Math.floor(i / per)]) },
    };
  },
  // dL/dX by the full correlation with the unflipped kernel: the right backward with the kernel rotated.
  backwardMistakes({ key, entry, x, grad, shape, strideOne }) {
    const flipped = key.single(entry, { flipped: true });
    flipped.forward(x);
    const found = { "conv-input-grad-not-flipped": { shape, data: flipped.backward(grad).data } };
    if (entry.layer.stride > 1) found["stride-ignored"] = { shape, data: strideOne().dx.data };
    return found;
  },
  paramMistakes({ entry, param, grad, strideOne }) {
    if (param !== "kernel") return {};
    const found = { "flipped-kernel": rotated(grad) };
    if (entry.layer.stride > 1) found["stride-ignored"] = strideOne().grads.kernel;
    return found;
  },
});
