// The quiz on the page: one question's numbers as blanks, marked as `cnn-backprop check` marks them (one rule, in
// quiz.js) when the student asks.  While a question is open, every number that gives one of its answers away is
// hidden: on the flow, in the explanations, in the SGD table and the notebook's mistakes, and the output and the
// loss; the instance is locked (nothing typed, drawn or trained changes it) and the step-through is put away.  The
// key is computed when the answers are marked and kept nowhere.

import { size } from "cnn-backprop/arrays.js";
import { kindOf, run, unravel } from "cnn-backprop/engine.js";
import { el, parseNumber, SMALL } from "cnn-backprop/flow.js";
import { keyOf, mark, quantities } from "cnn-backprop/quiz.js";

const DECIMALS = 4;

export class QuizPanel {
  static QUESTIONS = { shapes: "1. Output sizes", forward: "2. Forward pass", backward: "3. Backward pass" };

  constructor(app) {
    this.app = app;
    this.part = "";
    this.node = el("section", { class: "panel quiz", id: "quiz-panel", "aria-label": "quiz" });
    this.node.hidden = true;
  }

  // What the open question hides: quantities as the page names them (NAME, backward.NAME), "output", "loss",
  // "shapes" (the columns' output shapes) and "bugged" (the notebook's mistakes panel).
  hides() {
    if (!this.part) return new Set();
    const app = this.app, hidden = new Set(["output", "loss", "bugged"]);
    const outputs = app.arch.filter((e) => !kindOf(e.layer).reshapes).map((e) => e.output);
    // Every gradient, in every question: dL/dz = p - onehot(y) alone gives the output away.
    for (const name of app.views.keys()) hidden.add(`backward.${name}`);
    if (this.part !== "backward") for (const name of outputs) hidden.add(name);
    if (this.part === "shapes") hidden.add("shapes");
    return hidden;
  }

  // Opens a question on an instance whose prediction is wrong and whose loss is above 0.5: if the network already
  // gets it right, the label becomes the class it finds least likely, so that no answer is near zero.
  // The label goes back to the student's when the quiz ends.
  start(part) {
    const app = this.app;
    if (this.label !== undefined && !part) app.given.label = this.label;
    this.label = part ? this.label ?? app.given.label : undefined;
    this.part = part;
    this.answers = {};
    this.node.hidden = !part;
    if (!part) return this.node.replaceChildren();
    const p = Array.from(app.current.values.output.data);
    const probabilities = p.length === 1 ? [1 - p[0], p[0]] : p;
    const predicted = probabilities.indexOf(Math.max(...probabilities));
    this.note = "";
    if (predicted === app.given.label || app.current.loss <= 0.5) {
      app.given.label = probabilities.indexOf(Math.min(...probabilities));
      this.note = `The label is set to y = ${app.given.label}, the class the network finds least likely, so that no answer is near zero (it goes back when the quiz ends).`;
    }
    // the blanks' shapes only: the key is computed when the answers are marked
    const shapes = {};
    const layout = run(app.given);
    for (const [p2, name] of quantities(layout)) {
      const shape = [];
      for (let item = layout[p2][name]; Array.isArray(item); item = item[0]) shape.push(item.length);
      if (p2 === part) shapes[name] = shape;
    }
    this.fields = [];
    const grids = Object.entries(shapes).map(([name, shape]) => {
      const quantity = `${part}.${name}`;
      if (size(shape) > SMALL) return el("p", { class: "hint" }, `${quantity}: ${size(shape)} numbers, left out of the quiz`);
      // A table per map (channel, or kernel [f, c]), as the flow shows them.
      const cols = shape.length ? shape.at(-1) : 1, per = shape.length > 1 ? shape.at(-2) * cols : cols;
      const tables = [];
      let row = null;
      for (let k = 0; k < size(shape); k++) {
        if (k % per === 0) {
          const lead = shape.slice(0, -2), caption = lead.length ? [el("caption", {}, `[${unravel(k / per, lead).join(",")}]`)] : [];
          tables.push(el("table", { class: "grid quiz" }, ...caption));
        }
        if (k % cols === 0) tables.at(-1).append((row = el("tr")));
        const index = shape.length ? unravel(k, shape) : [];
        const input = el("input", { type: "text", size: "7", inputmode: "decimal", "aria-label": `${quantity}[${index.join(",")}]`, "data-quantity": `quiz.${quantity}`, "data-index": index.join(",") });
        const cell = el("td", {}, input);
        input.addEventListener("change", () => this.answer(quantity, shape, k, input));
        row.append(cell);
        this.fields.push({ quantity, k, cell, input });
      }
      return el("div", {}, el("h4", {}, part === "backward" ? `dL/d${name}` : name), el("div", { class: "maps" }, ...tables));
    });
    this.score = el("p", { id: "quiz-score", role: "status" });
    this.named = el("ul", { id: "quiz-mistakes" });
    const note = this.note ? [el("p", { id: "quiz-note" }, this.note)] : [];
    const markButton = el("button", { type: "button", id: "quiz-mark", onclick: () => this.mark() }, "Mark my answers");
    this.node.replaceChildren(
      el("h3", {}, `Quiz: ${QuizPanel.QUESTIONS[part]}`),
      el("p", {}, `Answers to ${DECIMALS} decimals, each from your own earlier answers where you have them. The network is locked while the quiz is on.`),
      ...note, el("div", { class: "maps" }, ...grids), markButton, this.score, this.named,
    );
  }

