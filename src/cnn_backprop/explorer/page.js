// The explorer's page: every value and gradient of one pass as grids, recomputed at once after any change.
// Every number is an element with data-quantity (its JSON name), data-index and data-value (full precision).

import { KINDS, SEED_SPEC, keepAxes, kindOf, pass, run, toArray, toNested, unravel } from "cnn-backprop/engine.js";
import { backwardArithmetic, forwardArithmetic } from "cnn-backprop/explain.js";
import { keyOf, mark, quantities } from "cnn-backprop/quiz.js";

const state = { given: null, training: null, showGradients: false, lr: 0.1, losses: [], training_run: null, bugs: {}, quiz: "", answers: {} };
const QUESTIONS = { shapes: "1. Output sizes", forward: "2. Forward pass", backward: "3. Backward pass" };

const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
};

const fmt = (v) => (Number.isInteger(v) ? String(v) : Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(1) : v.toFixed(3));

// The JSON layout's index of a full index: only the axes the JSON keeps.
function written(full, kept) {
  return full.slice(full.length - kept);
}

function colour(value, limit) {
  const t = Math.max(-1, Math.min(1, value / (limit || 1)));
  return t >= 0 ? `rgba(214, 96, 77, ${t.toFixed(3)})` : `rgba(67, 147, 195, ${(-t).toFixed(3)})`;
}

// A full-shape array as grids of cells (one per leading index), each cell a number with its data attributes.
function grids(array, quantity, kept, options = {}) {
  const [rows, cols] = array.shape.length >= 2 ? array.shape.slice(-2) : [1, array.shape[0] || 1];
  const per = rows * cols;
  const leading = array.data.length / per;
  const limit = Math.max(...Array.from(array.data, Math.abs));
  const box = el("div", { class: "maps" });
  for (let k = 0; k < leading; k++) {
    const table = el("table", { class: "grid" });
    if (leading > 1) table.append(el("caption", {}, `[${k}]`));
    for (let i = 0; i < rows; i++) {
      const tr = el("tr");
      for (let j = 0; j < cols; j++) {
        const flat = k * per + i * cols + j;
        const full = unravel(flat, array.shape);
        const index = written(full, kept).join(",");
        const value = array.data[flat];
        const attributes = {
          "data-quantity": quantity, "data-index": index, "data-full": full.join(","), "data-value": String(value),
          tabindex: "0", style: `background:${colour(value, limit)}`,
        };
        const cell = el("td", attributes);
        if (options.editable) {
          cell.append(editor(quantity, full, value));
        } else cell.append(fmt(value));
        tr.append(cell);
      }
      table.append(tr);
    }
    box.append(table);
  }
  return box;
}


// A number field for a parameter entry; a value that is not a finite number is refused beside the field.
function editor(quantity, full, value) {
  const input = el("input", { type: "text", inputmode: "decimal", value: String(+value.toFixed(6)), "aria-label": `${quantity}[${full.join(",")}]`, size: "6" });
  const message = el("span", { class: "error", role: "alert" });
  input.addEventListener("change", () => {
    const number = Number(input.value.trim());
    if (input.value.trim() === "" || !Number.isFinite(number)) {
      message.textContent = `not a number: ${input.value}; type a finite number`;
      input.setAttribute("aria-invalid", "true");
      return;
    }
    setEntry(quantity, full, number);
    render();
  });
  return el("span", { class: "edit" }, input, message);
}

function setEntry(quantity, full, number) {
  const shape = state.current.params[quantity]?.shape || state.current.values[quantity].shape;
  const array = toArray(state.given[quantity], shape.length);
  let offset = 0;
  for (let axis = 0; axis < full.length; axis++) offset = offset * array.shape[axis] + full[axis];
  array.data[offset] = number;
  state.given[quantity] = toNested(array, keepAxes(state.current.arch)[quantity]);
}

function panel(title, ...children) {
  return el("section", { class: "panel" }, el("h3", {}, title), ...children);
}

function classes() {
  return state.given.classes || ["cross", "rectangle"];
}

