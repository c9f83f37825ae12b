// The network at a glance: the image, then each layer as a column of small heat maps (every channel of its output,
// its kernels or weights beside it), the forward values always.  Sized to fit its box: where the box is wide the
// columns stand side by side within the window's height, the maps as large as that allows; where it is narrow (a
// phone, a notebook cell; the style sheet's container query says which) they stack, each as wide as the box.
// A click on a column or a map, or Enter on its heading, opens that layer's numbers (``open``).
// A residual block's shortcut is an arrow around the block, from the column of its input to its add's column.

import { offsetOf, unravel } from "cnn-backprop/arrays.js";
import { Bank, el } from "cnn-backprop/flow.js";

const LARGEST = 120; // px: a map's longer side, at most (the seed's 5x5 image)
const NARROW = 40; // px: a map's longer side where the columns stack

// How a bank of ``shape`` is laid out for a map side of ``side`` px within ``room`` px (the height side by side,
// the width stacked): {slices, rows, cols, across, zoom, transposed}, zoom being css px per entry.
function arrangement(shape, side, room, stacked) {
  if (shape.length === 4) {
    // kernels: a row per filter, a column per channel
    const [F, C, K] = shape, zoom = Math.min(side / K, room / ((stacked ? C : F) * (K + 1)));
    const filters = stacked ? Math.max(1, Math.floor((room + zoom) / (C * (K + 1) * zoom))) : 1; // a row of them
    return { slices: F * C, rows: K, cols: K, across: C * Math.min(F, filters), zoom };
  }
  if (shape.length === 3) {
    const [C, rows, cols] = shape, zoom = side / Math.max(rows, cols);
    if (stacked) return { slices: C, rows, cols, across: Math.min(C, Math.max(1, Math.floor((room + zoom) / ((cols + 1) * zoom)))), zoom };
    const down = Math.max(1, Math.floor((room + zoom) / ((rows + 1) * zoom)));
    return { slices: C, rows, cols, across: Math.ceil(C / down), zoom };
  }
  // a vector, or a matrix (weights [O, D]) drawn on its side where the columns stand side by side: long, narrow
  const [O, D] = shape.length === 1 ? [1, shape[0]] : shape;
  const zoom = shape.length === 1 ? Math.min(side / 2, room / D) : Math.min(side / 4, (2 * side) / O, room / D); // weights: two maps wide
  return stacked ? { slices: 1, rows: O, cols: D, across: 1, zoom } : { slices: 1, rows: D, cols: O, across: 1, zoom, transposed: O > 1 };
}

export class Overview {
  // ``columns``: [{name, written, banks: [[quantity, shape]]}], the image first; ``open(layer, quantity, full)``;
  // ``skips``: [{from, to, via}], a block's input column, its add's, and its 1x1 shortcut conv (or none).
  constructor(columns, open, skips = []) {
    this.banks = [];
    this.skips = skips;
    this.strip = el("div", { class: skips.length ? "strip skipping" : "strip" });
    for (const { name, written, banks } of columns) {
      const heading = el("button", { type: "button", class: "open", "aria-label": `${name} (${written}): open its numbers` }, name, " ", el("small", {}, written));
      const maps = el("div", { class: "maps" });
      const column = el("section", { class: "glance", "data-layer": name, "aria-label": `${name}: ${written}` }, heading, maps);
      for (const [quantity, shape] of banks) {
        const bank = new Bank({ role: "img", "data-bank": quantity });
        Object.assign(bank, { quantity, shape, layer: name });
        maps.append(bank.node);
        this.banks.push(bank);
      }
      column.addEventListener("click", (event) => {
        const bank = this.banks.find((b) => b.canvas === event.target);
        const found = bank?.entryAt(event);
        if (found) open(name, bank.quantity, unravel(bank.offsetAt(found.slice, found.position), bank.shape));
        else open(name);
      });
      this.strip.append(column);
    }
    if (skips.length) this.strip.insertAdjacentHTML("beforeend", '<svg class="lines skips" aria-hidden="true"></svg>');
    this.skipLayer = skips.length && this.strip.lastChild;
    this.node = el("section", { class: "overview", "aria-label": "the network at a glance: a column per layer; open one for its numbers" }, this.strip);
    this.width = 0;
    new ResizeObserver(() => {
      if (this.node.clientWidth !== this.width) this.layout();
    }).observe(this.node);
    addEventListener("resize", () => this.layout()); // a taller or shorter window: the maps fit its height
  }

