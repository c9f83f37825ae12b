// The explorer's page: one pass of a network as a flow of columns, every value and gradient updated in place after
// any change (a typed weight, a drawn pixel, the label, an SGD step), with its arithmetic on demand, a step-through
// of a convolution, a quiz that hides its answers, and training in slices that keep the page responsive.
// start(data, root) draws into ``root``: the page's <main>, or a notebook widget's element.

import { get, offsetOf, unpacked, unravel } from "cnn-backprop/arrays.js";
import { KINDS, SEED_SPEC, architecture, keepAxes, kindOf, pass, run, toArray, toNested } from "cnn-backprop/engine.js";
import { backwardArithmetic, forwardArithmetic } from "cnn-backprop/explain.js";
import { ArrayView, el, parseNumber } from "cnn-backprop/flow.js";
import { notebookMistakes } from "cnn-backprop/mistakes.js";
import { Motion } from "cnn-backprop/motion.js";
import { Overview } from "cnn-backprop/overview.js";
import { QuizPanel } from "cnn-backprop/quizpanel.js";
import { keyOf, mark } from "cnn-backprop/quiz.js";
import { Stepper } from "cnn-backprop/stepper.js";
import { Trainer } from "cnn-backprop/train.js";

export class Explorer {
  constructor(root, { given, training, mistakes, voids, layers }) {
    this.root = root;
    this.given = given;
    this.training = training;
    this.catalogue = mistakes;
    this.voids = voids || {};
    this.written = layers || [];
    this.backward = false;
    this.quizPart = "";
    this.views = new Map(); // name -> ArrayView
    this.frame = 0;
    this.build();
    this.update();
  }

  classes() {
    const count = this.current.values.output.data.length;
    return this.given.classes || (count === 1 ? ["cross", "rectangle"] : Array.from({ length: count }, (_, k) => String(k)));
  }