function render() {
  const current = pass(state.given);
  current.label = state.given.label;
  state.current = current;
  const keep = keepAxes(current.arch);
  const app = document.getElementById("app");
  const network = el("section", { class: "network", "aria-label": "the network, layer by layer" });
  const image = current.values.image;
  network.append(panel("image X (click or drag to draw)", drawable(grids(image, "image", keep.image))));
  for (const entry of current.arch) {
    const kind = kindOf(entry.layer);
    if (kind.reshapes) continue; // the same numbers as the map before it
    for (const key of Object.keys(entry.params)) {
      const shown = state.showGradients ? grids(current.grads[key], `backward.${key}`, keep[key]) : grids(current.params[key], key, keep[key], { editable: true });
      network.append(panel(state.showGradients ? `dL/d${key}` : key, shown));
    }
    if (kind.isOutput) continue; // shown below as the probabilities
    if (state.quiz && state.quiz === (state.showGradients ? "backward" : "forward")) {
      network.append(panel(`${entry.output}: in the quiz`));
      continue;
    }
    const array = state.showGradients ? current.grads[entry.output] : current.values[entry.output];
    const name = state.showGradients ? `backward.${entry.output}` : entry.output;
    network.append(panel(state.showGradients ? `dL/d${entry.output}` : entry.output, grids(array, name, keep[entry.output])));
  }
  const probabilities = current.values.output.data;
  const names = classes();
  const shownProbabilities = probabilities.length === 1 ? [1 - probabilities[0], probabilities[0]] : Array.from(probabilities);
  const output = panel(
    "output",
    el("table", { class: "probabilities" }, ...shownProbabilities.map((p, k) =>
      el("tr", {}, el("th", {}, `P(${names[k]})`), el("td", { "data-quantity": "probability", "data-index": String(k), "data-value": String(p), tabindex: "0" }, p.toFixed(4))))),
    el("p", {}, "loss = ", el("span", { "data-quantity": "loss", "data-index": "", "data-value": String(current.loss), id: "loss" }, current.loss.toFixed(6))),
  );
  network.append(output);
  if (!state.controls) {
    // Built once, so that a button stays where it is (and clickable) while everything below it is redrawn.
    state.controls = el(
      "section", { class: "controls" },
      el("button", { type: "button", id: "flip", onclick: flipLabel }),
      el("label", {}, el("input", { type: "checkbox", id: "gradients", onchange: (e) => { state.showGradients = e.target.checked; render(); } }), " show the backward pass (dL/d every value)"),
      el("label", {}, "lr ", el("input", { type: "text", id: "lr", value: String(state.lr), size: "5", onchange: setLr }), el("span", { class: "error", role: "alert", id: "lr-error" })),
      el("button", { type: "button", id: "step", onclick: sgdStep }, "One SGD step"),
      state.training ? el("button", { type: "button", id: "train", onclick: train }, "Train") : null,
      el("label", {}, "quiz ", el("select", { id: "quiz", onchange: (e) => { state.quiz = e.target.value; state.answers = {}; render(); } },
        el("option", { value: "" }, "off"), ...Object.entries(QUESTIONS).map(([part, text]) => el("option", { value: part }, text)))),
    );
    state.content = el("div");
    app.replaceChildren(el("h1", {}, "cnn-backprop explorer"), el("p", { class: "spec" }, `network: ${state.given.net || SEED_SPEC}`), state.controls, state.content);
  }
  state.controls.querySelector("#flip").textContent = `label: ${state.given.label} = ${names[state.given.label]} (change)`;
  const trainButton = state.controls.querySelector("#train");
  if (trainButton) trainButton.textContent = state.training_run ? "Stop" : "Train";
  const explanation = el("aside", { id: "arithmetic", "aria-live": "polite" }, el("h3", {}, "Where a number comes from"), el("pre", { id: "lines" }, "Hover over or focus any number."));
  state.content.replaceChildren(...[quiz(), el("div", { class: "layout" }, network, explanation), stepReport(), lossCurve(), mistakes()].filter(Boolean));
  app.querySelectorAll("td[data-full]").forEach((cell) => {
    cell.addEventListener("mouseenter", () => explainCell(cell));
    cell.addEventListener("focus", () => explainCell(cell));
  });
  window.cnnBackprop.state = current;
}

