// The page's engine: the Python engine's forward and backward pass, in float64, for any network spec.
// run(given) returns the layout of `cnn-backprop walkthrough --json`; the tests hold the two equal to 1e-12.
// Arrays are {shape, data} in row-major order while computing, nested lists only at the edges.

const SEED_SPEC = "conv 1x3x3, relu, maxpool 2 stride 1, dense 1, sigmoid";
const BASE = { conv: "conv", maxpool: "pool", avgpool: "pool", dense: "fc" };
const HYPER = { conv: ["stride", "padding"], maxpool: ["size", "stride"], avgpool: ["size", "stride"] };
const PARAMS = { conv: ["kernel", "bias"], dense: ["weights", "bias"] };
const KEEP = { image: 2, kernel: 2, weights: 1, bias: 0 };

export function parseSpec(spec) {
  const layers = spec.split(",").map((item) => {
    const words = item.trim().split(/\s+/);
    const kind = words[0].toLowerCase();
    const option = (key, fallback) => {
      const at = words.indexOf(key);
      return at < 0 ? fallback : Number(words[at + 1]);
    };
    if (kind === "conv") {
      const [filters, size] = words[1].split("x").map(Number);
      return { kind, filters, size, stride: option("stride", 1), padding: option("pad", 0) };
    }
    if (kind === "maxpool" || kind === "avgpool") {
      const size = Number(words[1]);
      return { kind, size, stride: option("stride", size) };
    }
    if (kind === "dense") return { kind, outputs: Number(words[1]) };
    return { kind };
  });
  const firstDense = layers.findIndex((layer) => layer.kind === "dense");
  if (firstDense >= 0 && !layers.slice(0, firstDense).some((layer) => layer.kind === "flatten")) {
    layers.splice(firstDense, 0, { kind: "flatten" });
  }
  return layers;
}

// Every layer's name and output name, from the kinds alone (as architecture.names does).
export function names(layers) {
  const counts = {};
  for (const layer of layers) counts[BASE[layer.kind]] = (counts[BASE[layer.kind]] || 0) + 1;
  const seen = {};
  const numbered = layers.map((layer) => {
    const base = BASE[layer.kind];
    seen[base] = (seen[base] || 0) + 1;
    return counts[base] === 1 ? base : `${base}${seen[base]}`;
  });
  let previous = "image";
  return layers.map((layer, index) => {
    let name = numbered[index];
    let output;
    if (layer.kind === "relu") name = output = `${previous}_relu`;
    else if (layer.kind === "flatten") {
      const following = layers.findIndex((l, i) => i >= index && l.kind === "dense");
      name = output = `${numbered[following]}_input`;
    } else if (layer.kind === "sigmoid" || layer.kind === "softmax") name = output = "output";
    else if (layer.kind === "maxpool" || layer.kind === "avgpool") output = name;
    else output = `${name}_pre`;
    previous = name;
    return { name, output };
  });
}

const size = (shape) => shape.reduce((a, b) => a * b, 1);
const zeros = (shape) => ({ shape, data: new Float64Array(size(shape)) });

export function toArray(nested, ndim) {
  const shape = [];
  let item = nested;
  while (Array.isArray(item)) {
    shape.push(item.length);
    item = item[0];
  }
  const data = Float64Array.from(shape.length ? nested.flat(Infinity) : [nested]);
  while (shape.length < ndim) shape.unshift(1);
  return { shape, data };
}

// The full index of the flat position ``flat`` in an array of ``shape`` (row-major).
export function unravel(flat, shape) {
  const index = [];
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    index.unshift(flat % shape[axis]);
    flat = Math.floor(flat / shape[axis]);
  }
  return index;
}

export function toNested(array, keep) {
  let shape = array.shape.slice();
  while (shape.length > keep && shape[0] === 1) shape = shape.slice(1);
  if (shape.length === 0) return array.data[0];
  const build = (offset, axis) => {
    if (axis === shape.length - 1) return Array.from(array.data.subarray(offset, offset + shape[axis]));
    const step = size(shape.slice(axis + 1));
    return Array.from({ length: shape[axis] }, (_, i) => build(offset + i * step, axis + 1));
  };
  return build(0, 0);
}

