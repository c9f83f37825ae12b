"""Reading and writing files: every failure an ``InputError`` naming the file, every write atomic.

A write goes to a temporary file in the target's directory and is renamed over
the target only once complete, so a failure never leaves half a file behind
and never damages a file that was there before.
"""

import csv
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import validate
from .validate import InputError


def output_path(path):
    """Check that ``path`` can be written (its directory exists and is writable) before work starts."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {path}: directory {parent} is not writable")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    return path


def output_dir(path):
    """Create directory ``path`` (and its parents) if needed; it must end up writable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"cannot write to {path}: it exists and is not a directory") from None
    except OSError as error:
        raise InputError(f"cannot create directory {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"cannot write to {path}: directory is not writable")
    return path


def atomic_write(path, write):
    """Call ``write(file_object)`` on a temporary binary file, then rename it to ``path``."""
    path = output_path(path)
    fd, temporary = tempfile.mkstemp(
        dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        # mkstemp makes the file private; give it the mode a plain open() would (or the old file's).
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_text(path):
    """The text of ``path``, or an InputError saying why it cannot be read."""
    path = Path(path)
    try:
        # utf-8-sig: a byte-order mark (Excel, Notepad) is read past
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (it is not UTF-8)") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read: {error.strerror}") from None


def read_json(path):
    """Parse the JSON in ``path``; a syntax error names the line and column."""
    text = read_text(path)
    if not text.strip():
        raise InputError(f"{path}: the file is empty, expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None


MODEL_FORMAT = "cnn-backprop model"
MODEL_VERSION = 2  # 1: the seed network's sizes as fields; 2: any network, as its spec
IMAGE_SUFFIXES = (".png",)


def _load_npz(path, what):
    """The arrays of an .npz file, never unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: is not a file")
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
                raise InputError(f"{path}: not a readable .npz file (it is not a zip archive); expected {what}")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
    except ValueError as error:
        if "pickle" in str(error):
            raise InputError(
                f"{path}: holds pickled Python objects, which are never loaded; expected {what} of plain numbers"
            ) from None
        raise InputError(f"{path}: not a readable .npz file ({error}); expected {what}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: not a readable .npz file ({error}); expected {what}") from None


@dataclass(frozen=True)
class Model:
    """What a model file holds: the network, its parameters, and what it was trained on."""

    arch: object  # architecture.Architecture
    params: dict
    classes: tuple  # the name of each class, by label
    data: str = "shapes"  # the data source it was trained on
    seed: int = 0  # the training seed, which also chose the split of data that has none of its own
    buffers: dict = field(default_factory=dict)  # what layers keep besides parameters (a batch norm's statistics)


def model_config(arch, classes=None, data="shapes", seed=0):
    """What a model file says besides its arrays, as JSON text: the network, its input, its classes (default
    0..K-1), the data it was trained on and the training seed."""
    classes = [str(k) for k in range(arch.classes)] if classes is None else list(classes)
    return json.dumps(
        {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "net": str(arch),
            "channels": arch.channels,
            "image_size": arch.image_size,
            "classes": classes,
            "data": str(data),
            "seed": seed,
        }
    )


def save_model(path, model):
    """Write the parameters under PyTorch's state_dict names and layouts, and the rest as JSON under ``config``."""
    from .export import state_dict

    arch = model.arch
    config = model_config(arch, model.classes, model.data, model.seed)
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in state_dict(arch, model.params).items()}
    arrays.update(state_dict(arch, model.buffers))  # in their own dtype: a batch count is a whole number
    return atomic_write(path, lambda handle: np.savez(handle, config=np.array(config), **arrays))


def _whole(config, key, minimum, path):
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{path}: config {key} must be a whole number >= {minimum}, got {value!r}")
    return value


def _architecture_v1(config, path):
    """A version-1 model's fields (the seed network's sizes) as an Architecture."""
    from .architecture import Architecture

    keys = (
        "image_size",
        "channels",
        "filters",
        "kernel_size",
        "conv_stride",
        "conv_padding",
        "pool_size",
        "pool_stride",
    )
    sizes = {key: _whole(config, key, 0 if key == "conv_padding" else 1, path) for key in keys}
    spec = (f"conv {sizes['filters']}x{sizes['kernel_size']}x{sizes['kernel_size']} stride {sizes['conv_stride']} "
            f"pad {sizes['conv_padding']}, relu, maxpool {sizes['pool_size']} stride {sizes['pool_stride']}, "
            "dense 1, sigmoid")  # fmt: skip
    return Architecture.parse(spec, sizes["channels"], sizes["image_size"])


TORCH_SUFFIXES = (".pt", ".pth")


def load_model(path):
    """The Model in a model file, every key, shape and number checked: an .npz model file, or a ``.pt`` file
    (``TORCH_SUFFIXES``) holding the state_dict of a module ``cnn-backprop export`` wrote, saved with
    ``torch.save(model.state_dict(), path)``: that state_dict carries the model file's config."""
    from .architecture import Architecture
    from .data import CLASSES
    from .export import torch_names

    if Path(path).suffix.lower() in TORCH_SUFFIXES:
        from .from_pytorch import read_state_dict

        arrays, config = read_state_dict(path)
    else:
        arrays = _load_npz(path, "a model saved by 'cnn-backprop train --out'")
        if "config" not in arrays:
            raise InputError(f"{path}: not a cnn-backprop model: missing config")
        config = str(arrays["config"])
    try:
        config = json.loads(config)
    except json.JSONDecodeError:
        raise InputError(f"{path}: its config is not valid JSON") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise InputError(f'{path}: not a cnn-backprop model (its config has no format "{MODEL_FORMAT}")')
    version = config.get("version")
    seed = 0
    if version == 1:
        arch, classes, data = _architecture_v1(config, path), CLASSES, "shapes"
    elif version == MODEL_VERSION:
        net = config.get("net")
        if not isinstance(net, str):
            raise InputError(f"{path}: config net must be a network spec, got {net!r}")
        channels, size = _whole(config, "channels", 1, path), _whole(config, "image_size", 1, path)
        try:
            arch = Architecture.parse(net, channels, size)
        except InputError as error:
            raise InputError(f"{path}: config: {error}") from None
        classes = config.get("classes")
        if (
            not isinstance(classes, list)
            or len(classes) != arch.classes
            or not all(isinstance(c, str) for c in classes)
        ):
            raise InputError(f"{path}: config classes must be {arch.classes} names, got {classes!r:.80}")
        data = str(config.get("data", "shapes"))
        seed = config.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"{path}: config seed must be a whole number, got {seed!r}")
    else:
        raise InputError(
            f"{path}: model format version {version!r}; this cnn-backprop reads versions 1 and {MODEL_VERSION}"
        )
    names = torch_names(arch)
    missing = [torch for torch in names.values() if torch not in arrays]
    if missing:
        raise InputError(f"{path}: not a cnn-backprop model: missing {', '.join(missing)}")
    params, buffers, initial = {}, {}, arch.initial_buffers()
    shapes = {**arch.param_shapes(), **{name: value.shape for name, value in initial.items()}}
    converted = []
    for ours, torch in names.items():
        array = arrays[torch]
        expected = shapes[ours]
        if array.shape != expected:
            raise InputError(f"{path}: {torch} has shape {list(array.shape)}, but the config needs {list(expected)}")
        kind = initial[ours].dtype if ours in initial else np.dtype(np.float64)
        if not np.issubdtype(array.dtype, np.floating if kind.kind == "f" else np.integer):
            raise InputError(
                f"{path}: {torch} must hold {'floats' if kind.kind == 'f' else 'whole numbers'}, got {array.dtype}"
            )
        if array.dtype != kind:
            converted.append(str(array.dtype))
        value = (
            validate.finite_array(array.astype(kind), f"{path}: {torch}") if kind.kind == "f" else array.astype(kind)
        )
        (buffers if ours in initial else params)[ours] = value
    if converted:
        warnings.warn(Converted(f"{path}: its {' and '.join(sorted(set(converted)))} numbers were converted to "
                                "float64, in which cnn-backprop computes"), stacklevel=2)  # fmt: skip
    return Model(arch, params, tuple(classes), data, seed, buffers)