  // Sizes every map for the box as it is now, and draws them again.
  layout() {
    this.width = this.node.clientWidth;
    if (!this.width) return;
    const stacked = getComputedStyle(this.strip).flexDirection === "column";
    const root = this.node.parentElement;
    const top = this.strip.getBoundingClientRect().top - root.getBoundingClientRect().top + root.offsetTop;
    let room = stacked ? this.width - 16 : Math.max(120, innerHeight - top - 56);
    const place = (side) => {
      // the image drawn larger than the maps: it is what a student draws on
      for (const bank of this.banks) {
        bank.shown = null; // a canvas arranged anew is blank
        bank.arrange({ ...arrangement(bank.shape, bank.quantity === "image" ? Math.max(2 * side, 64) : side, room, stacked), gap: 1 });
      }
    };
    if (stacked) place(Math.min(NARROW, this.width / 8));
    else {
      // the largest map side at which the columns fit the width, found by halving; then the height checked
      let low = 2, high = LARGEST;
      for (let tries = 0; tries < 3; tries++) {
        while (high - low > 1) {
          const side = (low + high) / 2;
          place(side);
          if (this.strip.scrollWidth <= this.strip.clientWidth) low = side;
          else high = side;
        }
        place(low);
        const over = this.strip.getBoundingClientRect().bottom - innerHeight + top - root.offsetTop + 8;
        if (over <= 1 || room <= 120) break;
        room = Math.max(120, room - over);
        [low, high] = [2, low + 1];
      }
    }
    if (this.arrays) this.update(this.arrays);
    this.drawSkips(stacked);
  }

  // Each shortcut as an arrow in the strip's margin, into the add: over the columns where they stand side by side,
  // beside them where they stack (there ``flip`` swaps x and y: [along the strip, across it]).
  drawSkips(stacked) {
    if (!this.skipLayer) return;
    const strip = this.strip.getBoundingClientRect(), flip = (a, b) => (stacked ? `${b} ${a}` : `${a} ${b}`);
    this.skipLayer.innerHTML = this.skips.map(({ from, to, via }) => {
      const [a, b] = [from, to].map((name) => {
        const r = this.strip.querySelector(`.glance[data-layer="${name}"]`).getBoundingClientRect();
        return stacked ? [r.top + r.height / 2 - strip.top, r.left - strip.left] : [r.left + r.width / 2 - strip.left + this.strip.scrollLeft, r.top - strip.top];
      });
      const d = `M${flip(...a)}L${flip(a[0], 4)}L${flip(b[0], 4)}L${flip(...b)}l${flip(-4, -6)}m${flip(4, 6)}l${flip(4, -6)}`;
      return `<g class="skip" data-from="${from}" data-to="${to}"><path d="${d}"/><text x="${(a[0] + b[0]) / 2}" y="${a[1] - 2}">shortcut${via ? `: ${via}` : ""}</text></g>`;
    }).join("");
    this.carrying(...(this.carried || [null, []]));
  }

  // Lights the shortcuts the backward pass is on at column ``layer`` (null: none) of the columns ``order``: a
  // block's own, from its add's column to its input's, where the two gradients meet.
  carrying(layer, order) {
    this.carried = [layer, order];
    const at = order.indexOf(layer);
    for (const node of this.strip.querySelectorAll(".skip"))
      node.classList.toggle("now", at >= 0 && order.indexOf(node.dataset.from) <= at && at <= order.indexOf(node.dataset.to));
  }

  // ``arrays``: {quantity: array (a gradient: {shape, data, gradient: true}), or null where it is not shown, ``why``}.
  update(arrays, why = "in the quiz") {
    this.arrays = arrays;
    for (const bank of this.banks) {
      const array = arrays[bank.quantity];
      if (!array) {
        bank.shown = null;
        bank.clear();
        bank.canvas.setAttribute("aria-label", `${bank.quantity}: ${why}`);
        continue;
      }
      bank.canvas.setAttribute("aria-label", `${array.gradient ? "dL/d" : ""}${bank.quantity}: ${bank.shape.join("x")} as heat maps`);
      // an edit changes what follows it, a switch to the backward view nothing here: only what changed is drawn
      if (bank.shown?.length === array.data.length && bank.shown.every((v, i) => v === array.data[i])) continue;
      bank.shown = Float64Array.from(array.data);
      let limit = 0;
      for (const v of array.data) limit = Math.max(limit, Math.abs(v));
      bank.paint(array.data, limit);
    }
    this.light(this.lit || new Map());
  }

  // Lights the entries ``lit`` ({quantity: [full index]}) on the maps, with their numbers where the maps are drawn
  // large enough: a value's sources, where the maps show them.
  light(lit) {
    this.lit = lit;
    for (const bank of this.banks) {
      const fulls = lit.get(bank.quantity) || [];
      bank.outline(fulls.map((full) => offsetOf(bank.shape, full)), null, this.arrays?.[bank.quantity]?.data);
      if (fulls.length) bank.canvas.dataset.lit = fulls.map((full) => full.join(",")).join(" ");
      else bank.canvas.removeAttribute("data-lit");
    }
  }
}
