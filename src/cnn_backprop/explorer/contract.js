// The contract of a layer kind on the page: every field a module in kinds/ may set, with the default most kinds keep.
// A kind is everything the page knows about it; engine, explain, quiz and page ask it (KINDS[layer.kind]) and never
// compare its name.  page.py inlines every kinds/NAME.js and a module "cnn-backprop/kinds.js" that registers them
// all (see registry below), so adding a kind is adding one file.  The Python side's contract is kinds/_kind.py.
//
// The pieces the methods take: ``layer`` is a spec item ({kind, ...its options}); ``entry`` a layer placed in an
// architecture ({layer, name, output, input, inShape, outShape, params: {full name: shape}}); ``state`` a pass
// ({arch, values, grads, params, extras, label}: full-shape {shape, data} arrays by name); ``key`` a pass the quiz
// marks against (a state, plus ``single(entry, changes)``: one of its layers built again, options changed).

import { fmt } from "cnn-backprop/arrays.js";

// dL/dz in the squared error's form, which any output kind can host: {mistake id: array}.
export const squaredError = ({ shape, data }, target) => ({
  "squared-error-gradient": { shape, data: data.map((v, k) => (v - target[k]) * v * (1 - v)) },
});

const DEFAULTS = {
  name: "", // the kind's name, the file's, and the word in a spec unless ``word`` says another
  word: "", // the word in a spec where two kinds share one (sigmoid: the output last, an activation elsewhere)
  order: 0, // where KINDS lists it (ties: by name)
  base: null, // the base of a numbered layer name (conv, pool, fc: conv1, conv2 where there are two); null: none
  activation: false, // elementwise, named after the layer it follows (conv_relu)
  isOutput: false, // the output and its loss, last: build gives forward(z), loss(label) and backward(label)
  reads: "any", // "map" (C, H, W), "vector" (D), or "any": a flatten is put in before the first layer that reads a vector
  gives: "same", // "map", "vector", or "same" as it reads
  hyperKeys: [], // the options a given may set, as NAME_KEY (conv_stride)
  paramKeys: [], // its parameter keys, in order; full names are NAME_KEY (conv_kernel)
  keep: {}, // {parameter key: trailing axes the one-image JSON layout always keeps}
  torchKeys: {}, // {parameter key: the PyTorch state_dict suffix}
  sizedAnswer: false, // its output's size is an answer to question 1 (the JSON's "shapes", under its name)
  slides: false, // a window slides over a map (conv, pooling): the page's step-through offers it
  modal: false, // computes otherwise in evaluation mode (a given's mode "eval", PyTorch's model.eval()) than in training
  givenBuffers: [], // what an evaluation-mode given holds for it besides parameters, as NAME_KEY (bn_running_mean)
  givenDraws: [], // what it draws at random in training mode, which a training-mode given holds (a dropout's mask)
  joins: false, // ends a block written WORD(LAYERS) (a residual add): reads the block's last output and its input, or
  // its shortcut(inShape, outShape) layer's output, which a spec implies where the block changes the shape; and
  // branchMistakes(total, shortcut) {mistake id: dL/d(the block's input)} from its gradient and the shortcut's part
  reshapes: false, // only reshapes (flatten): its output is not in the JSON's forward and backward but its length
  // is in "shapes" (under the output's name), it is not drawn, and explain and the quiz read its input instead
  // Its part in the page's panel of the seed notebook's mistakes, shown where every kind with a part is in the
  // network: {bug(layer, grad): the notebook's wrong backward, bugText: its switch; notes: [{id, text,
  // note(entry, state): a paragraph}], more switches; gradient: the parameter key whose gradient the panel compares}.
  notebook: null,

  // {option: value} from the words after the kind's name; option(word, fallback) reads a "word value" pair.
  parse: () => ({}),
  // [layer name, output name]: own is its numbered name, previous the name of the layer before, following the
  // numbered name of the next layer that has one.  The output kind's is output.
  names(own, previous) {
    if (this.isOutput) return ["output", "output"];
    if (this.activation) return [`${previous}_${this.word || this.name}`, `${previous}_${this.word || this.name}`];
    return [own, `${own}_pre`];
  },
  // The options a given's arrays set: read(key, ndim) is the given NAME_KEY with ndim axes, or undefined.
  sizesFrom: () => ({}),
  // {out: output shape, params: {parameter key: shape}} for an input of inShape.
  shapes: (layer, inShape) => ({ out: inShape, params: {} }),
  // The layer of one image: forward(x) keeps what backward needs, backward(grad) gives dL/dx and sets
  // grads {parameter key: gradient}; params {parameter key: array}.
  build() {
    throw new Error(`kind ${this.name} has no layer`);
  },
  // What its forward finds besides its output: properties of the built layer, in the JSON's forward as NAME_KEY
  // right after its output (a {shape, data} array of more than two axes as one row per output value, as
  // walkthrough writes it; a list of rows as it is); not asked in the quiz.
  extras: [],

  // explain.js: {lines, sources: [[quantity, full index]]} for one number.  Each gets {state, entry, quantity,
  // index, value}; valueArithmetic also x (its input); the other two up (dL/d its output), and the parameter's key.
  valueArithmetic: ({ quantity, value }) => ({ lines: [`${quantity} = ${fmt(value)}`], sources: [] }),
  // dL/d(what it reads)[index], as the chain rule sums it.
  inputGradientArithmetic: ({ quantity, value }) => ({ lines: [`dL/d${quantity} = ${fmt(value)}`], sources: [] }),
  paramGradientArithmetic: ({ quantity, value }) => ({ lines: [`dL/d${quantity} = ${fmt(value)}`], sources: [] }),

  // quiz.js, as check.py marks: each gives {mistake id: the full-shape array that mistake makes}.
  // Its output from its input: {key, entry, x, right, rerun(changes): forward on x with options changed}.
  forwardMistakes: () => ({}),
  // dL/d(its input): {key, entry, layer (after forward(x)), x, grad (dL/d its output), shape, right, strideOne()
  // ({dx, grads} of its backward as if its stride were 1: the stride-ignored mistake)}.
  backwardMistakes: () => ({}),
  // dL/d(one of its parameters): {key, entry, param (its key), grad (the right one), strideOne()}.
  paramMistakes: () => ({}),
  // Its output's size: {mistake id: its output shape (C, H, W)}.
  shapeMistakes: () => ({}),
  // What an activation or the output makes of value (full shape): the answer of a student who gave it for the value
  // before; null for other kinds.
  postActivation(layer, value) {
    return this.activation || this.isOutput ? this.build(layer, {}).forward(value) : null;
  },
  // An output kind's: what its output would be if it were sure and right, so that dL/dz = output - target (a list).
  target: () => [],
  // An output kind's mistakes in dL/dz: {mistake id: array}, from its output ({shape, data}) and the target: every
  // output kind's squared-error form, the output's own derivative left in (cross-entropy cancels it), and its own.
  logitMistakes: (output, target) => squaredError(output, target),
};

// A kind: its fields over the defaults.
export function kind(fields) {
  return Object.freeze({ ...DEFAULTS, ...fields });
}

// {name: kind} of [[file name, kind]], ordered by order (then by name); a kind is named as its file.
export function registry(entries) {
  for (const [file, found] of entries) {
    if (found.name !== file) throw new Error(`kinds/${file}.js defines the kind ${JSON.stringify(found.name)}`);
  }
  const sorted = entries.slice().sort(([a, x], [b, y]) => x.order - y.order || (a < b ? -1 : 1));
  return Object.freeze(Object.fromEntries(sorted));
}