class Converted(UserWarning):
    """Numbers read in another precision than they were stored in, said once (the command line: as a note)."""


def save_dataset(path, images, labels, classes):
    """Write images (N, C, H, W) float, labels (N,) int and the class names to an .npz file."""
    return atomic_write(path, lambda handle: np.savez(
        handle, images=images, labels=labels.astype(np.int64), classes=np.array(classes, dtype=str)))  # fmt: skip


def _image_stack(array, where, input_shape=None):
    """(N, H, W) or (N, C, H, W) real numbers -> (N, C, H, W) float64, checked; uint8 pixels scaled to [0, 1].

    ``input_shape`` (channels, size), when given, is what the images must have.
    """
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"{where}: images must be numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{where}: images must be real numbers, got dtype {array.dtype}")
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[2] != array.shape[3] or len(array) == 0:
        raise InputError(
            f"{where}: images must have shape (N, H, W) or (N, C, H, W) with square "
            f"images and N >= 1, got {list(array.shape)}"
        )
    if input_shape is not None and array.shape[1:3] != tuple(input_shape):
        channels, size = input_shape
        raise InputError(f"{where}: images are {array.shape[1]}x{array.shape[2]}x{array.shape[3]} (channels x height "
                         f"x width), the model expects {channels}x{size}x{size}")  # fmt: skip
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return validate.finite_array(array.astype(np.float64) / scale, where)


