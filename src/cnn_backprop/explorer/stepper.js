// A step-through of one sliding layer (a convolution or a pooling): forward, the window moves over one input channel
// and each output value appears with its arithmetic; backward, each window's gradient is sent back, and what the
// windows so far sent builds up window by window: dL/d(input) and, for a convolution, dL/dkernel (question 3: each
// window of the input times its one output gradient, summed).  A padded convolution's input is drawn with its zero
// border, the padding cells marked as such.  Play, Pause, Step and Reset are buttons (so the keyboard works them).
// Which layers slide is each kind's ``slides``; a window's share is the layer's own backward of that one output's
// gradient, so every kind's rule is its own.

import { zeros } from "cnn-backprop/arrays.js";
import { buildLayer, kindOf } from "cnn-backprop/engine.js";
import { forwardArithmetic } from "cnn-backprop/explain.js";
import { el, fmt, rgb } from "cnn-backprop/flow.js";

const PLAY_MS = 500;
// A padding cell: no input, a zero the window reads (forward) and a gradient dropped (backward); hatched grey.
const PAD_STYLE = "background: repeating-linear-gradient(135deg, #eee 0 3px, #fff 3px 6px); color: #666";

export class Stepper {
  constructor(app) {
    this.app = app;
    this.entries = app.arch.filter((e) => kindOf(e.layer).slides);
    this.node = el("section", { class: "panel stepper", "aria-label": "step through a sliding layer" });
    if (!this.entries.length) {
      this.node.hidden = true;
      return;
    }
    Object.assign(this, { entry: this.entries[0], f: 0, c: 0, t: 0, timer: null });
    this.pickers = el("span");
    this.play = el("button", { type: "button", id: "stepper-play", onclick: () => this.toggle() }, "Play");
    this.node.append(
      el("h3", {}, "Step through a layer"),
      el("p", { class: "controls" },
        this.picker("layer", "stepper-layer", this.entries.map((e) => e.name), (i) => {
          this.entry = this.entries[i];
          this.f = this.c = 0;
          this.drawPickers();
        }),
        this.pickers, this.play,
        el("button", { type: "button", id: "stepper-step", onclick: () => this.step() }, "Step"),
        el("button", { type: "button", id: "stepper-reset", onclick: () => this.reset() }, "Reset")),
      this.grids = el("div", { class: "maps" }),
      this.text = el("pre", { id: "stepper-text", "aria-live": "polite" }),
    );
    this.drawPickers();
  }

  // A labelled choice of ``texts``; set(position of the one chosen), then the step-through starts again.
  picker(label, id, texts, set) {
    const node = el("select", { id }, ...texts.map((text, k) => el("option", { value: k }, text)));
    node.addEventListener("change", () => {
      set(Number(node.value));
      this.reset();
    });
    return el("label", {}, ` ${label} `, node);
  }

  drawPickers() {
    const numbers = (count) => Array.from({ length: count }, (_, k) => String(k));
    const [F] = this.entry.outShape, [C] = this.entry.inShape;
    const own = this.ownChannels();
    this.pickers.replaceChildren(
      this.picker(own ? "channel" : "output channel", "stepper-f", numbers(F), (v) => (this.f = v)),
      ...(own ? [] : [this.picker("input channel", "stepper-c", numbers(C), (v) => (this.c = v))]),
    );
    this.reset();
  }

  // Whether output channel f reads only input channel f (a pooling), so that c follows f.
  ownChannels() {
    return !Object.keys(this.entry.params).length;
  }

  positions() {
    const [, O, P] = this.entry.outShape;
    return O * P;
  }