function explainCell(cell) {
  const quantity = cell.dataset.quantity;
  const full = cell.dataset.full.split(",").map(Number);
  const backward = quantity.startsWith("backward.");
  const name = backward ? quantity.slice("backward.".length) : quantity;
  const result = backward ? backwardArithmetic(state.current, name, full) : forwardArithmetic(state.current, name, full);
  document.getElementById("lines").textContent = result.lines.join("\n");
  document.querySelectorAll(".source").forEach((node) => node.classList.remove("source"));
  for (const [source, index] of result.sources) {
    document.querySelectorAll(`td[data-quantity="${source}"][data-full="${index.join(",")}"]`).forEach((node) => node.classList.add("source"));
  }
}

function drawable(box) {
  let drawing = false;
  const paint = (cell, toggle) => {
    const full = cell.dataset.full.split(",").map(Number);
    const value = Number(cell.dataset.value);
    setEntry("image", full, toggle ? (value > 0.5 ? 0 : 1) : 1);
  };
  box.addEventListener("mousedown", (event) => {
    const cell = event.target.closest("td");
    if (!cell) return;
    drawing = true;
    paint(cell, true);
  });
  box.addEventListener("mouseover", (event) => {
    const cell = event.target.closest("td");
    if (drawing && cell) paint(cell, false);
  });
  box.addEventListener("keydown", (event) => {
    const cell = event.target.closest("td");
    if (cell && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      paint(cell, true);
      render();
      document.querySelector(`td[data-quantity="image"][data-full="${cell.dataset.full}"]`)?.focus();
    }
  });
  window.addEventListener("mouseup", () => {
    if (drawing) {
      drawing = false;
      render();
    }
  }, { once: true });
  return box;
}

function flipLabel() {
  state.given.label = (state.given.label + 1) % classes().length;
  render();
}

function setLr(event) {
  const value = Number(event.target.value);
  const message = document.getElementById("lr-error");
  if (!(value > 0 && Number.isFinite(value))) {
    message.textContent = `not a positive number: ${event.target.value}`;
    return;
  }
  message.textContent = "";
  state.lr = value;
}

// w - lr * g for every parameter; remembers before and after to show.
function step(given, lr) {
  const current = pass(given);
  const keep = keepAxes(current.arch);
  const changes = [];
  for (const [key, array] of Object.entries(current.params)) {
    const grad = current.grads[key];
    const after = { shape: array.shape, data: array.data.map((w, i) => w - lr * grad.data[i]) };
    changes.push({ key, before: array, grad, after });
    given[key] = toNested(after, keep[key]);
  }
  return { changes, lossBefore: current.loss };
}

function sgdStep() {
  const { changes, lossBefore } = step(state.given, state.lr);
  state.lastStep = { changes, lossBefore };
  render();
}

function stepReport() {
  if (!state.lastStep) return null;
  const { changes, lossBefore } = state.lastStep;
  const rows = [];
  for (const { key, before, grad, after } of changes) {
    for (let i = 0; i < Math.min(before.data.length, 12); i++) {
      rows.push(el("tr", {}, el("td", {}, `${key}[${unravel(i, before.shape).join(",")}]`), el("td", {}, fmt(before.data[i])), el("td", {}, `- ${state.lr} * ${fmt(grad.data[i])}`), el("td", { "data-quantity": `step.${key}`, "data-index": String(i), "data-value": String(after.data[i]) }, fmt(after.data[i]))));
    }
  }
  return panel(
    `One SGD step: loss ${lossBefore.toFixed(6)} -> ${state.current.loss.toFixed(6)}`,
    el("table", { class: "step", id: "step-table" }, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "before"), el("th", {}, "- lr * gradient"), el("th", {}, "after")), ...rows),
  );
}

function train() {
  if (state.training_run) {
    cancelAnimationFrame(state.training_run);
    state.training_run = null;
    render();
    return;
  }
  const { images, labels } = state.training;
  let position = 0;
  const tick = () => {
    let total = 0;
    for (let k = 0; k < 16; k++, position = (position + 1) % images.length) {
      const example = { ...state.given, image: images[position], label: labels[position] };
      total += step(example, state.lr).lossBefore;
      for (const key of Object.keys(state.current.params)) state.given[key] = example[key];
    }
    state.losses.push(total / 16);
    render();
    state.training_run = requestAnimationFrame(tick);
  };
  state.training_run = requestAnimationFrame(tick);
}