def _labels(labels, count, where):
    """Integer labels 0..K-1, one per image."""
    if labels.ndim != 1 or len(labels) != count:
        raise InputError(f"{where}: labels must have shape ({count},), one per image, got {list(labels.shape)}")
    if (
        not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.floating))
        or labels.dtype == bool
    ):
        raise InputError(f"{where}: labels must be whole numbers 0..K-1, got dtype {labels.dtype}")
    bad = labels[(labels < 0) | (labels != np.round(labels)) | ~np.isfinite(labels)]
    if bad.size:
        raise InputError(f"{where}: labels must be whole numbers 0..K-1, got {bad[0].item()!r}")
    return labels.astype(np.int64)


def _classes(arrays, labels, where):
    """The class names: the file's ``classes``, else 0..K-1 with K the largest label + 1 (at least 2)."""
    count = max(int(labels.max()) + 1, 2)
    if "classes" not in arrays:
        return tuple(str(k) for k in range(count))
    classes = arrays["classes"]
    if classes.ndim != 1 or classes.dtype.kind not in "US" or len(classes) < count:
        raise InputError(f"{where}: classes must be a list of at least {count} names, one per label")
    return tuple(str(name) for name in classes)


def load_labelled(path):
    """(images, labels, classes, test) from an .npz file or an ImageFolder folder; ``test`` is
    (test images, test labels) where the file has its own split (the mnist.npz layout), else None."""
    path = Path(path)
    if path.is_dir():
        return (*_load_image_folder(path), None)
    if path.suffix != ".npz":
        raise InputError(f"{path}: a data set is 'shapes', 'digits', an .npz file or a folder of class folders "
                         f"of PNG images, got '{path.suffix or path}'")  # fmt: skip
    arrays = _load_npz(path, "a data set with 'images' and 'labels' (or x_train, y_train, x_test, y_test)")
    mnist = ("x_train", "y_train", "x_test", "y_test")
    if all(key in arrays for key in mnist):
        parts = []
        for images_key, labels_key in (mnist[:2], mnist[2:]):
            images = _image_stack(arrays[images_key], f"{path}: {images_key}")
            parts += [images, _labels(arrays[labels_key], len(images), f"{path}: {labels_key}")]
        if parts[0].shape[1:] != parts[2].shape[1:]:
            raise InputError(f"{path}: x_train and x_test images differ in size")
        return parts[0], parts[1], _classes(arrays, np.concatenate([parts[1], parts[3]]), str(path)), tuple(parts[2:])
    missing = [key for key in ("images", "labels") if key not in arrays]
    if missing:
        raise InputError(
            f"{path}: missing {' and '.join(repr(m) for m in missing)}; a data set holds "
            "'images' (N, H, W) or (N, C, H, W) and 'labels' (N,), or x_train, y_train, x_test, y_test"
        )
    images = _image_stack(arrays["images"], f"{path}: images")
    labels = _labels(arrays["labels"], len(images), f"{path}: labels")
    return images, labels, _classes(arrays, labels, str(path)), None


def _load_image_folder(folder):
    """ImageFolder layout: FOLDER/CLASS/*.png, classes in sorted order; grey images as one channel."""
    from matplotlib.image import imread

    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise InputError(f"{folder}: no class folders in it; expected FOLDER/CLASS_NAME/IMAGE.png")
    images, labels = [], []
    for label, name in enumerate(classes):
        for image_path in sorted((folder / name).iterdir()):
            if image_path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                pixels = imread(image_path, format="png")
            except (OSError, ValueError, SyntaxError) as error:
                raise InputError(f"{image_path}: not a readable PNG image ({error})") from None
            if pixels.ndim == 3:
                colour = pixels[..., :3]  # alpha dropped
                pixels = colour[..., 0] if np.ptp(colour, axis=-1).max() == 0 else colour.transpose(2, 0, 1)
            pixels = pixels if pixels.ndim == 3 else pixels[None]
            if images and pixels.shape != images[0].shape:
                raise InputError(f"{image_path}: {list(pixels.shape)} (channels, height, width), but the first image "
                                 f"is {list(images[0].shape)}; every image must have the same size")  # fmt: skip
            images.append(pixels)
            labels.append(label)
    if not images:
        raise InputError(f"{folder}: no .png images in its class folders ({', '.join(classes)})")
    return _image_stack(np.array(images), str(folder)), np.array(labels, dtype=np.int64), tuple(classes)