  toggle() {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    } else this.timer = setInterval(() => (this.t + 1 >= this.positions() ? this.toggle() : this.step()), PLAY_MS);
    this.play.textContent = this.timer ? "Pause" : "Play";
  }

  step() {
    this.t = (this.t + 1) % this.positions();
    this.update();
  }

  reset() {
    this.t = 0;
    this.update();
  }

  update() {
    // a quiz's question is what the step-through shows (sizes, values, gradients): put away while one is open
    this.node.hidden = !this.entries.length || Boolean(this.app.quizPart);
    if (this.node.hidden) {
      if (this.timer) this.toggle(); // stop playing
      this.grids?.replaceChildren(); // no number left behind, shown or not
      if (this.text) this.text.textContent = "";
      return;
    }
    const app = this.app, entry = this.entry, state = app.current, backward = app.backward;
    if (this.ownChannels()) this.c = this.f;
    const hidden = app.quiz.hides();
    const x = state.values[entry.input], [, H, W] = x.shape, [, O, P] = entry.outShape, f = this.f, c = this.c;
    const { size: K, stride: S, padding: pad = 0 } = entry.layer;
    const i = Math.floor(this.t / P), j = this.t % P;
    // The window of output [i, j], in the padded map's rows and columns.
    const inWindow = (r, s) => r >= S * i && r < S * i + K && s >= S * j && s < S * j + K;
    const kernelKey = Object.keys(entry.params).find((key) => entry.params[key].length === 4);
    const biasKey = Object.keys(entry.params).find((key) => entry.params[key].length === 1);
    const out = backward ? state.grads[entry.output] : state.values[entry.output];
    const hideOut = hidden.has(backward ? `backward.${entry.output}` : entry.output);
    const tables = [this.padded(`${entry.input}[${c}]`, entry.input, x, c, pad, inWindow, hidden.has(entry.input))];
    if (kernelKey && !backward) {
      const kernel = state.params[kernelKey], [, C] = kernel.shape;
      tables.push(grid(`${kernelKey}[${f},${c}]`, kernelKey, K, K, (m, n) => ({ value: kernel.data[((f * C + c) * K + m) * K + n], lit: true, full: `${f},${c},${m},${n}` })));
    }
    const shownUpTo = (r, s) => backward || r * P + s <= this.t;
    tables.push(grid(backward ? `dL/d${entry.output}[${f}]` : `${entry.output}[${f}]`, backward ? `backward.${entry.output}` : entry.output, O, P,
      (r, s) => ({ value: shownUpTo(r, s) ? out.data[(f * O + r) * P + s] : null, lit: r === i && s === j, full: `${f},${r},${s}` }), hideOut));
    const where = `window ${this.t + 1} of ${O * P}: [${i},${j}]`;
    if (!backward) {
      const { lines } = forwardArithmetic(state, entry.output, [f, i, j]);
      this.grids.replaceChildren(...tables);
      this.text.textContent = hideOut ? where : `${where}\n${lines.join("\n")}`;
      return;
    }
    const sent = this.sentBack(this.t);
    if (kernelKey) {
      const key = kernelKey.slice(entry.name.length + 1), dK = sent.grads[key], [, C] = dK.shape;
      tables.push(grid(`dL/d${kernelKey}[${f},${c}] so far`, `stepper.${kernelKey}`, K, K,
        (m, n) => ({ value: dK.data[((f * C + c) * K + m) * K + n], lit: true, full: `${f},${c},${m},${n}` }), hidden.has(`backward.${kernelKey}`)));
    }
    if (biasKey) {
      const dB = sent.grads[biasKey.slice(entry.name.length + 1)];
      tables.push(grid(`dL/d${biasKey}[${f}] so far`, `stepper.${biasKey}`, 1, 1, () => ({ value: dB.data[f], lit: true, full: `${f}` }), hidden.has(`backward.${biasKey}`)));
    }
    tables.push(this.padded(`dL/d${entry.input}[${c}] sent back so far`, "stepper.sent", sent.dx, c, pad, inWindow, hidden.has(`backward.${entry.input}`), "\u2013"));
    this.grids.replaceChildren(...tables);
    const g = out.data[(f * O + i) * P + j];
    const lines = [`${where}: dL/d${entry.output}[${f},${i},${j}] = ${fmt(g)} goes back through the layer's own backward rule.`];
    if (kernelKey) {
      const rows = [];
      for (let m = 0; m < K; m++) {
        const row = [];
        for (let n = 0; n < K; n++) {
          const r = S * i + m - pad, s = S * j + n - pad, inside = r >= 0 && r < H && s >= 0 && s < W;
          row.push(inside ? fmt(x.data[(c * H + r) * W + s]) : "0 (pad)");
        }
        rows.push(`[${row.join(", ")}]`);
      }
      lines.push(`dL/d${kernelKey}[${f},${c}] += ${fmt(g)} * ${entry.input}[${c}]'s lit window ${rows.join(" ")}`,
        `  (dL/dK[f,c,m,n] = the sum over windows of dL/d${entry.output}[f,i,j] * X[c, ${S}i+m-${pad}, ${S}j+n-${pad}]; the grid adds up windows 1 to ${this.t + 1})`);
    }
    if (biasKey) lines.push(`dL/d${biasKey}[${f}] += ${fmt(g)} (the bias meets every window with weight 1)`);
    lines.push(`dL/d${entry.input}[${c}] gets this window's share on the lit cells; the map adds up what windows 1 to ${this.t + 1} sent` +
      (pad ? "; what lands on the padding is dropped (it is no input)." : "."));
    this.text.textContent = hideOut ? where : lines.join("\n");
  }

  // A map of channel c of ``array`` (C, H, W) drawn with its border of ``pad`` cells (marked as padding, written
  // padText), the cells inWindow(r, s) (padded rows and columns) lit.
  padded(title, quantity, array, c, pad, inWindow, hide, padText = "0") {
    const [, H, W] = array.shape;
    return grid(title, quantity, H + 2 * pad, W + 2 * pad, (r, s) => {
      const a = r - pad, b = s - pad;
      const inside = a >= 0 && a < H && b >= 0 && b < W;
      return inside ? { value: array.data[(c * H + a) * W + b], lit: inWindow(r, s), full: `${c},${a},${b}` } : { pad: padText, lit: inWindow(r, s) };
    }, hide);
  }

  // What windows 0..t of output channel f send back: the layer's backward of their gradients alone, {dx, grads}
  // (dL/d(input), and the parameters' gradients these windows make).
  sentBack(t) {
    const entry = this.entry, state = this.app.current, [F, O, P] = entry.outShape;
    const layer = buildLayer(entry, state.params);
    layer.forward(state.values[entry.input]);
    const grad = zeros([F, O, P]), up = state.grads[entry.output].data;
    for (let k = 0; k <= t; k++) grad.data[this.f * O * P + k] = up[this.f * O * P + k];
    const dx = layer.backward(grad);
    return { dx, grads: layer.grads || {} };
  }
}

