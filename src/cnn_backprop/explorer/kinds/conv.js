// conv FxKxK [stride S] [pad P]: F filters of C x K x K slid over the zero-padded map (cross-correlation, as PyTorch).
// Named conv (conv1, conv2, ...), its output NAME_pre (before the activation); parameters NAME_kernel and NAME_bias.

import { factor, fmt, get, outSide, skipped, zeros } from "cnn-backprop/arrays.js";
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
  slides: true,
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
    const [F, C, K] = kernel.shape, Q = C * K * K;
    // Each window's Q = C*K*K inputs laid out in a row (cols, P rows: one per output position), read from the input
    // with its zero border: every sum below is then one long contiguous loop, the same for every kernel size.
    let x, side, O, P, cols;
    const windows = (visit) => {
      for (let i = 0; i < O; i++)
        for (let j = 0; j < O; j++)
          for (let c = 0, q = 0; c < C; c++)
            for (let m = 0; m < K; m++)
              for (let n = 0; n < K; n++, q++) visit((i * O + j) * Q + q, (c * side + stride * i + m) * side + stride * j + n);
    };
    return {
      params: { kernel, bias },
      forward(input) {
        x = input;
        const [, H] = input.shape;
        side = H + 2 * padding;
        O = outSide(H, K, stride, padding);
        P = O * O;
        const padded = new Float64Array(C * side * side);
        for (let c = 0; c < C; c++)
          for (let r = 0; r < H; r++) padded.set(x.data.subarray((c * H + r) * H, (c * H + r + 1) * H), (c * side + r + padding) * side + padding);
        cols = new Float64Array(P * Q);
        windows((at, from) => (cols[at] = padded[from]));
        const w = kernel.data, out = zeros([F, O, O]);
        for (let f = 0; f < F; f++)
          for (let p = 0; p < P; p++) {
            let total = bias.data[f];
            for (let q = 0, a = f * Q, b = p * Q; q < Q; q++) total += w[a + q] * cols[b + q];
            out.data[f * P + p] = total;
          }
        return out;
      },
      backward(grad) {
        const H = x.shape[1], w = kernel.data;
        const dKernel = zeros(kernel.shape), dBias = zeros(bias.shape), dCols = new Float64Array(P * Q), dk = dKernel.data;
        for (let f = 0; f < F; f++)
          for (let p = 0; p < P; p++) {
            const g = grad.data[f * P + p];
            if (g === 0) continue; // a ReLU's zero: nothing to add
            dBias.data[f] += g;
            for (let q = 0, a = f * Q, b = p * Q; q < Q; q++) {
              dk[a + q] += g * cols[b + q];
              dCols[b + q] += g * w[a + q];
            }
          }
        const dPadded = new Float64Array(C * side * side);
        windows((at, to) => (dPadded[to] += dCols[at]));
        const dx = zeros(x.shape);
        for (let c = 0; c < C; c++)
          for (let r = 0; r < H; r++) dx.data.set(dPadded.subarray((c * side + r + padding) * side + padding, (c * side + r + padding) * side + padding + H), (c * H + r) * H);
        this.grads = { kernel: dKernel, bias: dBias };
        return dx;
      },
    };
  },

  // conv_pre[f, i, j] = bias[f] + the sum over its window of input * kernel (a padded entry reads 0), a channel a
  // line where there are several; terms whose pixel is 0 are counted, not written.
  valueArithmetic({ state, entry: { layer, name, input }, quantity, index: [f, i, j], value, x }) {
    const kernel = state.params[`${name}_kernel`], bias = state.params[`${name}_bias`].data[f];
    const H = x.shape[1], sources = [], channels = [];
    for (let c = 0; c < x.shape[0]; c++) {
      const terms = [];
      let subtotal = 0, zeros = 0;
      for (let m = 0; m < layer.size; m++)
        for (let n = 0; n < layer.size; n++) {
          const [r, s] = inputAt(layer, i, j, m, n);
          const pixel = r >= 0 && r < H && s >= 0 && s < H ? get(x, [c, r, s]) : 0, weight = get(kernel, [f, c, m, n]);
          if (r >= 0 && r < H && s >= 0 && s < H) sources.push([input, [c, r, s]]);
          sources.push([`${name}_kernel`, [f, c, m, n]]);
          if (pixel === 0) zeros += 1;
          else terms.push(`${factor(pixel)}*${factor(weight)}`);
          subtotal += pixel * weight;
        }
      channels.push({ c, terms, zeros, subtotal });
    }
    const written = ({ terms, zeros }) => [...terms, zeros ? skipped(zeros, "terms with a zero pixel") : null].filter(Boolean).join(" + ") || "0";
    const lines = [
      `${quantity} = b[f] + sum over c, m, n of X[c, ${layer.stride}i+m-${layer.padding}, ${layer.stride}j+n-${layer.padding}] * K[f, c, m, n]`,
      `  X = ${input} (the pixels), K = ${name}_kernel (the weights), b = ${name}_bias; f=${f}, i=${i}, j=${j}`,
    ];
    if (channels.length === 1) lines.push(`  = ${fmt(bias)} + ${written(channels[0])} = ${fmt(value)}`);
    else {
      for (const channel of channels) if (channel.terms.length) lines.push(`  channel ${channel.c}: ${written(channel)} = ${fmt(channel.subtotal)}`);
      const empty = channels.filter((ch) => !ch.terms.length).length;
      if (empty) lines.push(`  ${empty} channel${empty === 1 ? "" : "s"} with only zero pixels: 0`);
      lines.push(`  = ${fmt(bias)} + ${channels.filter((ch) => ch.terms.length).map((ch) => factor(ch.subtotal)).join(" + ") || "0"} = ${fmt(value)}`);
    }
    return { lines, sources };
  },
  // dL/dkernel[f, c, m, n] pairs each output gradient with the input entry that weight met; dL/dbias sums them.
  paramGradientArithmetic({ state, entry, quantity, key, index, value, up }) {
    const O = up.shape[1], out = `backward.${entry.output}`;
    if (key === "bias") {
      const f = index[0], sources = [];
      for (let i = 0; i < O; i++) for (let j = 0; j < O; j++) sources.push([out, [f, i, j]]);
      const terms = Array.from(up.data.subarray(f * O * O, (f + 1) * O * O), factor).join(" + ");
      return { lines: [`dL/d${quantity} = sum over i, j of dL/d${entry.output}[f, i, j]`, `  = ${terms} = ${fmt(value)}`], sources };
    }
    const [f, c, m, n] = index, { layer } = entry;
    const x = state.values[entry.input], H = x.shape[1], terms = [], sources = [];
    let zeros = 0;
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++) {
        const [r, s] = inputAt(layer, i, j, m, n);
        const inside = r >= 0 && r < H && s >= 0 && s < H, pixel = inside ? get(x, [c, r, s]) : 0;
        sources.push([out, [f, i, j]]);
        if (inside) sources.push([entry.input, [c, r, s]]);
        if (pixel === 0 || get(up, [f, i, j]) === 0) zeros += 1;
        else terms.push(`${factor(get(up, [f, i, j]))}*${factor(pixel)}`);
      }
    if (zeros) terms.push(skipped(zeros, "terms with a zero factor"));
    return {
      lines: [
        `dL/d${quantity} = sum over i, j of dL/dZ[f, i, j] * X[c, ${layer.stride}i+m-${layer.padding}, ${layer.stride}j+n-${layer.padding}]`,
        `  dL/dZ = dL/d${entry.output} (the gradient each output brings), X = ${entry.input} (the pixel this weight met)`,
        `  = ${terms.join(" + ") || "0"} = ${fmt(value)}`,
      ],
      sources,
    };
  },
  // dL/dx[c, r, s]: every window that read this pixel sends back its gradient times the weight that met it: the full
  // correlation of dL/dZ with the kernel flipped.
  inputGradientArithmetic({ state, entry, quantity, index: [c, r, s], value, up }) {
    const { layer, name } = entry, kernel = state.params[`${name}_kernel`], [F, O] = up.shape;
    const terms = [], sources = [];
    let zeros = 0;
    for (let f = 0; f < F; f++)
      for (let m = 0; m < layer.size; m++)
        for (let n = 0; n < layer.size; n++) {
          const i = (r + layer.padding - m) / layer.stride, j = (s + layer.padding - n) / layer.stride;
          if (!Number.isInteger(i) || !Number.isInteger(j) || i < 0 || j < 0 || i >= O || j >= O) continue;
          const g = get(up, [f, i, j]), w = get(kernel, [f, c, m, n]);
          sources.push([`backward.${entry.output}`, [f, i, j]], [`${name}_kernel`, [f, c, m, n]]);
          if (g === 0) zeros += 1;
          else terms.push(`${factor(g)}*${factor(w)}`);
        }
    if (zeros) terms.push(skipped(zeros, "windows with a zero gradient"));
    return {
      lines: [
        `dL/d${quantity} = sum over f and the windows (i, j) holding this pixel of dL/dZ[f, i, j] * K[f, c, m, n]`,
        `  (m, n) = where the pixel sits in window (i, j): the kernel meets dL/dZ flipped, a full correlation`,
        `  dL/dZ = dL/d${entry.output}, K = ${name}_kernel`,
        `  = ${terms.join(" + ") || "0"} = ${fmt(value)}`,
      ],
      sources,
    };
  },

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