function outSide(side, kernel, stride, padding = 0) {
  return Math.floor((side - kernel + 2 * padding) / stride) + 1;
}

// One image's layers: each forward keeps what its backward needs; backward(grad) gives dL/dinput.
function convLayer(kernel, bias, stride, padding) {
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
}

function reluLayer() {
  let x;
  return {
    params: {},
    forward(input) {
      x = input;
      return { shape: input.shape, data: input.data.map((v) => (v > 0 ? v : 0)) };
    },
    backward(grad) {
      return { shape: grad.shape, data: grad.data.map((g, i) => (x.data[i] > 0 ? g : 0)) };
    },
  };
}

function poolLayer(kind, poolSize, stride) {
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
      const O = outSide(H, poolSize, stride);
      const out = zeros([C, O, O]);
      argmax = [];
      for (let c = 0; c < C; c++)
        for (let i = 0; i < O; i++)
          for (let j = 0; j < O; j++) {
            let best = -Infinity, at = null, total = 0;
            for (let m = 0; m < poolSize; m++)
              for (let n = 0; n < poolSize; n++) {
                const v = x.data[(c * H + stride * i + m) * H + stride * j + n];
                total += v;
                if (v > best) [best, at] = [v, [stride * i + m, stride * j + n]]; // the first maximum wins a tie
              }
            out.data[(c * O + i) * O + j] = kind === "maxpool" ? best : total / (poolSize * poolSize);
            argmax.push(at);
          }
      return out;
    },
    backward(grad) {
      const [C, H] = x.shape, O = grad.shape[1];
      const dx = zeros(x.shape);
      for (let c = 0; c < C; c++)
        for (let i = 0; i < O; i++)
          for (let j = 0; j < O; j++) {
            const g = grad.data[(c * O + i) * O + j];
            if (kind === "maxpool") {
              const [r, s] = argmax[(c * O + i) * O + j];
              dx.data[(c * H + r) * H + s] += g; // shared maxima add up
            } else {
              for (let m = 0; m < poolSize; m++)
                for (let n = 0; n < poolSize; n++) dx.data[(c * H + stride * i + m) * H + stride * j + n] += g / (poolSize * poolSize);
            }
          }
      return dx;
    },
  };
}

function flattenLayer() {
  let shape;
  return {
    params: {},
    forward(input) {
      shape = input.shape;
      return { shape: [size(shape)], data: input.data };
    },
    backward(grad) {
      return { shape, data: grad.data };
    },
  };
}

function denseLayer(weights, bias) {
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
}

// Sigmoid with binary cross-entropy, or softmax with cross-entropy, fused so that no exponent is positive.
function outputLayer(kind) {
  let z;
  return {
    params: {},
    forward(input) {
      z = input;
      if (kind === "sigmoid") {
        const v = z.data[0], e = Math.exp(-Math.abs(v));
        this.output = { shape: [1], data: Float64Array.of(v >= 0 ? 1 / (1 + e) : e / (1 + e)) };
      } else {
        const top = Math.max(...z.data);
        const exps = z.data.map((v) => Math.exp(v - top));
        const total = exps.reduce((a, b) => a + b, 0);
        this.logSum = Math.log(total) + top;
        this.output = { shape: z.shape, data: exps.map((e) => e / total) };
      }
      return this.output;
    },
    loss(label) {
      if (kind === "sigmoid") {
        const v = z.data[0];
        return Math.max(v, 0) - label * v + Math.log1p(Math.exp(-Math.abs(v)));
      }
      return this.logSum - z.data[label];
    },
    backward(label) {
      const grad = Float64Array.from(this.output.data);
      if (kind === "sigmoid") grad[0] -= label;
      else grad[label] -= 1;
      return { shape: z.shape, data: grad };
    },
  };
}

