// flatten: a (C, H, W) map as one vector of C * H * W, row-major.  Put in before the first layer that reads a
// vector when the spec leaves it out.  Named after the dense layer it feeds (fc_input), as is its output; it only
// reshapes, so the JSON asks its length in "shapes" but leaves its numbers (the map's own) out of forward and backward.

import { size } from "cnn-backprop/arrays.js";
import { kind } from "cnn-backprop/contract.js";

export default kind({
  name: "flatten",
  reads: "map",
  gives: "vector",
  reshapes: true,
  names: (own, previous, following) => [`${following}_input`, `${following}_input`],
  shapes: (layer, inShape) => ({ out: [size(inShape)] }),

  build() {
    let shape;
    return {
      params: {},
      forward(input) {
        shape = input.shape;
        return { shape: [size(shape)], data: input.data };
      },
      backward(grad) {
        return { shape, data: grad.data };
      },
    };
  },
});
