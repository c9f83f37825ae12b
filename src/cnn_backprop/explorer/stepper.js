// A step-through of one sliding layer (a convolution or a pooling): forward, the window moves over one input channel
// and each output value appears with its arithmetic; backward, each window's gradient is sent back to the input,
// and dL/d(input) builds up window by window.  Play, Pause, Step and Reset are buttons (so the keyboard works them).
// Which layers slide is each kind's ``slides``; a window's share of dL/d(input) is the layer's own backward of
// that one output's gradient, so every kind's rule is its own.

import { zeros } from "cnn-backprop/arrays.js";
import { buildLayer, kindOf } from "cnn-backprop/engine.js";
import { forwardArithmetic } from "cnn-backprop/explain.js";
import { el, fmt, rgb } from "cnn-backprop/flow.js";

const PLAY_MS = 500;

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
    const i = Math.floor(this.t / P), j = this.t % P;
    const { sources, lines } = forwardArithmetic(state, entry.output, [f, i, j]);
    const lit = new Set(sources.filter(([q, at]) => q === entry.input && at[0] === c).map(([, at]) => `${at[1]},${at[2]}`));
    // The input (forward) or what each window so far sent back to it (backward), channel c.
    const input = backward ? this.sentBack(i * P + j) : x;
    const out = backward ? state.grads[entry.output] : state.values[entry.output];
    const hideOut = hidden.has(backward ? `backward.${entry.output}` : entry.output);
    const hideIn = hidden.has(backward ? `backward.${entry.input}` : entry.input);
    // ``quantity`` as the flow names it (data-quantity): the partial sums sent back are none of the pass's.
    const grid = (title, quantity, rows, cols, value, lightAt, hide) => {
      const table = el("table", { class: "grid", "data-quantity": quantity }, el("caption", {}, title));
      let limit = 0;
      for (let r = 0; r < rows; r++) for (let s = 0; s < cols; s++) limit = Math.max(limit, Math.abs(value(r, s) ?? 0));
      for (let r = 0; r < rows; r++) {
        const tr = el("tr");
        for (let s = 0; s < cols; s++) {
          const v = hide ? null : value(r, s);
          const cell = el("td", { class: lightAt(r, s) ? "source" : "", ...(v === null ? {} : { "data-value": String(v) }) }, v === null ? "\u00b7" : fmt(v));
          if (v !== null) cell.style.background = `rgb(${rgb(v, limit).map(Math.round).join(",")})`;
          tr.append(cell);
        }
        table.append(tr);
      }
      return table;
    };
    const tables = [
      grid(backward ? `dL/d${entry.input}[${c}] sent back so far` : `${entry.input}[${c}]`, backward ? "stepper.sent" : entry.input, H, W, (r, s) => input.data[(c * H + r) * W + s], (r, s) => lit.has(`${r},${s}`), hideIn),
    ];
    const kernelKey = Object.keys(entry.params).find((key) => entry.params[key].length === 4);
    if (kernelKey) {
      const kernel = state.params[kernelKey], [, C, K] = kernel.shape;
      tables.push(grid(`${kernelKey}[${f},${c}]`, kernelKey, K, K, (m, n) => kernel.data[((f * C + c) * K + m) * K + n], () => true, false));
    }
    const shownUpTo = (r, s) => backward || r * P + s <= this.t;
    tables.push(grid(backward ? `dL/d${entry.output}[${f}]` : `${entry.output}[${f}]`, backward ? `backward.${entry.output}` : entry.output, O, P, (r, s) => (shownUpTo(r, s) ? out.data[(f * O + r) * P + s] : null), (r, s) => r === i && s === j, hideOut));
    this.grids.replaceChildren(...tables);
    const where = `window ${this.t + 1} of ${O * P}: [${i},${j}]`;
    if (backward)
      this.text.textContent = hideOut ? `${where}` : `${where}: dL/d${entry.output}[${f},${i},${j}] = ${fmt(out.data[(f * O + i) * P + j])} goes back through the layer's own backward rule to the lit window of ${entry.input}; the map on the left adds up what windows 1 to ${this.t + 1} sent.`;
    else this.text.textContent = hideOut ? where : `${where}\n${lines.join("\n")}`;
  }

  // dL/d(input) that windows 0..t of output channel f send back: the layer's backward of their gradients alone.
  sentBack(t) {
    const entry = this.entry, state = this.app.current, [F, O, P] = entry.outShape;
    const layer = buildLayer(entry, state.params);
    layer.forward(state.values[entry.input]);
    const grad = zeros([F, O, P]), up = state.grads[entry.output].data;
    for (let k = 0; k <= t; k++) grad.data[this.f * O * P + k] = up[this.f * O * P + k];
    return layer.backward(grad);
  }
}
