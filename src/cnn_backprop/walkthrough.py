"""The seed's exercise: one forward and one backward pass for one image, every number kept.

An exercise instance, the *given*, is a dict with the keys of ``GIVEN_KEYS``.
``complete_given`` fills in whatever a user left out, drawing it from a seed as
the notebook draws it; ``run`` answers the three questions (output sizes,
values before each activation, gradients) and returns them in the layout that
``cnn-backprop walkthrough --json`` prints.
"""

import json
import re

import numpy as np

from . import data, validate
from .network import Architecture, Network, init_params
from .validate import InputError

GIVEN_KEYS = (
    "image",
    "label",
    "conv_kernel",
    "conv_bias",
    "conv_stride",
    "conv_padding",
    "pool_size",
    "pool_stride",
    "fc_weights",
    "fc_bias",
)
ARCH_KEYS = ("conv_stride", "conv_padding", "pool_size", "pool_stride")
DEFAULTS = {"conv_stride": 1, "conv_padding": 0, "pool_size": 2, "pool_stride": 1}


def check_given(given, where="the given values"):
    """Validate a (partial) given dict; returns it with numbers as Python/NumPy values."""
    if not isinstance(given, dict):
        raise InputError(f"{where} must be a JSON object with keys from {', '.join(GIVEN_KEYS)}")
    for key in given:
        if key not in GIVEN_KEYS:
            raise InputError(
                f"{where}: unknown key {json.dumps(key)}{validate.nearest(key, GIVEN_KEYS)}; "
                f"valid keys: {', '.join(GIVEN_KEYS)}"
            )
    checked = {}
    for key, value in given.items():
        at = f"{where}: {key}"
        if key == "image":
            checked[key] = validate.number_array(value, at, 2, square=True)
        elif key == "conv_kernel":
            checked[key] = validate.number_array(value, at, 2, square=True)
        elif key == "fc_weights":
            checked[key] = validate.number_array(value, at, 1)
        elif key == "label":
            checked[key] = validate.label(value, at)
        elif key in ("conv_bias", "fc_bias"):
            checked[key] = validate.number(value, at)
        else:
            checked[key] = validate.integer(value, at, 0 if key == "conv_padding" else 1)
    return checked


def complete_given(given=None, seed=0, where="the given values"):
    """A full exercise instance: the keys of ``given``, the rest drawn from ``seed``.

    Defaults are the seed notebook's: a generated 5x5 image, a 3x3 kernel
    ~ U(0, 1), conv bias 1, stride 1, padding 0, 2x2 pooling at stride 1, FC
    weights ~ U(0, 1), FC bias 0.  Raises ``InputError`` if the parts do not fit.
    """
    given = check_given(given or {}, where)
    data_rng, param_rng = data.random_streams(seed)
    labels = [given["label"]] if "label" in given else None
    images, drawn_labels = data.generate(1, data_rng, labels)
    image = given.get("image", images[0, 0])
    kernel = given.get("conv_kernel")
    arch = Architecture(
        image_size=len(image),
        kernel_size=Architecture.kernel_size if kernel is None else len(kernel),
        **{key: given.get(key, DEFAULTS[key]) for key in ARCH_KEYS},
    )
    validate.architecture(arch, where)
    params = init_params(arch, param_rng)
    full = {
        "image": np.asarray(image, dtype=float),
        "label": int(drawn_labels[0]),
        "conv_kernel": params["conv_kernel"][0, 0] if kernel is None else kernel,
        "conv_bias": float(params["conv_bias"][0]),
        **{key: getattr(arch, key) for key in ARCH_KEYS},
        "fc_weights": params["fc_weights"][0],
        "fc_bias": float(params["fc_bias"][0]),
    }
    full.update({key: value for key, value in given.items() if key not in ARCH_KEYS})
    validate.fc_weights_length(arch, len(full["fc_weights"]), where)
    return full


def architecture_of(given):
    """The network.Architecture a complete given describes (one channel, one filter)."""
    return Architecture(
        image_size=len(given["image"]), kernel_size=len(given["conv_kernel"]), **{key: given[key] for key in ARCH_KEYS}
    )


def network_for(given):
    """(Network, image (1, 1, H, W), labels (1,)) for a complete given."""
    params = {
        "conv_kernel": np.asarray(given["conv_kernel"], dtype=float)[None, None],
        "conv_bias": np.array([given["conv_bias"]], dtype=float),
        "fc_weights": np.asarray(given["fc_weights"], dtype=float)[None, :],
        "fc_bias": np.array([given["fc_bias"]], dtype=float),
    }
    image = np.asarray(given["image"], dtype=float)[None, None]
    return Network(architecture_of(given), params), image, np.array([given["label"]])


def run(given):
    """Answer the exercise for a complete given: one forward and one backward pass.

    Returns {"given", "shapes", "forward", "backward"} with the single image's and
    single filter's maps squeezed to 2-D NumPy arrays and scalars as floats;
    every ``backward`` entry is dL/d(that quantity).
    """
    network, image, labels = network_for(given)
    arch = network.arch
    fwd = network.forward(image, labels)
    bwd = network.backward()
    p = arch.pool_out_size
    return {
        "given": given,
        "shapes": {
            "input": [arch.image_size] * 2,
            "conv": [arch.conv_size] * 2,
            "pool": [p, p],
            "fc_input": [arch.fc_inputs],
        },
        "forward": {
            "conv_pre": fwd["conv_pre"][0, 0],
            "conv_relu": fwd["conv_relu"][0, 0],
            "pool": fwd["pool"][0, 0],
            "pool_argmax": fwd["pool_argmax"][0, 0].reshape(-1, 2),
            "fc_pre": float(fwd["fc_pre"][0, 0]),
            "output": float(fwd["output"][0, 0]),
            "loss": fwd["loss"],
        },
        "backward": {
            "fc_pre": float(bwd["fc_pre"][0, 0]),
            "fc_weights": bwd["fc_weights"][0],
            "fc_bias": float(bwd["fc_bias"][0]),
            "pool": bwd["pool"][0, 0],
            "conv_relu": bwd["conv_relu"][0, 0],
            "conv_pre": bwd["conv_pre"][0, 0],
            "conv_kernel": bwd["conv_kernel"][0, 0],
            "conv_bias": float(bwd["conv_bias"][0]),
            "image": bwd["image"][0, 0],
        },
    }


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def to_json(result):
    """The result as JSON text, one matrix row a line; floats keep all their digits (repr)."""
    text = json.dumps(_plain(result), indent=2)
    return re.sub(
        r"\[[^\[\]{}]*\]", lambda m: re.sub(r"\s+", " ", m.group(0)).replace("[ ", "[").replace(" ]", "]"), text
    )