  // The page's elements, once: controls, the flow of columns, the explanation, and the panels below.
  build() {
    this.arch = architecture(this.given);
    const keep = keepAxes(this.arch);
    this.current = pass(this.given);
    const hooks = {
      edit: (name, full, text, input) => this.edit(name, full, text, input),
      focus: (view, full, node) => this.explain(view, full, node),
      selected: () => this.schedule(),
    };
    const view = (name, shape, options) => {
      const made = new ArrayView(name, shape, keep[name], hooks, options);
      this.views.set(name, made);
      return made;
    };
    this.message = el("p", { id: "message", role: "status", class: "message" });
    this.labelButton = el("button", { type: "button", id: "flip", onclick: () => this.setLabel((this.given.label + 1) % this.classes().length) });
    this.trainer = new Trainer(this);
    const controls = el("section", { class: "controls", "aria-label": "controls" },
      this.labelButton,
      el("label", {}, this.gradientsBox = el("input", { type: "checkbox", id: "gradients", onchange: (e) => this.setBackward(e.target.checked) }), " backward pass (dL/d every value)"),
      ...this.trainer.controls(),
      el("label", {}, "quiz ", this.quizSelect = el("select", { id: "quiz", onchange: (e) => this.setQuiz(e.target.value) },
        el("option", { value: "" }, "off"), ...Object.entries(QuizPanel.QUESTIONS).map(([part, text]) => el("option", { value: part }, text)))),
      el("button", { type: "button", id: "save", onclick: () => this.save() }, "Save this instance"),
    );
    this.legend = el("p", { class: "legend", id: "legend" });
    // The columns of numbers: the image, then a column per layer (a flatten only reshapes: it is an arrow); the
    // overview's columns the same, with only the heat maps of the outputs and of the kernels and weights (not the
    // biases); the output and the loss beside the overview.
    this.columns = [];
    const glances = [];
    const image = view("image", this.current.values.image.shape, { label: "image X" });
    this.columns.push(this.column("image", "the input", [], image, this.current.values.image.shape));
    glances.push({ name: "image", written: "the input", banks: [["image", this.current.values.image.shape]] });
    for (const [i, entry] of this.arch.entries()) {
      const kind = kindOf(entry.layer);
      if (kind.reshapes || kind.isOutput) continue;
      const params = Object.entries(entry.params).map(([name, shape]) => view(name, shape, { editable: true }));
      // what a training-mode pass drew for it (a dropout's mask), shown beside its parameters
      if (entry.layer.mode === "train") for (const key of kind.givenDraws) params.push(view(`${entry.name}_${key}`, entry.inShape));
      const out = view(entry.output, entry.outShape);
      const written = this.written[i] || entry.layer.kind;
      this.columns.push(this.column(entry.name, written, params, out, entry.outShape));
      const maps = Object.entries(entry.params).filter(([, shape]) => shape.length > 1);
      glances.push({ name: entry.name, written, banks: [...maps, [entry.output, entry.outShape]] });
    }
    // each residual block's shortcut: from the column that makes the block's input (through its 1x1 conv if any)
    const skips = this.arch.filter((entry) => kindOf(entry.layer).joins).map((entry) => {
      const via = entry.layer.projection && this.arch.find((e) => e.output === entry.inputs[1]);
      return { from: this.arch.find((e) => e.output === (via || entry).inputs.at(-1))?.name || "image", to: entry.name, via: via?.name };
    });
    this.overview = new Overview(glances, (layer, quantity, full) => this.open(layer, quantity, full), skips);
    this.drawable(image, this.overview.banks[0]);
    this.motion = new Motion(this);
    this.overview.node.prepend(this.motion.node);
    this.outputColumn = el("section", { class: "output", "aria-label": "the prediction and the loss" },
      el("h3", {}, "output ", el("small", {}, this.written.at(-1) || this.arch.at(-1).layer.kind)),
      this.outputNote = el("p", { class: "hint" }),
      this.bars = el("table", { class: "bars", id: "probabilities" }),
      el("p", { class: "loss" }, "loss L = ", this.lossCell = el("span", { id: "loss", "data-quantity": "loss", "data-index": "", tabindex: "0" })));
    this.lossCell.addEventListener("focus", () => this.explainLoss());
    this.lossCell.addEventListener("mouseenter", () => this.explainLoss());
    this.flow = el("div", { class: "flow", role: "region", tabindex: "0", "aria-label": "the numbers, layer by layer; scrolls sideways" });
    this.lines = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.lines.setAttribute("class", "lines");
    this.lines.setAttribute("aria-hidden", "true");
    this.arrange();
    this.explanation = el("aside", { id: "arithmetic", "aria-live": "polite", "aria-label": "where a number comes from" },
      el("h3", {}, "Where a number comes from"), this.explained = el("pre", { id: "lines" }, "Hover over, tap or focus any number."));
    this.dock(this.columns[1] || this.columns[0]);
    this.quiz = new QuizPanel(this);
    this.stepper = new Stepper(this);
    this.mistakes = notebookMistakes(this);
    const spec = this.given.net || SEED_SPEC;
    const mode = this.given.mode || "train";
    const modal = this.given.mode || this.arch.some((entry) => kindOf(entry.layer).modal);
    const modeText = modal ? `, in ${mode === "eval" ? "evaluation mode (model.eval())" : "training mode (model.train())"}` : "";
    this.root.replaceChildren(
      el("header", {}, el("h1", {}, "cnn-backprop explorer"), el("p", { class: "spec" }, `network: ${spec}${modeText}`), controls, this.message, this.legend),
      this.overview.node,
      this.outputColumn,
      el("div", { class: "layout" }, this.flow),
      ...[this.quiz.node, this.stepper.node, this.trainer.node, this.mistakes?.node].filter(Boolean),
    );
    this.overview.layout();
  }

  // A column: its heading (name, kind), its parameters, and its output with the output's shape.
  column(name, written, params, out, shape) {
    const shapeText = shape.length === 3 ? `${shape[0]}@${shape[1]}x${shape[2]}` : `${shape.join("x")}`;
    const node = el("section", { class: "column", "data-layer": name, tabindex: "-1", "aria-label": `${name}: ${written}` },
      el("h3", {}, `${name} `, el("small", {}, written)),
      params.length ? el("div", { class: "params" }, ...params.map((v) => v.node)) : null,
      el("p", { class: "shape", "data-shape": name }, `${shapeText}`),
      out.node);
    return { node, params, out, shapeText };
  }

  // The columns in the order the pass goes: forward from the image, backward from the loss.
  arrange() {
    const nodes = this.columns.map((c) => c.node);
    if (this.backward) nodes.reverse();
    const items = [];
    nodes.forEach((node, i) => {
      if (i) items.push(el("div", { class: "arrow", "aria-hidden": "true" }, "\u2192"));
      items.push(node);
    });
    this.flow.replaceChildren(...items, this.lines);
  }

