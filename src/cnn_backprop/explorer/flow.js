// The network as a flow: a column per layer, in order (reversed in the backward view), each headed by its kind and
// its output's shape, its parameters attached.  The DOM is built once per architecture and then only updated in
// place (text, colour, data attributes), so an edit costs the pass and a repaint, not a new document.
// An array of up to SMALL numbers is a grid of number cells; a bigger one is a bank of heat-map thumbnails on one
// canvas (a slice each: a channel, or a kernel [f, c]) with the selected slice's numbers, at most WINDOW x WINDOW
// of them around the selected entry, below it.  Every number cell carries data-quantity (its JSON name, backward.NAME
// for a gradient), data-index (its index in the `--json` layout) and data-value (full precision).

import { offsetOf, size, squeezed, unravel } from "cnn-backprop/arrays.js";

export const SMALL = 256;
const WINDOW = 8;
const THUMB = 40; // a thumbnail's longer side in pixels, at most

export const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
};

// Numbers shown to 4 significant decimals; the full value is in data-value and in the explanation.
export const fmt = (v) =>
  Number.isInteger(v) ? String(v) : Math.abs(v) < 0.001 && v !== 0 ? v.toExponential(1) : v.toFixed(Math.abs(v) < 10 ? 3 : 1);

// Numbers typed on the page: a decimal point, an optional exponent; nothing else (no hex, no comma, no "Infinity").
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// The number in ``text``, or {error} saying what to type instead.
export function parseNumber(text) {
  const trimmed = text.trim();
  if (trimmed === "") return { error: "empty: type a finite number" };
  if (/^[+-]?\d*,\d+$/.test(trimmed)) return { error: `"${trimmed}" has a comma: use a decimal point (${trimmed.replace(",", ".")})` };
  if (!NUMBER.test(trimmed)) return { error: `not a number: "${trimmed}"; type a finite number such as -0.25 or 1e-3` };
  const number = Number(trimmed);
  if (!Number.isFinite(number)) return { error: `${trimmed} is too large: type a finite number` };
  return { number };
}

// Red for positive, blue for negative, the stronger the larger |value| against the largest of its array.
// A sum that is 0 in exact arithmetic comes out near 1e-16 in floats: drawn as 0 (white), not as its array's strongest.
const TINY = 1e-12;
export function rgb(value, limit) {
  if (Math.abs(value) <= TINY) return [255, 255, 255];
  const t = Math.max(-1, Math.min(1, value / (limit || 1)));
  const a = Math.abs(t);
  return t >= 0 ? [255 - 41 * a, 255 - 159 * a, 255 - 178 * a] : [255 - 188 * a, 255 - 108 * a, 255 - 60 * a];
}
const css = (value, limit) => `rgb(${rgb(value, limit).map(Math.round).join(",")})`;
const largest = (data) => {
  let top = 0;
  for (let i = 0; i < data.length; i++) top = Math.max(top, Math.abs(data[i]));
  return top;
};

// How an array of ``shape`` is cut into 2-D slices: {lead: the leading axes, rows, cols} (a vector is one row).
function slicing(shape) {
  if (shape.length === 1) return { lead: [], rows: 1, cols: shape[0] };
  return { lead: shape.slice(0, -2), rows: shape.at(-2), cols: shape.at(-1) };
}

// Heat-map thumbnails on one canvas: ``slices`` maps of rows x cols, ``across`` a row, each entry cw x ch canvas
// pixels, maps ``gap`` apart; entry (i, j) of map ``slice`` is data[(slice * rows + i) * cols + j], or with
// ``transposed`` (one map: a matrix drawn on its side) data[j * rows + i].  The canvas may be drawn larger or
// smaller than its pixels (``zoom``): positions are read through its size on screen.  Its marks (what is lit) are
// drawn on a canvas of screen pixels above it, so that a lit entry drawn large can show its number.
export class Bank {
  constructor(attributes) {
    this.canvas = el("canvas", attributes);
    this.marks = el("canvas", { class: "marks", "aria-hidden": "true" });
    this.node = el("div", { class: "bank-box" }, this.canvas, this.marks);
  }

