// The seed notebook's mistakes, switched on: how far each kernel gradient lands from the chain rule's and from a
// finite difference of the loss.  Each kind with a part in them says what it is (its ``notebook``: a wrong backward
// ``bug``, ``notes`` to switch on, the ``gradient`` to compare); the panel shows on a network that has every one of
// those kinds, as the notebook's own has.

import { unravel } from "cnn-backprop/arrays.js";
import { KINDS, kindOf, pass } from "cnn-backprop/engine.js";
import { el, fmt } from "cnn-backprop/flow.js";

// The panel for ``app`` (an Explorer), or null where the network lacks a kind the notebook's mistakes need.
export function notebookMistakes(app) {
  const firsts = new Map(); // the first layer of each kind, in the order of the network
  for (const entry of app.arch) if (!firsts.has(entry.layer.kind)) firsts.set(entry.layer.kind, entry);
  if (!Object.entries(KINDS).every(([name, kind]) => !kind.notebook || firsts.has(name))) return null;
  const switches = [], notes = []; // the wrong backward rules first, then the notes, each in the network's order
  for (const [name, entry] of firsts) {
    const { bug, bugText } = kindOf(entry.layer).notebook || {};
    if (bug) switches.push({ id: name, text: bugText, bug });
    for (const note of kindOf(entry.layer).notebook?.notes || []) notes.push({ ...note, entry });
  }
  switches.push(...notes);
  const on = {};
  const body = el("div");
  const boxes = switches.map(({ id, text }) =>
    el("label", { class: "bug" }, el("input", { type: "checkbox", id: `bug-${id}`, onchange: (e) => { on[id] = e.target.checked; update(); } }), ` ${text}`));
  const node = el("section", { class: "panel", "aria-label": "the notebook's mistakes" }, el("h3", {}, "The notebook's mistakes"), el("p", {}, ...boxes), body);
  const compared = [...firsts.values()].find((entry) => kindOf(entry.layer).notebook?.gradient);
  const key = `${compared.name}_${kindOf(compared.layer).notebook.gradient}`;

  function update() {
    const children = [];
    for (const { id, note, entry } of switches) if (note && on[id]) children.push(el("p", { class: "error", id: `${id}-note` }, note(entry, app.current)));
    const backward = {};
    for (const { id, bug } of switches) if (bug && on[id]) backward[id] = bug;
    if (Object.keys(backward).length && !app.quiz.hides().has("bugged")) {
      const truth = app.current.grads[key], wrong = pass(app.given, { backward }).grads[key], numeric = finiteDifference(app, key);
      const rows = Array.from(truth.data, (t, i) => el("tr", {},
        el("td", {}, `[${unravel(i, truth.shape).slice(-2).join(",")}]`),
        el("td", { "data-quantity": `bugged.${key}`, "data-index": String(i), "data-value": String(wrong.data[i]) }, fmt(wrong.data[i])),
        el("td", {}, fmt(t)), el("td", {}, fmt(numeric[i])), el("td", {}, fmt(wrong.data[i] - t))));
      const head = [`dL/d${key}`, "with the bug", "chain rule", "finite difference", "bug - truth"].map((h) => el("th", { scope: "col" }, h));
      children.push(el("table", { class: "step", id: "bug-table" }, el("tr", {}, ...head), ...rows));
    }
    body.replaceChildren(...children);
  }
  return { node, update };
}

// Central differences of the loss with respect to each entry of a parameter (h = 1e-5).
function finiteDifference(app, key) {
  const h = 1e-5, base = app.current.params[key];
  return Array.from(base.data, (_, i) => {
    const loss = (delta) => {
      const data = Float64Array.from(base.data);
      data[i] += delta;
      return pass(app.given, { params: { ...app.current.params, [key]: { shape: base.shape, data } } }).loss;
    };
    return (loss(h) - loss(-h)) / (2 * h);
  });
}
