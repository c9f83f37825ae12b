// Gradient descent on the page: one SGD step shown entry by entry (every entry, a page of rows at a time), and
// training on the page's data set in a Web Worker (on another core; Stop ends it at once), or where there is none
// in slices of SLICE_MS so that the page answers between them; either way shown every SHOW_MS.

import { squeezed, toNested, unravel } from "cnn-backprop/arrays.js";
import { keepAxes, pass } from "cnn-backprop/engine.js";
import { el } from "cnn-backprop/flow.js";

const SLICE_MS = 12;
const SHOW_MS = 250; // while training, the page shows the network this often: a redraw costs more than an image
const ROWS = 20; // rows of the step table on one page
const POINT = 16; // images a point of the loss curve averages

// SGD on job's images, one at a time from job.position, for ``ms``: job.params change in place; returns the images
// seen and the loss points completed.  A worker runs it, or the page between its frames.
export function descend(job, ms) {
  const until = performance.now() + ms, losses = [];
  let seen = 0;
  while (performance.now() < until) {
    const k = job.position;
    const result = pass({ ...job.given, image: job.images[k], label: job.labels[k] }, { arch: job.arch, params: job.params });
    for (const [key, array] of Object.entries(job.params)) {
      const grad = result.grads[key].data, data = array.data;
      for (let i = 0; i < data.length; i++) data[i] -= job.lr * grad[i];
    }
    job.total += result.loss;
    if (++job.count === POINT) {
      losses.push(job.total / POINT);
      job.total = job.count = 0;
    }
    job.position = (k + 1) % job.images.length;
    seen += 1;
  }
  return { seen, losses };
}

// A module worker that trains: this module and what it imports as data: URLs, each import rewritten to its URL (a
// worker has no import map; and a page from file:// may not start a worker from a blob:); null where the page has
// no import map (in a notebook widget).
function workerURL() {
  const map = document.querySelector('script[type="importmap"]');
  if (!map || !window.Worker) return null;
  const imports = JSON.parse(map.textContent).imports, urls = {};
  const load = (name) => {
    if (!urls[name]) {
      const text = decodeURIComponent(imports[name].slice(imports[name].indexOf(",") + 1));
      const linked = text.replace(/(from\s*)"(cnn-backprop\/[^"]+)"/g, (_, from, dependency) => from + JSON.stringify(load(dependency)));
      urls[name] = `data:text/javascript,${encodeURIComponent(linked)}`;
    }
    return urls[name];
  };
  // a line an element, not one template over four lines: page.compact can then strip this module (3 KB of the page)
  const source = [
    `import { descend } from ${JSON.stringify(load("cnn-backprop/train.js"))};`,
    "let job = null;",
    `const work = () => { postMessage({ params: job.params, ...descend(job, ${SHOW_MS}) }); setTimeout(work, 0); };`,
    "onmessage = ({ data }) => { job = data; work(); };",
  ].join("\n");
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

export class Trainer {
  constructor(app) {
    this.app = app;
    this.lr = 0.1;
    this.losses = [];
    this.seen = 0;
    this.page = 0;
    this.running = false;
    this.report = el("div", { id: "step-report" });
    this.curve = el("div", { id: "curve" });
    this.node = el("section", { class: "panel training", "aria-label": "gradient descent" }, this.report, this.curve);
    // The worker's modules, linked while the page is idle, so that Train starts at once.
    if (app.training) (window.requestIdleCallback || setTimeout)(() => (this.url ??= workerURL()));
  }

  controls() {
    const lr = el("input", { type: "text", id: "lr", value: String(this.lr), size: "5", inputmode: "decimal" });
    lr.addEventListener("change", () => {
      const value = Number(lr.value.trim());
      if (!(value > 0 && Number.isFinite(value))) {
        lr.setAttribute("aria-invalid", "true");
        this.app.say(`lr: not a positive number: "${lr.value}"`);
        return;
      }
      lr.removeAttribute("aria-invalid");
      this.app.say("");
      this.lr = value;
    });
    this.stepButton = el("button", { type: "button", id: "step", onclick: () => this.step() }, "One SGD step");
    this.trainButton = this.app.training ? el("button", { type: "button", id: "train", onclick: () => this.toggle() }, "Train") : null;
    return [el("label", {}, "lr ", lr), this.stepButton, this.trainButton];
  }

  // w - lr * dL/dw for every parameter, every entry kept to show.
  step() {
    const app = this.app, current = pass(app.given);
    const keep = keepAxes(app.arch);
    this.changes = [];
    for (const [key, array] of Object.entries(current.params)) {
      const grad = current.grads[key];
      const after = { shape: array.shape, data: array.data.map((w, i) => w - this.lr * grad.data[i]) };
      this.changes.push({ key, before: array, grad, after, rank: squeezed(array.shape, keep[key]).length });
      app.given[key] = toNested(after, keep[key]);
    }
    this.lossBefore = current.loss;
    this.stepLr = this.lr;
    this.page = 0;
    app.update();
  }

