// Where one number comes from: the cells it is computed from, and its arithmetic, as `--explain` writes it.
// Indices are full ones (channel first, no batch); `at` writes them as the JSON layout does.

const fmt = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(4));
const factor = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));

function layerOf(state, quantity) {
  return state.arch.find((entry) => entry.output === quantity);
}

function readerOf(state, quantity) {
  const reader = state.arch.find((entry) => entry.input === quantity);
  return reader && reader.layer.kind === "flatten" ? readerOf(state, reader.output) : reader;
}

const get = (array, index) => {
  let offset = 0;
  for (let axis = 0; axis < index.length; axis++) offset = offset * array.shape[axis] + index[axis];
  return array.data[offset];
};

// {lines, sources: [[quantity, fullIndex]]} for the forward value quantity[index].
export function forwardArithmetic(state, quantity, index) {
  const entry = layerOf(state, quantity);
  if (!entry) return { lines: [`${quantity} is given`], sources: [] };
  const { layer, name, input } = entry;
  const x = state.values[input];
  const value = get(state.values[quantity], index);
  const sources = [];
  const terms = [];
  if (layer.kind === "conv") {
    const [f, i, j] = index;
    const kernel = state.params[`${name}_kernel`], bias = state.params[`${name}_bias`].data[f];
    const H = x.shape[1];
    for (let c = 0; c < x.shape[0]; c++)
      for (let m = 0; m < layer.size; m++)
        for (let n = 0; n < layer.size; n++) {
          const r = layer.stride * i + m - layer.padding, s = layer.stride * j + n - layer.padding;
          const pixel = r >= 0 && r < H && s >= 0 && s < H ? get(x, [c, r, s]) : 0;
          if (r >= 0 && r < H && s >= 0 && s < H) sources.push([input, [c, r, s]]);
          sources.push([`${name}_kernel`, [f, c, m, n]]);
          terms.push(`${factor(pixel)}*${factor(get(kernel, [f, c, m, n]))}`);
        }
    return { lines: [`${quantity} = ${fmt(bias)} + ${terms.join(" + ")} = ${fmt(value)}`], sources };
  }
  if (layer.kind === "relu") return { lines: [`${quantity} = max(0, ${fmt(get(x, index))}) = ${fmt(value)}`], sources: [[input, index]] };
  if (layer.kind === "maxpool" || layer.kind === "avgpool") {
    const [c, i, j] = index;
    const window = [];
    for (let m = 0; m < layer.size; m++)
      for (let n = 0; n < layer.size; n++) {
        const at = [c, layer.stride * i + m, layer.stride * j + n];
        window.push(fmt(get(x, at)));
        sources.push([input, at]);
      }
    const how = layer.kind === "maxpool" ? "max" : "mean";
    return { lines: [`${quantity} = ${how}(${window.join(", ")}) = ${fmt(value)}`], sources };
  }
  if (layer.kind === "dense") {
    const [o] = index;
    const weights = state.params[`${name}_weights`], D = weights.shape[1];
    const flat = state.values[input];
    for (let d = 0; d < D; d++) {
      terms.push(`${factor(flat.data[d])}*${factor(weights.data[o * D + d])}`);
      sources.push([`${name}_weights`, [o, d]]);
    }
    return { lines: [`${quantity} = ${terms.join(" + ")} + ${factor(state.params[`${name}_bias`].data[o])} = ${fmt(value)}`], sources };
  }
  if (layer.kind === "sigmoid") return { lines: [`output = sigmoid(${fmt(x.data[0])}) = 1 / (1 + e^-z) = ${value.toFixed(4)}`], sources: [[input, [0]]] };
  const exps = Array.from(x.data, (v) => `e^${factor(v)}`).join(" + ");
  return { lines: [`output[${index[0]}] = e^${factor(x.data[index[0]])} / (${exps}) = ${value.toFixed(4)}`], sources: [[input, index]] };
}