  answer(quantity, shape, k, input) {
    const text = input.value.trim();
    const { number, error } = text === "" ? { number: null } : parseNumber(text);
    if (error) {
      input.setAttribute("aria-invalid", "true");
      input.title = error;
      this.app.say(`${input.getAttribute("aria-label")}: ${error}`);
      return;
    }
    input.removeAttribute("aria-invalid");
    input.title = "";
    this.app.say("");
    const flat = this.answers[quantity] ? [this.answers[quantity]].flat(Infinity) : Array(size(shape)).fill(null);
    flat[k] = number;
    this.answers[quantity] = nest(flat, shape);
    this.clearMarks();
  }

  // Every answer marked, in place: right, carried or wrong (with the mistake beside it), and the points a quantity
  // as `check` gives them.  A typed answer clears the marks until the next time.
  mark() {
    if (!this.part) return;
    const app = this.app;
    const marking = Object.keys(this.answers).length ? mark(keyOf(app.given, run(app.given)), this.answers, DECIMALS) : null;
    const entries = marking ? marking.entries : [];
    const verdicts = new Map(entries.map((e) => [`${e.quantity}[${e.index.join(",")}]`, e]));
    for (const { cell, input } of this.fields) {
      const entry = verdicts.get(input.getAttribute("aria-label"));
      const verdict = !entry || entry.verdict === "blank" ? "" : entry.void ? "void" : entry.verdict;
      cell.className = verdict ? `verdict-${verdict}` : "";
      cell.dataset.verdict = verdict;
      cell.title = entry?.mistake ? `${entry.mistake}: ${app.catalogue[entry.mistake]}` : entry?.void ? app.voids[entry.void] : verdict;
    }
    const count = (v) => entries.filter((e) => e.verdict === v && !e.void).length;
    const mine = Object.entries(marking?.points || {}).filter(([q]) => q.startsWith(`${this.part}.`) && this.fields.some((f) => f.quantity === q));
    const earned = mine.reduce((a, [, [e]]) => a + e, 0), worth = mine.reduce((a, [, [, w]]) => a + w, 0);
    const left = this.fields.length - entries.filter((e) => e.verdict !== "blank").length;
    this.score.textContent = `${count("right")} right, ${count("carried")} carried, ${entries.filter((e) => e.verdict === "wrong" || e.void).length} wrong or earning nothing of ${this.fields.length}; ${left} left; ${+earned.toFixed(2)} of ${worth || mine.length} points`;
    const named = [...new Set(entries.filter((e) => e.mistake).map((e) => e.mistake))];
    const voids = [...new Set(entries.filter((e) => e.void).map((e) => e.void))];
    const carried = el("li", {}, "carried: wrong only because an earlier answer was; computed correctly from your own values, so it earns its mark");
    this.named.replaceChildren(
      ...named.map((m) => el("li", { "data-mistake": m }, el("b", {}, m), `: ${app.catalogue[m]}`)),
      ...voids.map((v) => el("li", { "data-void": v }, el("b", {}, v), `: ${app.voids[v]}`)),
      ...(count("carried") ? [carried] : []),
    );
  }

  // A typed answer is kept; the marks wait for "Mark my answers".
  clearMarks() {
    for (const { cell } of this.fields) {
      cell.className = "";
      cell.dataset.verdict = "";
    }
    this.score.textContent = "";
  }
}

function nest(flat, shape) {
  if (!shape.length) return flat[0];
  const step = flat.length / shape[0];
  return shape.length === 1 ? flat : Array.from({ length: shape[0] }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
}