// The architecture of a given: the spec with the sizes its hyperparameters and arrays set, and every shape.
export function architecture(given) {
  const layers = parseSpec(given.net || SEED_SPEC);
  const named = names(layers);
  const image = toArray(given.image, 3);
  layers.forEach((layer, i) => {
    const name = named[i].name;
    for (const key of HYPER[layer.kind] || []) if (given[`${name}_${key}`] !== undefined) layer[key] = given[`${name}_${key}`];
    if (layer.kind === "conv" && given[`${name}_kernel`] !== undefined) {
      const kernel = toArray(given[`${name}_kernel`], 4);
      [layer.filters, , layer.size] = kernel.shape;
    }
    if (layer.kind === "dense" && given[`${name}_weights`] !== undefined) layer.outputs = toArray(given[`${name}_weights`], 2).shape[0];
  });
  let shape = image.shape;
  let previous = "image";
  return layers.map((layer, i) => {
    const { name, output } = named[i];
    const inShape = shape;
    const params = {};
    if (layer.kind === "conv") {
      shape = [layer.filters, outSide(shape[1], layer.size, layer.stride, layer.padding), 0];
      shape[2] = shape[1];
      params[`${name}_kernel`] = [layer.filters, inShape[0], layer.size, layer.size];
      params[`${name}_bias`] = [layer.filters];
    } else if (layer.kind === "maxpool" || layer.kind === "avgpool") {
      const side = outSide(shape[1], layer.size, layer.stride);
      shape = [shape[0], side, side];
    } else if (layer.kind === "flatten") shape = [size(shape)];
    else if (layer.kind === "dense") {
      params[`${name}_weights`] = [layer.outputs, shape[0]];
      params[`${name}_bias`] = [layer.outputs];
      shape = [layer.outputs];
    }
    const entry = { layer, name, output, input: previous, inShape, outShape: shape, params };
    previous = output;
    return entry;
  });
}

// One layer of an architecture holding ``params``; ``changes`` makes a mistaken one (a flipped kernel, another stride).
export function buildLayer(entry, params, changes = {}) {
  const layer = { ...entry.layer, ...changes };
  const { name } = entry;
  if (layer.kind === "conv") {
    const kernel = params[`${name}_kernel`];
    const K = kernel.shape[3];
    const flipped = changes.flipped ? { shape: kernel.shape, data: kernel.data.map((_, i) => kernel.data[i - (i % (K * K)) + (K * K - 1 - (i % (K * K)))]) } : kernel;
    return convLayer(flipped, params[`${name}_bias`], layer.stride, layer.padding);
  }
  if (layer.kind === "dense") return denseLayer(params[`${name}_weights`], params[`${name}_bias`]);
  if (layer.kind === "relu") return reluLayer();
  if (layer.kind === "maxpool" || layer.kind === "avgpool") return poolLayer(layer.kind, layer.size, layer.stride);
  if (layer.kind === "flatten") return flattenLayer();
  return outputLayer(layer.kind);
}

export function paramsOf(given, arch) {
  const params = {};
  for (const entry of arch) for (const [key, shape] of Object.entries(entry.params)) {
    const array = toArray(given[key], shape.length);
    params[key] = { shape, data: array.data };
  }
  return params;
}

// One forward and one backward pass: {arch, values, grads, argmax, loss}, every array in full shape.
export function pass(given, options = {}) {
  const arch = architecture(given);
  const params = options.params || paramsOf(given, arch);
  const layers = arch.map((entry) => buildLayer(entry, params));
  const image = toArray(given.image, 3);
  const values = { image }, argmax = {};
  let x = image;
  arch.forEach((entry, i) => {
    x = layers[i].forward(x);
    values[entry.output] = x;
    if (entry.layer.kind === "maxpool") argmax[`${entry.name}_argmax`] = layers[i].argmax;
  });
  const out = layers[layers.length - 1];
  const loss = out.loss(given.label);
  const grads = {};
  let grad = null;
  for (let i = arch.length - 1; i >= 0; i--) {
    const entry = arch[i];
    if (grad !== null) grads[entry.output] = grad;
    grad = grad === null ? layers[i].backward(given.label) : (options.backward?.[entry.layer.kind] || ((l, g) => l.backward(g)))(layers[i], grad);
    for (const key of Object.keys(entry.params)) grads[key] = layers[i].grads[key.slice(entry.name.length + 1)];
  }
  grads.image = grad;
  return { arch, params, values, grads, argmax, loss };
}