// A table of rows x cols cells, cell(r, s) = {value (null: not yet shown), lit, full (its full index, data-full),
// pad (a padding cell's text)}; ``quantity`` as the flow names it (data-quantity), or stepper.NAME for the partial
// sums, which are none of the pass's.
function grid(title, quantity, rows, cols, cell, hide = false) {
  const table = el("table", { class: "grid", "data-quantity": quantity, style: "align-self: flex-start" }, el("caption", {}, title));
  let limit = 0;
  for (let r = 0; r < rows; r++) for (let s = 0; s < cols; s++) limit = Math.max(limit, Math.abs(cell(r, s).value ?? 0));
  for (let r = 0; r < rows; r++) {
    const tr = el("tr");
    for (let s = 0; s < cols; s++) {
      const { value, lit, full, pad } = cell(r, s);
      const v = hide || pad ? null : value;
      const attributes = { class: lit ? "source" : "", ...(full === undefined ? {} : { "data-full": full }) };
      if (pad) Object.assign(attributes, { "data-pad": "", style: PAD_STYLE, title: "padding: a zero the window reads; a gradient sent here is dropped" });
      if (v !== null && v !== undefined) attributes["data-value"] = String(v);
      const td = el("td", attributes, pad || (v === null || v === undefined ? "\u00b7" : fmt(v)));
      if (v !== null && v !== undefined) td.style.background = `rgb(${rgb(v, limit).map(Math.round).join(",")})`;
      tr.append(td);
    }
    table.append(tr);
  }
  return table;
}