  toggle() {
    if (this.running) {
      this.running = false;
      this.worker?.terminate(); // at once: the page keeps the parameters the worker last sent
      this.worker = null;
      this.app.update();
      return;
    }
    this.running = true;
    const app = this.app, keep = keepAxes(app.arch);
    const params = Object.fromEntries(Object.entries(app.current.params).map(([k, a]) => [k, { shape: a.shape, data: Float64Array.from(a.data) }]));
    // The given without its parameters (the job's own, as flat arrays, are what it trains): quick to send.
    const given = Object.fromEntries(Object.entries(app.given).filter(([key]) => !(key in params)));
    const job = { given, arch: app.arch, params, ...app.training, lr: this.lr, position: 0, total: 0, count: 0 };
    const show = ({ params: trained, losses, seen }) => {
      for (const [key, array] of Object.entries(trained)) app.given[key] = toNested(array, keep[key]);
      this.losses.push(...losses);
      this.seen += seen;
      app.schedule();
    };
    const url = (this.url ??= workerURL());
    if (url) {
      // On another core: the page only shows what it sends, every SHOW_MS.
      this.worker = new Worker(url, { type: "module" });
      this.worker.onmessage = ({ data }) => this.running && show(data);
      this.worker.postMessage(job);
    } else {
      // In slices of the page's own time (a notebook's page has no import map to start a worker from).
      let done = { seen: 0, losses: [] }, shown = performance.now();
      const slice = () => {
        if (!this.running) return;
        const step = descend(job, SLICE_MS);
        done = { seen: done.seen + step.seen, losses: [...done.losses, ...step.losses] };
        if (performance.now() - shown > SHOW_MS) {
          show({ params, ...done });
          done = { seen: 0, losses: [] };
          shown = performance.now();
        }
        setTimeout(slice, 0);
      };
      setTimeout(slice, 0);
    }
    app.update();
  }

  update() {
    if (this.trainButton) this.trainButton.textContent = this.running ? "Stop" : "Train";
    const hidden = this.app.quiz.hides();
    this.stepButton.disabled = hidden.size > 0; // a step would show the gradients, or change the quiz's instance
    this.drawReport(hidden.size > 0);
    this.drawCurve();
  }

  // The last step, a page of ROWS entries at a time, to full precision.
  drawReport(hide) {
    if (!this.changes || hide) return this.report.replaceChildren();
    const rows = [];
    for (const { key, before, grad, after, rank } of this.changes)
      for (let i = 0; i < before.data.length; i++) rows.push({ key, i, before, grad, after, rank });
    const pages = Math.ceil(rows.length / ROWS);
    this.page = Math.max(0, Math.min(pages - 1, this.page));
    const shown = rows.slice(this.page * ROWS, (this.page + 1) * ROWS).map(({ key, i, before, grad, after, rank }) => {
      const index = unravel(i, before.shape).slice(before.shape.length - rank).join(",");
      return el("tr", {}, el("th", { scope: "row" }, `${key}[${index}]`), el("td", {}, String(before.data[i])),
        el("td", {}, String(grad.data[i])), el("td", {}, String(after.data[i] - before.data[i])),
        el("td", { "data-quantity": `step.${key}`, "data-index": index, "data-value": String(after.data[i]) }, String(after.data[i])));
    });
    const turn = (by) => () => {
      this.page += by;
      this.drawReport(false);
    };
    this.report.replaceChildren(
      el("h3", {}, `One SGD step (lr ${this.stepLr}): loss ${this.lossBefore} -> ${this.app.current.loss}`),
      el("div", { class: "scroll" }, el("table", { class: "step", id: "step-table" },
        el("tr", {}, ...["entry", "w before", "dL/dw", "-lr * dL/dw", "w after"].map((h) => el("th", { scope: "col" }, h))), ...shown)),
      el("p", { class: "pager" },
        el("button", { type: "button", id: "step-previous", onclick: turn(-1), ...(this.page ? {} : { disabled: "" }) }, "previous"),
        ` entries ${this.page * ROWS + 1}-${Math.min(rows.length, (this.page + 1) * ROWS)} of ${rows.length} `,
        el("button", { type: "button", id: "step-next", onclick: turn(1), ...(this.page < pages - 1 ? {} : { disabled: "" }) }, "next")),
    );
  }

  // The training loss: a point per POINT images, with its axes.
  drawCurve() {
    if (!this.losses.length) return this.curve.replaceChildren();
    const W = 320, H = 150, left = 44, bottom = 30, top = Math.max(...this.losses) || 1, n = this.losses.length;
    const x = (i) => left + (i / Math.max(n - 1, 1)) * (W - left - 8), y = (v) => 8 + (1 - v / top) * (H - bottom - 8);
    const points = this.losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const last = this.losses.at(-1);
    this.curve.innerHTML =
      `<h3>training loss: ${last.toFixed(4)} after ${this.seen} images</h3>` +
      `<svg class="curve" viewBox="0 0 ${W} ${H}" role="img" aria-label="training loss, ${n} points of ${POINT} images each, last ${last.toFixed(4)}">` +
      `<line x1="${left}" y1="8" x2="${left}" y2="${H - bottom}"/><line x1="${left}" y1="${H - bottom}" x2="${W - 8}" y2="${H - bottom}"/>` +
      `<text x="${left - 4}" y="12" text-anchor="end">${top.toFixed(2)}</text><text x="${left - 4}" y="${H - bottom}" text-anchor="end">0</text>` +
      `<text x="${left}" y="${H - bottom + 14}">0</text><text x="${W - 8}" y="${H - bottom + 14}" text-anchor="end">${n * POINT}</text>` +
      `<text x="${(left + W) / 2}" y="${H - 4}" text-anchor="middle">images seen</text>` +
      `<text x="12" y="${(H - bottom) / 2}" text-anchor="middle" transform="rotate(-90 12 ${(H - bottom) / 2})">loss</text>` +
      `<polyline points="${points}"/></svg>`;
  }
}