def load_images(path, input_shape):
    """Images (N, C, S, S) to classify, from .npy, .npz (key 'images'), .csv (C*S*S values a row) or .json.

    ``input_shape`` is (C, S), what the model reads.
    """
    channels, image_size = input_shape
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise InputError(f"{path}: not a readable .npy file of numbers ({error})") from None
        except (OSError, EOFError) as error:
            raise InputError(f"{path}: not a readable .npy file ({error})") from None
        if array.ndim == 2 or (array.ndim == 3 and channels > 1 and array.shape[0] == channels):
            array = array[None]
    elif suffix == ".npz":
        arrays = _load_npz(path, "images under the key 'images'")
        if "images" not in arrays:
            raise InputError(f"{path}: no 'images' array (it holds {', '.join(arrays) or 'nothing'})")
        array = arrays["images"]
    elif suffix == ".csv":
        array = _read_csv(path, channels, image_size)
    elif suffix == ".json":
        value = read_json(path)
        if isinstance(value, dict) and "image" in value:
            value = [value["image"]]
        elif isinstance(value, dict) and "images" in value:
            value = value["images"]
        try:
            array = np.array(value, dtype=float)
        except (ValueError, TypeError):
            raise InputError(
                f"{path}: expected a list of {image_size}x{image_size} images (lists of rows of numbers)"
            ) from None
        if array.ndim == 2 or (array.ndim == 3 and channels > 1 and len(array) == channels):
            array = array[None]  # a single image
    else:
        raise InputError(f"{path}: unknown file type '{path.suffix}'; use .npy, .npz, .csv or .json")
    return _image_stack(array, str(path), input_shape)


def _read_csv(path, channels, image_size):
    values = channels * image_size * image_size
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split(",")]
        try:
            row = [float(cell) for cell in cells]
        except ValueError:
            if not rows and number == 1:
                continue  # a header line
            raise InputError(f"{path}: line {number}: expected {values} numbers separated by commas") from None
        if len(row) != values:
            raise InputError(
                f"{path}: line {number}: expected {values} values "
                f"({channels}x{image_size}x{image_size} image), got {len(row)}"
            )
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: no images in the file")
    return np.array(rows).reshape(-1, channels, image_size, image_size)


def numbered_files(folder, pattern, what):
    """{number: path} of the files in ``folder`` whose whole name matches ``pattern`` (one group, the number)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder, expected {what}")
    found = {}
    for path in sorted(folder.iterdir()):
        match = re.fullmatch(pattern, path.name)
        if match:
            found[int(match.group(1))] = path
    if not found:
        raise InputError(f"{folder}: no {what} in it")
    return found


ANSWER_NAME = re.compile(r"(?P<student>.+?)[_-](?:exercise_)?0*(?P<number>\d+)(?:_answers)?\.(?:json|csv)")


def student_files(folder):
    """([(student, sheet number, path)], [(path, problem)]) of the files in ``folder``: the answer files
    STUDENT_N.json or .csv (or STUDENT_exercise_N_answers.json, the template's name with the student's in front),
    and every other file with why it is not one (so one stray file never stops a class)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder, expected answer files STUDENT_N.json or STUDENT_N.csv")
    found, others = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        match = ANSWER_NAME.fullmatch(path.name)
        if match:
            found.append((match.group("student"), int(match.group("number")), path))
        else:
            others.append((path, "cannot tell the student and the sheet from the name; name answer files "
                                 "STUDENT_N.json or STUDENT_N.csv, N the sheet's number"))  # fmt: skip
    if not found:
        raise InputError(f"{folder}: no answer files in it (STUDENT_N.json or STUDENT_N.csv)")
    return found, others


def read_roster(path):
    """{student: sheet number} from a CSV of columns student,sheet (a header line first), checked."""
    rows = list(csv.reader(io.StringIO(read_text(path))))
    if not rows or [cell.strip().lower() for cell in rows[0][:2]] != ["student", "sheet"]:
        raise InputError(f"{path}: a roster's first line must be the header student,sheet")
    roster = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip().isdigit():
            raise InputError(f"{path}: line {number}: expected a student and a sheet number, got {','.join(row)!r}")
        student = row[0].strip()
        if student in roster:
            raise InputError(f"{path}: line {number}: {student} is on the roster twice")
        roster[student] = int(row[1])
    return roster
