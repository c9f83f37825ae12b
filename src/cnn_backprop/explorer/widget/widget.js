// The explorer as a notebook widget (anywidget): the page's own modules, drawn in the output cell and kept in step
// with Python's ``widget.given``.  page.widget_module() puts MODULES ([name, source] in import order) above this.
// A notebook has no import map for the names the modules import each other by ("cnn-backprop/engine.js"), so each
// module is loaded from a blob: URL, its imports rewritten to the URLs of the modules made before it.

const SEND_EVERY = 200; // ms: training changes the instance 60 times a second; Python hears of it at most this often

const urls = {};
for (const [name, source] of MODULES) {
  const linked = source.replace(/(from\s*)"cnn-backprop\/([^"]+)"/g, (found, from, dep) => (dep in urls ? from + JSON.stringify(urls[dep]) : found));
  urls[name] = URL.createObjectURL(new Blob([linked], { type: "text/javascript" }));
}
const { start } = await import(urls["page.js"]);
const { toArray, toNested } = await import(urls["arrays.js"]);

// On the wire, a big array is {float64: its bytes, shape} (widget.py packs it so; exact, and a third of its JSON).
function fromWire(given) {
  const entry = (value) => {
    if (!value?.float64) return structuredClone(value);
    const bytes = value.float64; // a DataView, maybe at an offset no Float64Array may start at
    const data = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    return toNested({ shape: value.shape, data }, value.shape.length);
  };
  return Object.fromEntries(Object.entries(given).map(([key, value]) => [key, entry(value)]));
}

function toWire(given, packed) {
  const entry = (key, value) => {
    if (!packed.has(key)) return structuredClone(value);
    const { shape, data } = toArray(value, 0);
    return { float64: data, shape };
  };
  return Object.fromEntries(Object.entries(given).map(([key, value]) => [key, entry(key, value)]));
}

function render({ model, el }) {
  const root = document.createElement("main");
  root.className = "cnn-backprop";
  // Keys typed in the explorer are its own: JupyterLab's notebook shortcuts (Enter, a, b, d d...) stay out of it.
  root.setAttribute("data-lm-suppress-shortcuts", "true");
  // In JupyterLab's output area Chromium fires no change event when Enter is pressed in a typed field (seen in the
  // tests; a field outside the explorer does get one): leaving and re-entering the field commits it, once.
  root.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target.tagName !== "INPUT") return;
    event.target.blur();
    event.target.focus();
  });
  el.append(root);
  const packed = new Set(Object.entries(model.get("given")).filter(([, v]) => v?.float64).map(([key]) => key));
  let timer = 0;
  let quiet = false; // while the page takes a given from Python, or the model one from the page
  const send = () => {
    timer = 0;
    quiet = true;
    try {
      model.set("given", toWire(explorer.given, packed));
    } finally {
      quiet = false;
    }
    model.save_changes();
  };
  const changed = () => {
    if (!quiet && !timer) timer = setTimeout(send, SEND_EVERY);
  };
  const explorer = start({ ...model.get("_start"), given: fromWire(model.get("given")) }, root, changed);
  // A given set in Python is shown in place, and not sent back.
  const show = () => {
    if (quiet) return;
    clearTimeout(timer);
    timer = 0;
    quiet = true;
    try {
      explorer.setGiven(fromWire(model.get("given")));
    } finally {
      quiet = false;
    }
  };
  model.on("change:given", show);
  return () => {
    clearTimeout(timer);
    model.off("change:given", show);
  };
}

export default { render };