  arrange({ slices, rows, cols, across, cw = 1, ch = cw, gap = 1, zoom = 1, transposed = false }) {
    const down = Math.ceil(slices / across);
    Object.assign(this, { slices, rows, cols, across, cw, ch, gap, transposed, zoom });
    const width = across * (cols * cw + gap) - gap, height = down * (rows * ch + gap) - gap;
    Object.assign(this.canvas, { width, height });
    Object.assign(this.marks, { width: Math.ceil(width * zoom), height: Math.ceil(height * zoom) });
    this.framed = null; // a canvas given its size is cleared
    for (const canvas of [this.canvas, this.marks]) {
      canvas.style.width = `${width * zoom}px`;
      canvas.style.height = `${height * zoom}px`;
    }
  }

  offsetAt(slice, [i, j]) {
    return this.transposed ? j * this.rows + i : (slice * this.rows + i) * this.cols + j;
  }

  placeOf(offset) {
    const { rows, cols } = this;
    if (this.transposed) return { slice: 0, position: [offset % rows, Math.floor(offset / rows)] };
    return { slice: Math.floor(offset / (rows * cols)), position: [Math.floor(offset / cols) % rows, offset % cols] };
  }

  // The slice and position under a pointer event, or null between thumbnails.
  entryAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * this.canvas.width) / rect.width, y = ((event.clientY - rect.top) * this.canvas.height) / rect.height;
    const { rows, cols } = this, w = cols * this.cw + this.gap, h = rows * this.ch + this.gap;
    const a = Math.floor(x / w), d = Math.floor(y / h);
    const j = Math.floor((x - a * w) / this.cw), i = Math.floor((y - d * h) / this.ch);
    const slice = d * this.across + a;
    if (a >= this.across || slice >= this.slices || i >= rows || j >= cols || i < 0 || j < 0) return null;
    return { slice, position: [i, j] };
  }

  // The canvas rectangle [x, y, width, height] of a slice's entry [i, j].
  rectOf(slice, [i, j]) {
    const { rows, cols } = this;
    const x = (slice % this.across) * (cols * this.cw + this.gap) + j * this.cw;
    const y = Math.floor(slice / this.across) * (rows * this.ch + this.gap) + i * this.ch;
    return [x, y, this.cw, this.ch];
  }

  // The page point of the entry at data ``offset``.
  pointOf(offset) {
    const rect = this.canvas.getBoundingClientRect(), { slice, position } = this.placeOf(offset);
    const [x, y, w, h] = this.rectOf(slice, position);
    const sx = rect.width / this.canvas.width, sy = rect.height / this.canvas.height;
    return [rect.left + (x + w / 2) * sx, rect.top + (y + h / 2) * sy];
  }

  paint(data, limit) {
    const { rows, cols, cw, ch, gap, across, transposed } = this, ctx = this.canvas.getContext("2d");
    const image = ctx.createImageData(this.canvas.width, this.canvas.height);
    const pixels = image.data, width = this.canvas.width;
    for (let slice = 0; slice < this.slices; slice++) {
      const left = (slice % across) * (cols * cw + gap), top = Math.floor(slice / across) * (rows * ch + gap);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) {
          const [r, g, b] = rgb(data[transposed ? j * rows + i : (slice * rows + i) * cols + j], limit);
          for (let y = top + i * ch; y < top + (i + 1) * ch; y++)
            for (let x = left + j * cw, p = (y * width + x) * 4; x < left + (j + 1) * cw; x++, p += 4) {
              pixels[p] = r;
              pixels[p + 1] = g;
              pixels[p + 2] = b;
              pixels[p + 3] = 255;
            }
        }
    }
    ctx.putImageData(image, 0, 0);
  }

  clear() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.outline([]);
  }

  // Marks the entries at data ``offsets`` (the sources of a value explained), and a frame around map ``selected``;
  // with ``data``, an entry drawn large enough shows its number.
  outline(offsets, selected = null, data = null) {
    // every view is outlined on every change: a canvas that would be marked as it is already (a frame alone, or
    // nothing) is left alone; clearing and drawing them all cost a digits page's backward switch 20 ms
    const framed = offsets.length ? undefined : selected;
    if (framed !== undefined && framed === this.framed) return;
    this.framed = framed;
    const ctx = this.marks.getContext("2d"), z = this.zoom;
    ctx.clearRect(0, 0, this.marks.width, this.marks.height);
    if (selected !== null) {
      const [x, y] = this.rectOf(selected, [0, 0]);
      ctx.strokeStyle = "#222";
      ctx.lineWidth = 1;
      ctx.strokeRect(x * z - 0.5, y * z - 0.5, this.cols * this.cw * z + 1, this.rows * this.ch * z + 1);
    }
    const [w, h] = [this.cw * z, this.ch * z], large = Math.min(w, h) >= 8, numbered = data && Math.min(w, h) >= 30;
    ctx.fillStyle = large ? "rgba(224, 139, 0, 0.35)" : "rgba(224, 139, 0, 0.9)";
    ctx.strokeStyle = "#e08b00";
    ctx.lineWidth = 2;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const offset of offsets) {
      const { slice, position } = this.placeOf(offset);
      const [x, y] = this.rectOf(slice, position);
      ctx.fillRect(x * z, y * z, w, h);
      if (large) ctx.strokeRect(x * z + 1, y * z + 1, w - 2, h - 2);
      if (!numbered) continue;
      ctx.fillStyle = "#000";
      ctx.fillText(fmt(data[offset]), x * z + w / 2, y * z + h / 2, w - 2);
      ctx.fillStyle = "rgba(224, 139, 0, 0.35)";
    }
  }
}