function lossCurve() {
  if (!state.losses.length) return null;
  const width = 300, height = 100, top = Math.max(...state.losses) || 1;
  const points = state.losses.map((loss, i) => `${(i / Math.max(state.losses.length - 1, 1)) * width},${height - (loss / top) * height}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "curve");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `training loss, ${state.losses.length} points, last ${state.losses.at(-1).toFixed(4)}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points);
  svg.append(line);
  return panel(`training loss (mean of 16 images a point): ${state.losses.at(-1).toFixed(4)}`, svg);
}

// The seed notebook's mistakes, switched on: how far each kernel gradient lands from the chain rule's and
// from a finite difference of the loss.  Each kind with a part in them says what it is (its ``notebook``: a wrong
// backward ``bug``, ``notes`` to switch on, the ``gradient`` to compare); the panel shows on a network that has
// every one of those kinds, as the notebook's own has.
function mistakes() {
  const firsts = new Map(); // the first layer of each kind, in the order of the network
  for (const entry of state.current.arch) if (!firsts.has(entry.layer.kind)) firsts.set(entry.layer.kind, entry);
  if (!Object.entries(KINDS).every(([name, kind]) => !kind.notebook || firsts.has(name))) return null;
  const switches = [], notes = []; // the wrong backward rules first, then the notes, each in the network's order
  for (const [name, entry] of firsts) {
    const { bug, bugText } = kindOf(entry.layer).notebook || {};
    if (bug) switches.push({ id: name, text: bugText, bug });
    for (const note of kindOf(entry.layer).notebook?.notes || []) notes.push({ ...note, entry });
  }
  switches.push(...notes);
  const boxes = switches.map(({ id, text }) =>
    el("label", { class: "bug" }, el("input", { type: "checkbox", id: `bug-${id}`, ...(state.bugs[id] ? { checked: "" } : {}), onchange: (e) => { state.bugs[id] = e.target.checked; render(); } }), ` ${text}`));
  const children = [el("p", {}, ...boxes)];
  for (const { id, note, entry } of switches) if (note && state.bugs[id]) children.push(el("p", { class: "error", id: `${id}-note` }, note(entry, state.current)));
  const backward = {};
  for (const { id, bug } of switches) if (bug && state.bugs[id]) backward[id] = bug;
  if (!Object.keys(backward).length) return panel("The notebook's mistakes", ...children);
  const bugged = pass(state.given, { backward });
  const compared = [...firsts.values()].find((entry) => kindOf(entry.layer).notebook?.gradient);
  const { gradient } = kindOf(compared.layer).notebook, key = `${compared.name}_${gradient}`;
  const truth = state.current.grads[key], wrong = bugged.grads[key], numeric = finiteDifference(key);
  const rows = Array.from(truth.data, (t, i) => el("tr", {},
    el("td", {}, `[${unravel(i, truth.shape).slice(-2).join(",")}]`),
    el("td", { "data-quantity": `bugged.${key}`, "data-index": String(i), "data-value": String(wrong.data[i]) }, fmt(wrong.data[i])),
    el("td", {}, fmt(t)), el("td", {}, fmt(numeric[i])), el("td", {}, fmt(wrong.data[i] - t))));
  children.push(el("table", { class: "step", id: "bug-table" }, el("tr", {}, ...[`dL/d${gradient}`, "with the bug", "chain rule", "finite difference", "bug - truth"].map((h) => el("th", {}, h))), ...rows));
  return panel("The notebook's mistakes", ...children);
}

// Central differences of the loss with respect to each entry of a parameter (h = 1e-5).
function finiteDifference(key) {
  const h = 1e-5;
  const base = state.current.params[key];
  return Array.from(base.data, (_, i) => {
    const loss = (delta) => {
      const data = Float64Array.from(base.data);
      data[i] += delta;
      return pass(state.given, { params: { ...state.current.params, [key]: { shape: base.shape, data } } }).loss;
    };
    return (loss(h) - loss(-h)) / (2 * h);
  });
}