// How many trailing axes each quantity keeps in the JSON layout (as walkthrough.keep_axes).
export function keepAxes(arch) {
  const keep = { image: KEEP.image };
  for (const entry of arch) {
    keep[entry.output] = entry.outShape.length === 3 ? 2 : entry.layer.kind === "flatten" ? 1 : 0;
    for (const key of Object.keys(entry.params)) keep[key] = KEEP[key.split("_").pop()];
  }
  return keep;
}

export function run(given) {
  const { arch, params, values, grads, argmax, loss } = pass(given);
  const keep = keepAxes(arch);
  const flat = new Set(arch.filter((e) => e.layer.kind === "flatten").map((e) => e.output));
  const shapes = { input: shapeOf(values.image, keep.image) };
  for (const entry of arch) {
    const kind = entry.layer.kind;
    if (["conv", "maxpool", "avgpool", "flatten"].includes(kind)) {
      shapes[kind === "flatten" ? entry.output : entry.name] = shapeOf(zeros(entry.outShape), keep[entry.output]);
    }
  }
  const forward = {};
  for (const entry of arch) {
    if (flat.has(entry.output)) continue;
    forward[entry.output] = toNested(values[entry.output], keep[entry.output]);
    if (argmax[`${entry.name}_argmax`]) forward[`${entry.name}_argmax`] = argmax[`${entry.name}_argmax`];
  }
  forward.loss = loss;
  const backward = {};
  for (let i = arch.length - 1; i >= 0; i--) {
    const entry = arch[i];
    if (i < arch.length - 1 && !flat.has(entry.output)) backward[entry.output] = toNested(grads[entry.output], keep[entry.output]);
    for (const key of Object.keys(entry.params)) backward[key] = toNested(grads[key], keep[key]);
  }
  backward.image = toNested(grads.image, keep.image);
  const torchName = (key) => key.replace(/_(kernel|weights)$/, ".weight").replace(/_bias$/, ".bias");
  const torch = { state_dict: {}, grad: {} };
  for (const entry of arch) for (const key of Object.keys(entry.params)) {
    torch.state_dict[torchName(key)] = toNested(params[key], params[key].shape.length);
    torch.grad[torchName(key)] = toNested(grads[key], params[key].shape.length);
  }
  return { given, shapes, forward, backward, torch };
}

function shapeOf(array, keep) {
  let shape = array.shape.slice();
  while (shape.length > keep && shape[0] === 1) shape = shape.slice(1);
  return shape;
}

// The seed notebook's two backward bugs, as rules a pass can use instead of the layers' own (see pass's options).
export const NOTEBOOK_BUGS = {
  // dP[i, j] = dw: a conv position that is the maximum of several windows keeps only the last window's gradient.
  maxpool(layer, grad) {
    const x = layer.input, [, H] = x.shape, O = grad.shape[1];
    const dx = zeros(x.shape);
    layer.argmax.forEach(([r, s], k) => {
      const c = Math.floor(k / (O * O));
      dx.data[(c * H + r) * H + s] = grad.data[k];
    });
    return dx;
  },
  // dL/dw_fc sent back into the pooling layer instead of dL/dz * w_fc.
  dense(layer, grad) {
    layer.backward(grad);
    return { shape: layer.input.shape, data: layer.input.data.map((v, d) => grad.data[0] * v) };
  },
};