// One array on the page: its numbers (all of them, or a window of the selected slice) and, when big, its thumbnails.
export class ArrayView {
  // ``name`` the quantity (conv1_kernel, conv1_pre, image); ``keep`` the trailing axes its JSON layout keeps;
  // ``hooks``: {edit(name, full, text, input) for an editable entry, focus(view, full, node) to explain a value}.
  constructor(name, shape, keep, hooks, { editable = false, label = name } = {}) {
    Object.assign(this, { name, shape, keep, hooks, editable, label });
    this.big = size(shape) > SMALL || size(shape.slice(0, -2)) > 16; // many small maps are thumbnails too
    this.cut = slicing(shape);
    this.jsonRank = squeezed(shape, keep).length;
    this.slices = size(this.cut.lead);
    this.selected = 0; // the selected slice
    this.centre = [0, 0]; // the window's centre in the selected slice
    this.title = el("h4");
    this.node = el("div", { class: "array", "data-array": name }, this.title);
    if (this.big) this.buildBank();
    this.grid = el("div", { class: "numbers" });
    this.node.append(this.grid);
    this.layoutNumbers();
  }

  // The thumbnails: one canvas, slices in a grid (kernels: a row per filter, a column per channel).
  buildBank() {
    const { lead, rows, cols } = this.cut;
    const across = lead.length === 2 && lead[1] > 1 ? lead[1] : Math.min(this.slices, 8);
    const most = this.slices > 256 ? 2 : 5; // a bank of thousands of kernels stays a screen high
    const cw = Math.max(1, Math.min(most, Math.floor((this.slices === 1 ? 256 : THUMB) / cols)));
    const ch = Math.max(1, Math.min(most, Math.floor((this.slices === 1 ? 64 : THUMB) / rows)));
    this.bank = new Bank({ tabindex: "0", role: "img", class: "bank" });
    this.bank.arrange({ slices: this.slices, rows, cols, across, cw, ch, gap: this.slices === 1 ? 0 : 2 });
    this.canvas = this.bank.canvas;
    this.node.append(this.bank.node, el("p", { class: "hint" }, "click a thumbnail for its numbers"));
    this.canvas.addEventListener("click", (event) => {
      const found = this.bank.entryAt(event);
      if (found) this.select(found.slice, found.position);
    });
    this.canvas.addEventListener("mousemove", (event) => {
      const found = this.bank.entryAt(event);
      if (found) this.hooks.focus(this, this.fullIndex(found.slice, found.position), this.canvas);
    });
    this.canvas.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: across, ArrowUp: -across };
      if (!(event.key in moves)) return;
      event.preventDefault();
      this.select(Math.max(0, Math.min(this.slices - 1, this.selected + moves[event.key])), this.centre);
    });
  }

  select(slice, position) {
    this.selected = slice;
    this.centre = position;
    this.layoutNumbers();
    this.hooks.selected?.(this);
  }

  // The full index of entry ``position`` of slice ``slice``, and back.
  fullIndex(slice, [i, j]) {
    const lead = this.cut.lead.length ? unravel(slice, this.cut.lead) : [];
    return this.shape.length === 1 ? [j] : [...lead, i, j];
  }
  locate(full) {
    if (this.shape.length === 1) return { slice: 0, position: [0, full[0]] };
    const lead = full.slice(0, -2);
    let slice = 0;
    for (let a = 0; a < lead.length; a++) slice = slice * this.cut.lead[a] + lead[a];
    return { slice, position: full.slice(-2) };
  }

  // The number cells: every entry of a small array (a table per slice), or a window of the selected slice.
  layoutNumbers() {
    const { rows, cols } = this.cut;
    const wrap = this.shape.length === 1 && !this.big ? WINDOW : 0; // a vector wraps, WINDOW numbers a row
    let windowRows = this.big ? Math.min(rows, WINDOW) : rows, windowCols = this.big ? Math.min(cols, WINDOW) : cols;
    if (wrap) [windowRows, windowCols] = [Math.ceil(cols / wrap), Math.min(cols, wrap)];
    const top = wrap ? 0 : Math.max(0, Math.min(rows - windowRows, this.centre[0] - (windowRows >> 1)));
    const left = wrap ? 0 : Math.max(0, Math.min(cols - windowCols, this.centre[1] - (windowCols >> 1)));
    const slices = this.big ? [this.selected] : Array.from({ length: this.slices }, (_, k) => k);
    this.cells = [];
    const tables = slices.map((slice) => {
      const table = el("table", { class: "grid" });
      const lead = this.cut.lead.length ? unravel(slice, this.cut.lead) : [];
      const caption = wrap ? null : this.captionOf(lead, top, left, windowRows, windowCols);
      if (caption) table.append(el("caption", {}, caption));
      for (let i = top; i < top + windowRows; i++) {
        const tr = el("tr");
        for (let j = left; j < left + windowCols; j++) {
          const full = wrap ? [i * wrap + j] : this.fullIndex(slice, [i, j]);
          if (wrap && full[0] >= cols) break;
          tr.append(this.numberCell(full));
        }
        table.append(tr);
      }
      return table;
    });
    this.grid.replaceChildren(...tables);
    if (this.array) this.update(this.array, this.quantity);
  }

  numberCell(full) {
    const cell = el("td", { tabindex: "0", "data-full": full.join(",") });
    if (this.editable) {
      const input = el("input", { type: "text", inputmode: "decimal", size: "6", "aria-label": `${this.name}[${this.jsonIndex(full)}]` });
      input.addEventListener("change", () => this.hooks.edit(this.name, full, input.value, input));
      cell.append(input);
    }
    cell.addEventListener("mouseenter", () => this.hooks.focus(this, full, cell));
    cell.addEventListener("focus", () => this.hooks.focus(this, full, cell));
    this.cells.push({ cell, full, offset: offsetOf(this.shape, full), input: cell.firstChild });
    return cell;
  }

  captionOf(lead, top, left, windowRows, windowCols) {
    const { rows, cols } = this.cut;
    const whole = top === 0 && left === 0 && windowRows === rows && windowCols === cols;
    const at = lead.slice(lead.length - Math.max(0, this.jsonRank - 2)); // the leading axes the JSON keeps
    const where = at.length ? `[${at.join(",")}]` : "";
    if (whole) return where && this.slices > 1 ? where : null;
    return `${where}[${top}:${top + windowRows}, ${left}:${left + windowCols}] of ${rows}x${cols}`;
  }

  jsonIndex(full) {
    return full.slice(full.length - this.jsonRank).join(",");
  }

  // Shows ``array`` ({shape, data}) as ``quantity`` (the name, or backward.NAME); hidden (a quiz's answer) if null.
  update(array, quantity, heading) {
    this.array = array;
    this.quantity = quantity;
    if (heading !== undefined) this.title.textContent = heading;
    this.node.classList.toggle("hidden", array === null);
    if (array === null) {
      for (const shown of this.cells) {
        const { cell, input } = shown;
        Object.assign(shown, { quantity: null, value: null });
        cell.removeAttribute("data-value");
        cell.removeAttribute("data-quantity");
        cell.style.background = "";
        if (input) input.value = "";
        else cell.textContent = "?";
      }
      this.bank?.clear();
      return;
    }
    const limit = largest(array.data), rescaled = limit !== this.limit;
    this.limit = limit;
    // Only what changed is written: a DOM write costs more than the arithmetic behind it.
    for (const shown of this.cells) {
      const { cell, full, offset, input } = shown, value = array.data[offset];
      if (shown.quantity !== quantity) {
        cell.dataset.quantity = quantity;
        cell.dataset.index = this.jsonIndex(full);
        if (input) {
          input.readOnly = quantity !== this.name;
          input.tabIndex = input.readOnly ? -1 : 0; // a gradient is read, not typed: Tab goes number to number
        }
      } else if (Object.is(shown.value, value) && !rescaled) continue;
      Object.assign(shown, { quantity, value });
      cell.dataset.value = String(value);
      cell.style.background = css(value, limit);
      if (input) {
        if (input !== document.activeElement || !input.hasAttribute("aria-invalid")) input.value = String(+value.toFixed(6));
      } else cell.textContent = fmt(value);
    }
    if (this.canvas) this.paint(array.data, limit);
  }

  paint(data, limit) {
    const { rows, cols } = this.cut;
    this.bank.paint(data, limit);
    this.canvas.setAttribute("aria-label", `${this.quantity}: ${this.slices} heat maps of ${rows}x${cols}; the largest |value| is ${fmt(limit)}; arrow keys choose one`);
    this.outline([]);
  }

  // Marks entries on the thumbnails (the sources of a hovered value), and the selected slice.
  outline(fulls) {
    this.bank?.outline(fulls.map((full) => offsetOf(this.shape, full)), this.selected);
  }

  // The page point of an entry: its cell's centre when shown as a number, else its place on the thumbnails.
  pointOf(full) {
    const key = full.join(",");
    const shown = this.cells.find((c) => c.full.join(",") === key);
    if (shown) {
      const rect = shown.cell.getBoundingClientRect();
      return [rect.left + rect.width / 2, rect.top + rect.height / 2];
    }
    return this.bank?.pointOf(offsetOf(this.shape, full)) ?? null;
  }

  // The cells of these full indices, where shown as numbers.
  cellsOf(fulls) {
    const keys = new Set(fulls.map((f) => f.join(",")));
    return this.cells.filter((c) => keys.has(c.full.join(","))).map((c) => c.cell);
  }
}
