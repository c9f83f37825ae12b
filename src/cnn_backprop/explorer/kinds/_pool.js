// What max and average pooling share on the page, as kinds/_pool.py does in Python: K x K windows at a stride (K by
// default, as PyTorch), on every channel alone; named pool (pool1, ...), as is the output.  Not a kind: the
// registry takes no file whose name starts with "_".

import { fmt, get, outSide } from "cnn-backprop/arrays.js";

export const POOL = {
  base: "pool",
  reads: "map",
  hyperKeys: ["size", "stride"],
  sizedAnswer: true,
  slides: true,
  names: (own) => [own, own],
  parse(words, option) {
    const size = Number(words[0]);
    return { size, stride: option("stride", size) };
  },
  shapes({ size, stride }, [channels, side]) {
    const out = outSide(side, size, stride);
    return { out: [channels, out, out] };
  },
};

// The values of the window of output [c, i, j], written alike, and where each lies in the input.
export function windowOf({ layer, input }, [c, i, j], x) {
  const values = [], sources = [];
  for (let m = 0; m < layer.size; m++)
    for (let n = 0; n < layer.size; n++) {
      const at = [c, layer.stride * i + m, layer.stride * j + n];
      values.push(fmt(get(x, at)));
      sources.push([input, at]);
    }
  return { values, sources };
}

// The outputs [c, i, j] (O x O of them per channel) whose window holds input pixel [c, r, s].
export function windowsHolding({ size, stride }, [c, r, s], O) {
  const found = [];
  for (let i = 0; i < O; i++)
    for (let j = 0; j < O; j++)
      if (r - stride * i >= 0 && r - stride * i < size && s - stride * j >= 0 && s - stride * j < size) found.push([c, i, j]);
  return found;
}