  // Recompute and show: at most once a frame however many changes come in it.
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.update();
    });
  }

  // ``current``: the pass of this.given, when the caller has it already.
  update(current = pass(this.given)) {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    current.label = this.given.label;
    this.current = current;
    const hidden = this.quiz.hides();
    for (const [name, view] of this.views) {
      const isParam = this.arch.some((e) => Object.hasOwn(e.params, name));
      const drawn = Object.hasOwn(current.extras, name); // a dropout's mask: the same forward and backward
      const quantity = this.backward && !drawn ? `backward.${name}` : name;
      const array = drawn ? current.extras[name] : this.backward ? current.grads[name] : isParam ? current.params[name] : current.values[name];
      const shown = hidden.has(quantity) ? null : array;
      view.update(shown ?? null, quantity, this.backward ? `dL/d${name}` : name);
    }
    for (const column of this.columns) {
      const shape = column.node.querySelector(".shape");
      shape.textContent = hidden.has("shapes") && column.out.name !== "image" ? "shape: in the quiz" : column.shapeText;
    }
    this.updateOutput(hidden);
    this.motion.update(Boolean(this.quizPart));
    const arrays = {};
    for (const bank of this.overview.banks) arrays[bank.quantity] = hidden.has(bank.quantity) ? null : this.arrayOf(bank.quantity);
    this.overview.update(arrays);
    this.labelButton.textContent = `label y = ${this.given.label} (${this.classes()[this.given.label]}): change`;
    this.legend.textContent = this.backward
      ? "Backward: each number below is dL/d that value (the maps above stay forward). Red: the loss grows as the value grows; blue: it falls; white: no effect."
      : "Forward: red positive, blue negative, white zero; the stronger, the larger |value| against the largest of its array. Click a layer for its numbers; draw on the image.";
    this.lock(Boolean(this.quizPart));
    this.stepper.update();
    this.trainer.update();
    this.mistakes?.update();
    if (this.focused) this.explain(...this.focused);
    window.cnnBackprop.state = current;
    this.changed?.(this.given); // a notebook widget sends the instance back to Python
  }

  // A new instance of the same network (from Python, in a notebook), shown in place.
  setGiven(given) {
    this.given = unpackedGiven(given);
    this.update();
  }

  updateOutput(hidden) {
    const p = this.current.values.output.data, names = this.classes();
    const probabilities = p.length === 1 ? [1 - p[0], p[0]] : Array.from(p);
    const hide = hidden.has("output");
    if (this.bars.rows.length !== probabilities.length)
      this.bars.replaceChildren(...probabilities.map((_, k) => el("tr", {}, el("th", {}, `P(${names[k]})`), el("td", { tabindex: "0" }, el("span", { class: "bar" }), el("span", { class: "number" })))));
    const top = probabilities.indexOf(Math.max(...probabilities));
    probabilities.forEach((value, k) => {
      const cell = this.bars.rows[k].cells[1];
      const y = Number(k === this.given.label);
      cell.dataset.quantity = hide ? "" : "probability";
      cell.dataset.index = String(k);
      cell.dataset.value = hide ? "" : String(value);
      const shown = this.backward ? value - y : value; // backward: dL/dz = p - onehot(y)
      cell.firstChild.style.width = hide ? "0" : `${(Math.abs(shown) * 100).toFixed(1)}%`;
      cell.lastChild.textContent = hide ? "?" : this.backward ? `${value.toFixed(4)} - ${y} = ${shown.toFixed(4)}` : value.toFixed(4);
      this.bars.rows[k].classList.toggle("predicted", !hide && k === top);
      this.bars.rows[k].classList.toggle("true", k === this.given.label);
    });
    this.outputNote.textContent = this.backward ? "p - onehot(y) = dL/dz, where the backward pass starts" : "P(each class)";
    this.lossCell.dataset.value = hidden.has("loss") ? "" : String(this.current.loss);
    this.lossCell.textContent = hidden.has("loss") ? "?" : this.current.loss.toFixed(6);
  }

  setLabel(label) {
    this.given.label = label;
    this.update();
  }

  setBackward(on) {
    this.backward = on;
    this.gradientsBox.checked = on;
    this.arrange();
    this.update();
  }

  setQuiz(part) {
    if (this.trainer.running) this.trainer.toggle(); // the instance is the quiz's from now on
    this.quizPart = part;
    this.quiz.start(part);
    this.update();
  }

  // While a quiz is on, the instance cannot change: the parameters read only, no drawing, no label, no training.
  lock(locked) {
    for (const view of this.views.values())
      for (const { input } of view.cells || []) if (input?.tagName === "INPUT") input.readOnly = locked;
    this.labelButton.disabled = locked;
    if (this.trainer.trainButton) this.trainer.trainButton.disabled = locked;
    this.root.classList.toggle("locked", locked);
    if (locked) this.say("The network is locked while the quiz is on: set quiz to off to change it.");
    else if (this.message.textContent.startsWith("The network is locked")) this.say("");
  }

  // A typed parameter entry: taken if it is a finite number and the loss stays finite, else refused with why.
  edit(name, full, text, input) {
    if (this.quizPart) return this.update(); // locked: the value typed is put back
    const { number, error } = parseNumber(text);
    const refuse = (why) => {
      input.setAttribute("aria-invalid", "true");
      this.say(`${input.getAttribute("aria-label")}: ${why}`);
    };
    if (error) return refuse(error);
    const before = this.getEntry(name, full);
    this.setEntry(name, full, number);
    const current = pass(this.given);
    if (!Number.isFinite(current.loss)) {
      this.setEntry(name, full, before);
      return refuse(`${text} makes the loss ${current.loss}: type a smaller number`);
    }
    input.removeAttribute("aria-invalid");
    this.say("");
    this.update(current);
  }

  // The explanation, docked in a column of numbers (the open one): beside what it explains, covering nothing.
  dock(column) {
    this.opened?.node.classList.remove("open");
    this.opened = column;
    column.node.classList.add("open");
    column.node.append(this.explanation);
  }

  // A layer's numbers, opened from the overview: its column brought into view with the explanation docked in it;
  // with ``full``, that entry of ``quantity`` shown among the numbers and explained.
  open(layer, quantity, full) {
    const column = this.columns.find((c) => c.node.dataset.layer === layer);
    this.dock(column);
    column.node.scrollIntoView({ block: "start", inline: "nearest" });
    const view = quantity && this.views.get(quantity);
    if (!view || !full) return column.node.focus({ preventScroll: true });
    if (view.big) {
      const { slice, position } = view.locate(full);
      view.select(slice, position);
    }
    view.cellsOf([full])[0]?.focus();
  }

  say(text) {
    this.message.textContent = text;
  }

  // The instance on screen as a --given file: `cnn-backprop walkthrough --given instance.json` shows every number
  // the page shows.
  save() {
    const text = `${JSON.stringify(this.given, null, 1)}\n`;
    const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: "instance.json" });
    link.click();
    URL.revokeObjectURL(link.href);
    this.say("Saved instance.json: cnn-backprop walkthrough --given instance.json shows every number shown here.");
  }

  // A parameter or the image, as the pass holds it.
  arrayOf(name) {
    return this.current.params[name] || this.current.values[name];
  }

  getEntry(name, full) {
    return get(this.arrayOf(name), full);
  }

  setEntry(name, full, number) {
    const { shape } = this.arrayOf(name);
    const array = toArray(this.given[name], shape.length);
    array.data[offsetOf(shape, full)] = number;
    this.given[name] = toNested(array, keepAxes(this.arch)[name]);
  }

  // Drawing on the image, its numbers or its map in the overview (``drawn``): press on a pixel to toggle it, drag to
  // paint (or erase, if the press erased); the pen lifts wherever the pointer is released.  Enter or Space toggles
  // the focused pixel.
  drawable(view, drawn) {
    let ink = null;
    const pixelAt = (event) => {
      const node = document.elementFromPoint(event.clientX, event.clientY);
      const cell = node?.closest?.('[data-array="image"] td');
      if (cell) return cell.dataset.full.split(",").map(Number);
      const bank = [view.bank, drawn].find((b) => b && node === b.canvas);
      const found = bank?.entryAt(event);
      return found ? unravel(bank.offsetAt(found.slice, found.position), view.shape) : null;
    };
    const paint = (full) => {
      if (this.getEntry("image", full) !== ink) {
        this.setEntry("image", full, ink);
        this.schedule();
      }
    };
    for (const node of [view.node, drawn.canvas])
      node.addEventListener("pointerdown", (event) => {
        const full = pixelAt(event);
        if (!full || this.quizPart) return;
        event.preventDefault();
        ink = this.getEntry("image", full) > 0.5 ? 0 : 1;
        paint(full);
      });
    drawn.canvas.addEventListener("click", (event) => event.stopPropagation()); // drawn on: its heading opens it
    window.addEventListener("pointermove", (event) => {
      if (ink === null) return;
      const full = pixelAt(event);
      if (full) paint(full);
    });
    const lift = () => {
      ink = null;
    };
    window.addEventListener("pointerup", lift);
    window.addEventListener("pointercancel", lift);
    view.node.addEventListener("keydown", (event) => {
      const cell = event.target.closest("td");
      if (!cell || !(event.key === "Enter" || event.key === " ") || this.quizPart) return;
      event.preventDefault();
      const full = cell.dataset.full.split(",").map(Number);
      this.setEntry("image", full, this.getEntry("image", full) > 0.5 ? 0 : 1);
      this.update();
    });
  }

  // The arithmetic of one value in the panel, its sources lit and joined to it by lines.
  explain(view, full, node) {
    this.focused = [view, full, node];
    const quantity = view.quantity;
    if (this.quiz.hides().has(quantity)) {
      this.explained.textContent = `${quantity} is in the quiz.`;
      this.light([], node);
      return;
    }
    const backward = quantity.startsWith("backward.");
    const name = backward ? quantity.slice("backward.".length) : quantity;
    const result = backward ? backwardArithmetic(this.current, name, full) : forwardArithmetic(this.current, name, full);
    this.explained.textContent = result.lines.join("\n");
    this.light(result.sources, node);
  }

  explainLoss() {
    const p = this.current.values.output.data, y = this.given.label;
    const py = p.length > 1 ? p[y] : y === 1 ? p[0] : 1 - p[0];
    this.focused = null;
    this.explained.textContent = this.quiz.hides().has("loss")
      ? "The loss is in the quiz."
      : `loss L = -log P(true class y = ${y}) = -log ${py.toFixed(6)} = ${this.current.loss >= 0.01 ? this.current.loss.toFixed(6) : this.current.loss.toExponential(3)}\n` +
        `Its gradient starts the backward pass: dL/dz = output - onehot(y), the output layer's own derivative and the\nloss's together.`;
    this.light([], this.lossCell);
  }

  // Lights ``sources`` ([quantity, full index]) on the page and draws a line from ``node`` to each array's lit part.
  light(sources, node) {
    this.root.querySelectorAll(".source").forEach((cell) => cell.classList.remove("source"));
    const byArray = new Map(), forward = new Map();
    const add = (map, name, full) => map.set(name, [...(map.get(name) || []), full]);
    for (const [quantity, full] of sources) {
      const name = quantity.replace(/^backward\./, "");
      if (name === quantity) add(forward, name, full); // the overview shows the forward values: X, in either view
      // only where the view shows that quantity: in the backward view the image's cells are dL/dimage, not X
      if (this.views.get(name)?.quantity === quantity) add(byArray, name, full);
    }
    this.overview.light(forward);
    for (const view of this.views.values()) view.outline(byArray.get(view.name) || []);
    const box = this.flow.getBoundingClientRect();
    const shift = (x, y) => [x - box.left + this.flow.scrollLeft, y - box.top + this.flow.scrollTop];
    const from = node?.getBoundingClientRect();
    const lines = [];
    for (const [name, fulls] of byArray) {
      const view = this.views.get(name);
      for (const cell of view.cellsOf(fulls)) cell.classList.add("source");
      if (!from || !this.flow.contains(node)) continue;
      const points = fulls.map((f) => view.pointOf(f)).filter(Boolean);
      if (!points.length) continue;
      const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
      const [x0, y0] = shift(Math.min(...xs), Math.min(...ys)), [x1, y1] = shift(Math.max(...xs), Math.max(...ys));
      const [fx, fy] = shift(from.left + from.width / 2, from.top + from.height / 2);
      lines.push(`<rect x="${x0 - 6}" y="${y0 - 6}" width="${x1 - x0 + 12}" height="${y1 - y0 + 12}"/>`);
      lines.push(`<line x1="${fx}" y1="${fy}" x2="${(x0 + x1) / 2}" y2="${(y0 + y1) / 2}"/>`);
    }
    this.lines.setAttribute("width", this.flow.scrollWidth);
    this.lines.setAttribute("height", this.flow.scrollHeight);
    this.lines.innerHTML = lines.join("");
  }
}

// The page's entry point: the explorer drawn into ``root`` (the page's <main id="app"> by default).
function unpackedGiven(given) {
  return Object.fromEntries(Object.entries(given).map(([key, value]) => [key, unpacked(value)]));
}

// ``changed(given)``, if given, hears of every change of the instance (a notebook widget's way back to Python).
export function start(data, root = document.getElementById("app"), changed = null) {
  data = { ...data, given: unpackedGiven(data.given) };
  window.cnnBackprop = {
    run,
    pass,
    kinds: KINDS,
    mark: (g, answers, decimals, points) => mark(keyOf(g, run(g)), answers, decimals, points),
    state: null,
  };
  const explorer = new Explorer(root, data);
  explorer.changed = changed;
  window.cnnBackprop.explorer = explorer;
  return explorer;
}