// The quiz: one question's numbers blank, typed by the student, each marked as `cnn-backprop check` marks it.
function quiz() {
  if (!state.quiz) return null;
  const result = run(state.given);
  const asked = quantities(result).filter(([part]) => part === state.quiz);
  const typed = Object.fromEntries(Object.entries(state.answers));
  const entries = Object.keys(typed).length ? mark(keyOf(state.given, result), typed) : [];
  const verdicts = Object.fromEntries(entries.map((e) => [`${e.quantity}[${e.index.join(",")}]`, e]));
  const grids = asked.map(([part, name]) => {
    const quantity = `${part}.${name}`;
    const expected = result[part][name];
    const shape = [];
    for (let item = expected; Array.isArray(item); item = item[0]) shape.push(item.length);
    const count = shape.reduce((a, b) => a * b, 1);
    const cols = shape.length ? shape.at(-1) : 1;
    const table = el("table", { class: "grid quiz" });
    let row = null;
    for (let k = 0; k < count; k++) {
      if (k % cols === 0) table.append((row = el("tr")));
      const index = unravel(k, shape.length ? shape : [1]).slice(0, shape.length);
      const id = `${quantity}[${index.join(",")}]`;
      const entry = verdicts[id];
      const current = entry?.answer;
      const input = el("input", { type: "text", size: "6", "aria-label": id, value: current === null || current === undefined ? "" : String(current), "data-quantity": `quiz.${quantity}`, "data-index": index.join(",") });
      input.addEventListener("change", () => answer(quantity, shape, index, input));
      const cell = el("td", { class: entry ? `verdict-${entry.verdict}` : "", "data-verdict": entry ? entry.verdict : "", title: entry?.mistake ? state.mistakes[entry.mistake] : "" }, input);
      row.append(cell);
    }
    return el("div", {}, el("h3", {}, part === "backward" ? `dL/d${name}` : name), table);
  });
  const wrong = entries.filter((e) => e.mistake);
  const named = [...new Set(wrong.map((e) => e.mistake))].map((m) => el("li", { "data-mistake": m }, el("b", {}, m), `: ${state.mistakes[m]}`));
  const carried = entries.some((e) => e.verdict === "carried") ? el("li", {}, "carried: wrong only because an earlier answer was; computed correctly from your own values, so it earns its mark") : null;
  const score = entries.filter((e) => e.verdict === "right" || e.verdict === "carried").length;
  return panel(
    `Quiz: ${QUESTIONS[state.quiz]} (answers to 4 decimals)`,
    el("div", { class: "maps" }, ...grids),
    el("p", { id: "quiz-score" }, entries.length ? `${score} of ${entries.length} answered right (carried ones count)` : "Type your answers; each is marked as you go."),
    el("ul", { id: "quiz-mistakes" }, ...named, carried),
  );
}

function answer(quantity, shape, index, input) {
  const text = input.value.trim();
  const number = Number(text);
  if (text !== "" && !Number.isFinite(number)) {
    input.setAttribute("aria-invalid", "true");
    input.after(el("span", { class: "error", role: "alert" }, `not a number: ${text}`));
    return;
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const flat = state.answers[quantity] ? [state.answers[quantity]].flat(Infinity) : Array(count).fill(null);
  let offset = 0;
  for (let axis = 0; axis < shape.length; axis++) offset = offset * shape[axis] + index[axis];
  flat[offset] = text === "" ? null : number;
  state.answers[quantity] = nest(flat, shape);
  render();
}

function nest(flat, shape) {
  if (!shape.length) return flat[0];
  const step = flat.length / shape[0];
  return shape.length === 1 ? flat : Array.from({ length: shape[0] }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
}

export function start({ given, training, mistakes }) {
  state.given = given;
  state.training = training;
  state.mistakes = mistakes;
  window.cnnBackprop = { run, pass, kinds: KINDS, mark: (given, answers, decimals) => mark(keyOf(given, run(given)), answers, decimals), state: null };
  render();
}
