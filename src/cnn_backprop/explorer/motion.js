// The pass as motion along the overview: forward, each layer's maps drawn left to right as they are computed, then
// the loss; backward, from the loss, each layer's maps turned to their gradients right to left.  Each step writes one
// value of it (its largest) with its arithmetic, as the explanation does.  Play, Step, Pause; the style sheet moves
// nothing where the reader asks for reduced motion.

import { unravel } from "cnn-backprop/arrays.js";
import { backwardArithmetic, forwardArithmetic } from "cnn-backprop/explain.js";
import { el } from "cnn-backprop/flow.js";

const STEP_MS = 900;

// The offset of the largest |value| of ``data``.
function largestAt(data) {
  let at = 0;
  for (let i = 1; i < data.length; i++) if (Math.abs(data[i]) > Math.abs(data[at])) at = i;
  return at;
}

export class Motion {
  constructor(app) {
    this.app = app;
    this.at = -1; // the step shown, -1 when none
    this.timer = 0;
    this.playButton = el("button", { type: "button", id: "pass-play", onclick: () => this.toggle() }, "Play the pass");
    this.stepButton = el("button", { type: "button", id: "pass-step", onclick: () => this.step() }, "Step");
    this.said = el("p", { id: "pass-said", "aria-live": "polite" });
    this.node = el("div", { class: "motion" }, this.playButton, this.stepButton, this.said);
  }

  // [[layer, backward]]: the overview's columns forward, the loss, then back to the image.
  steps() {
    const layers = [...new Set(this.app.overview.banks.map((bank) => bank.layer))];
    return [...layers.map((l) => [l, false]), ["loss", false], ["loss", true], ...layers.reverse().map((l) => [l, true])];
  }

  step() {
    const steps = this.steps(), current = this.app.current;
    this.at += 1;
    if (this.at >= steps.length) return this.stop();
    const at = (layer) => steps.findIndex(([l]) => l === layer);
    const [layer, backward] = steps[this.at], arrays = {};
    for (const bank of this.app.overview.banks) {
      const output = !Object.hasOwn(current.params, bank.quantity), k = at(bank.layer);
      const gradient = backward ? k >= at(layer) : false; // reached by the backward pass
      arrays[bank.quantity] = gradient ? current.grads[bank.quantity] : output && !backward && k > this.at ? null : this.app.arrayOf(bank.quantity);
      if (gradient) arrays[bank.quantity] = { ...arrays[bank.quantity], gradient: true };
    }
    this.app.overview.lit = new Map(); // what was lit was lit on the forward values
    this.app.overview.update(arrays, "not computed yet");
    for (const glance of this.app.overview.node.querySelectorAll(".glance")) glance.classList.toggle("now", glance.dataset.layer === layer);
    this.app.overview.carrying(backward ? layer : null, steps.slice(0, at("loss")).map(([l]) => l));
    this.said.textContent = this.said.title = this.text(layer, backward);
  }

  // The step's one line: a value of the layer's output and its arithmetic (title, then the numbers).
  text(layer, backward) {
    const state = this.app.current;
    if (layer === "loss") return backward ? "backward: dL/dz = p - onehot(y), where the backward pass starts" : `forward: loss L = -log P(y) = ${state.loss.toFixed(6)}`;
    if (layer === "image" && !backward) return "forward: the image X, given";
    const quantity = this.app.overview.banks.filter((b) => b.layer === layer).at(-1).quantity;
    const array = backward ? state.grads[quantity] : state.values[quantity];
    const full = unravel(largestAt(array.data), array.shape);
    const { lines } = (backward ? backwardArithmetic : forwardArithmetic)(state, quantity, full);
    this.app.explained.textContent = lines.join("\n"); // the whole of it, where the explanation is docked
    // where a block's two gradients meet, their sum alone: the line is one row
    if (backward && state.parts[quantity]) return `backward, two gradients add: ${lines[0]} = ${lines.at(-1).split(" = ").slice(1).join(" = ")}`;
    return `${backward ? "backward" : "forward"}: ${lines[0]} ${lines.at(-1).trim()}`;
  }

  toggle() {
    if (this.timer) return this.pause();
    this.playButton.textContent = "Pause";
    const next = () => {
      this.step();
      if (this.at >= 0) this.timer = setTimeout(next, STEP_MS);
    };
    next();
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = 0;
    this.playButton.textContent = "Play the pass";
  }

  // Back to the page as it was: the forward values, nothing current.
  stop() {
    const was = this.at;
    this.clear();
    if (was >= 0) this.app.update();
  }

  clear() {
    this.pause();
    this.at = -1;
    this.said.textContent = "";
    this.app.overview.node.querySelectorAll(".now").forEach((n) => n.classList.remove("now"));
    this.app.overview.carrying(null, []);
  }

  // The page changed (an edit, a step, a quiz): the pass starts again; no playing while a quiz is on.
  update(locked) {
    if (this.at >= 0) this.clear();
    this.playButton.disabled = this.stepButton.disabled = locked;
  }
}