// {lines, sources} for the gradient dL/d(quantity)[index].
export function backwardArithmetic(state, quantity, index) {
  const g = state.grads;
  const value = get(g[quantity], index);
  const owner = state.arch.find((entry) => Object.hasOwn(entry.params, quantity));
  if (owner) {
    const up = g[owner.output];
    if (quantity.endsWith("_kernel")) {
      const [f, c, m, n] = index;
      const x = state.values[owner.input], H = x.shape[1], O = up.shape[1], { stride, padding } = owner.layer;
      const terms = [], sources = [];
      for (let i = 0; i < O; i++)
        for (let j = 0; j < O; j++) {
          const r = stride * i + m - padding, s = stride * j + n - padding;
          const pixel = r >= 0 && r < H && s >= 0 && s < H ? get(x, [c, r, s]) : 0;
          terms.push(`${factor(get(up, [f, i, j]))}*${factor(pixel)}`);
          sources.push([`backward.${owner.output}`, [f, i, j]]);
        }
      return { lines: [`dL/d${quantity} = ${terms.join(" + ")} = ${fmt(value)}`], sources };
    }
    if (owner.layer.kind === "conv") {
      const f = index[0], O = up.shape[1];
      const terms = Array.from(up.data.subarray(f * O * O, (f + 1) * O * O), factor).join(" + ");
      return { lines: [`dL/d${quantity} = sum of dL/d${owner.output} = ${terms} = ${fmt(value)}`], sources: [] };
    }
    if (quantity.endsWith("_bias")) return { lines: [`dL/d${quantity} = dL/d${owner.output} = ${fmt(value)}`], sources: [[`backward.${owner.output}`, index]] };
    const [o, d] = index;
    const x = state.values[owner.input];
    return { lines: [`dL/d${quantity} = dL/d${owner.output} * input = ${factor(up.data[o])}*${factor(x.data[d])} = ${fmt(value)}`], sources: [[`backward.${owner.output}`, [o]]] };
  }
  const reader = readerOf(state, quantity);
  if (!reader) return { lines: [`dL/d${quantity} = ${fmt(value)}`], sources: [] };
  const up = g[reader.output];
  if (reader.layer.kind === "sigmoid" || reader.layer.kind === "softmax") {
    const p = state.values.output.data[index[0]];
    const y = reader.layer.kind === "sigmoid" ? state.label : Number(index[0] === state.label);
    return { lines: [`dL/dz = output - y = ${p.toFixed(4)} - ${y} = ${fmt(value)}`], sources: [["output", index]] };
  }
  if (reader.layer.kind === "relu") {
    const on = get(state.values[quantity], index) > 0 ? 1 : 0;
    return { lines: [`dL/d${quantity} = dL/d${reader.output} * [${quantity} > 0] = ${factor(get(up, index))}*${on} = ${fmt(value)}`], sources: [[`backward.${reader.output}`, index]] };
  }
  if (reader.layer.kind === "dense") {
    const weights = state.params[`${reader.name}_weights`], D = weights.shape[1];
    const shape = state.values[quantity].shape;
    let d = 0;
    for (let axis = 0; axis < index.length; axis++) d = d * shape[axis] + index[axis];
    const terms = [];
    for (let o = 0; o < up.data.length; o++) terms.push(`${factor(up.data[o])}*${factor(weights.data[o * D + d])}`);
    return { lines: [`dL/d${quantity} = sum_o dL/d${reader.output}[o] * ${reader.name}_weights[o, ${d}] = ${terms.join(" + ")} = ${fmt(value)}`], sources: [] };
  }
  if (reader.layer.kind === "maxpool" || reader.layer.kind === "avgpool") {
    const [c, r, s] = index;
    const { size, stride } = reader.layer, O = up.shape[1];
    const terms = [], sources = [];
    for (let i = 0; i < O; i++)
      for (let j = 0; j < O; j++) {
        if (r - stride * i < 0 || r - stride * i >= size || s - stride * j < 0 || s - stride * j >= size) continue;
        if (reader.layer.kind === "maxpool") {
          const at = state.argmax[`${reader.name}_argmax`][(c * O + i) * O + j];
          if (at[0] !== r || at[1] !== s) continue;
          terms.push(fmt(get(up, [c, i, j])));
        } else terms.push(`${factor(get(up, [c, i, j]))}/${size * size}`);
        sources.push([`backward.${reader.output}`, [c, i, j]]);
      }
    return { lines: [`dL/d${quantity} = ${terms.join(" + ") || "0 (no window's maximum)"} = ${fmt(value)}`], sources };
  }
  return { lines: [`dL/d${quantity} = ${fmt(value)} (each window entry's gradient times the kernel, summed)`], sources: [] };
}
