// What every module and every kind shares: arrays as {shape, data} (float64, row-major) and how a number is written.

export const size = (shape) => shape.reduce((a, b) => a * b, 1);
export const zeros = (shape) => ({ shape, data: new Float64Array(size(shape)) });

// A nested list (or a number) as an array of at least ``ndim`` axes: leading axes of length 1 put back.
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

// ``shape`` without its leading axes of length 1, but for its last ``keep`` (the JSON layout's shape).
export function squeezed(shape, keep) {
  shape = shape.slice();
  while (shape.length > keep && shape[0] === 1) shape = shape.slice(1);
  return shape;
}

// An array as the JSON layout writes it: nested lists, leading axes of length 1 dropped but for the last ``keep``.
export function toNested(array, keep) {
  const shape = squeezed(array.shape, keep);
  if (shape.length === 0) return array.data[0];
  const build = (offset, axis) => {
    if (axis === shape.length - 1) return Array.from(array.data.subarray(offset, offset + shape[axis]));
    const step = size(shape.slice(axis + 1));
    return Array.from({ length: shape[axis] }, (_, i) => build(offset + i * step, axis + 1));
  };
  return build(0, 0);
}

// Where the full index ``index`` lies in the data of an array of ``shape`` (row-major): unravel's inverse.
export function offsetOf(shape, index) {
  let offset = 0;
  for (let axis = 0; axis < index.length; axis++) offset = offset * shape[axis] + index[axis];
  return offset;
}

// The entry of ``array`` at the full index ``index``.
export const get = (array, index) => array.data[offsetOf(array.shape, index)];

// The side of a sliding window's output: (W - K + 2P) / S + 1, rounded down.
export const outSide = (side, kernel, stride, padding = 0) => Math.floor((side - kernel + 2 * padding) / stride) + 1;

// A number in the arithmetic `--explain` writes, as text.formatter writes it alone: whole numbers as they are, others
// to 4 decimals, but below 0.01 in scientific notation (4 digits, Python's 2-digit exponent), where 4 decimals would
// show only zeros; a factor in brackets when negative.
export const fmt = (v) =>
  Number.isInteger(v) ? String(v) : Math.abs(v) >= 0.01 ? v.toFixed(4) : v.toExponential(3).replace(/e([+-])(\d)$/, "e$10$2");
export const factor = (v) => (v < 0 ? `(${fmt(v)})` : fmt(v));
// The terms of a sum left out of its text, counted: "(1 term with a zero pixel)", "(9 terms ...)".
export const skipped = (count, what) => `(${count} ${count === 1 ? what.replace(/s\b/, "") : what})`;

// A given's entry as the page holds it: nested lists; page.py packs a big array as {float32: base64 of its
// little-endian float32 bytes, shape}, to keep the page small.
export function unpacked(value) {
  if (!value?.float32) return value;
  const bytes = Uint8Array.from(atob(value.float32), (c) => c.charCodeAt(0));
  const data = Float64Array.from(new Float32Array(bytes.buffer));
  return toNested({ shape: value.shape, data }, value.shape.length);
}
