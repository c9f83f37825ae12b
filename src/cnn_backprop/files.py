"""Reading and writing files: every failure an ``InputError`` naming the file, every write atomic.

A write goes to a temporary file in the target's directory and is renamed over
the target only once complete, so a failure never leaves half a file behind
and never damages a file that was there before.
"""

import json
import os
import tempfile
import zipfile
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
        return path.read_text(encoding="utf-8")
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
MODEL_VERSION = 1
# PyTorch's names for the equivalent nn.Sequential(conv, ReLU, MaxPool2d, Flatten, fc), and ours.
TORCH_NAMES = {"conv.weight": "conv_kernel", "conv.bias": "conv_bias", "fc.weight": "fc_weights", "fc.bias": "fc_bias"}


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


def save_model(path, arch, params):
    """Write parameters (PyTorch names and layout) and the architecture (JSON under ``config``)."""
    config = {"format": MODEL_FORMAT, "version": MODEL_VERSION, **arch.to_dict()}
    arrays = {torch_name: np.asarray(params[ours], dtype=np.float64) for torch_name, ours in TORCH_NAMES.items()}
    return atomic_write(path, lambda handle: np.savez(handle, config=np.array(json.dumps(config)), **arrays))


def load_model(path):
    """(Architecture, params) from a model file, every key, shape and number checked."""
    from .network import Architecture

    arrays = _load_npz(path, "a model saved by 'cnn-backprop train --out'")
    missing = [key for key in ("config", *TORCH_NAMES) if key not in arrays]
    if missing:
        raise InputError(f"{path}: not a cnn-backprop model: missing {', '.join(missing)}")
    try:
        config = json.loads(str(arrays["config"]))
    except json.JSONDecodeError:
        raise InputError(f"{path}: its config is not valid JSON") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise InputError(f'{path}: not a cnn-backprop model (its config has no format "{MODEL_FORMAT}")')
    if config.get("version") != MODEL_VERSION:
        raise InputError(
            f"{path}: model format version {config.get('version')!r}; this cnn-backprop reads version {MODEL_VERSION}"
        )
    fields = {key: config.get(key) for key in Architecture.__dataclass_fields__}
    for key, value in fields.items():
        minimum = 0 if key == "conv_padding" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InputError(f"{path}: config {key} must be a whole number >= {minimum}, got {value!r}")
    arch = validate.architecture(Architecture(**fields), f"{path}: config")
    params = {}
    for torch_name, ours in TORCH_NAMES.items():
        array = arrays[torch_name]
        expected = arch.param_shapes()[ours]
        if array.shape != expected:
            raise InputError(
                f"{path}: {torch_name} has shape {list(array.shape)}, but the config needs {list(expected)}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise InputError(f"{path}: {torch_name} must hold floats, got {array.dtype}")
        params[ours] = validate.finite_array(array.astype(np.float64), f"{path}: {torch_name}")
    return arch, params


def save_dataset(path, images, labels):
    """Write images (N, 1, H, W) float and labels (N,) int to an .npz file."""
    return atomic_write(path, lambda handle: np.savez(handle, images=images, labels=labels.astype(np.int64)))


def _image_stack(array, where, image_size=None):
    """(N, H, W) or (N, 1, H, W) real numbers -> (N, 1, H, W) float64, checked."""
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"{where}: images must be numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{where}: images must be real numbers, got dtype {array.dtype}")
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1] != array.shape[2] or len(array) == 0:
        raise InputError(
            f"{where}: images must have shape (N, H, W) or (N, 1, H, W) with square "
            f"images and N >= 1, got {list(array.shape)}"
        )
    if image_size is not None and array.shape[1] != image_size:
        raise InputError(
            f"{where}: images are {array.shape[1]}x{array.shape[2]}, the model expects {image_size}x{image_size}"
        )
    return validate.finite_array(array.astype(np.float64), where)[:, None]


def load_dataset(path, image_size=None):
    """(images (N, 1, H, W), labels (N,)) from an .npz data file, checked."""
    path = Path(path)
    if path.suffix != ".npz":
        raise InputError(f"{path}: a data set must be an .npz file with 'images' and 'labels', got '{path.suffix}'")
    arrays = _load_npz(path, "a data set with 'images' and 'labels'")
    missing = [key for key in ("images", "labels") if key not in arrays]
    if missing:
        raise InputError(
            f"{path}: missing {' and '.join(repr(m) for m in missing)}; a data set holds "
            "'images' (N, H, W) and 'labels' (N,)"
        )
    images = _image_stack(arrays["images"], f"{path}: images", image_size)
    labels = arrays["labels"]
    if labels.ndim != 1 or len(labels) != len(images):
        raise InputError(f"{path}: labels must have shape ({len(images)},), one per image, got {list(labels.shape)}")
    if not np.issubdtype(labels.dtype, np.number) and labels.dtype != bool:
        raise InputError(f"{path}: labels must be the numbers 0 or 1, got dtype {labels.dtype}")
    bad = labels[~np.isin(labels, (0, 1))]
    if bad.size:
        raise InputError(f"{path}: labels must be 0 (cross) or 1 (rectangle), got {bad[0].item()!r}")
    return images, labels.astype(np.int64)


def load_images(path, image_size):
    """Images (N, 1, S, S) to classify, from .npy, .npz (key 'images'), .csv (S*S values a row) or .json."""
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
        if array.ndim == 2:
            array = array[None]
    elif suffix == ".npz":
        arrays = _load_npz(path, "images under the key 'images'")
        if "images" not in arrays:
            raise InputError(f"{path}: no 'images' array (it holds {', '.join(arrays) or 'nothing'})")
        array = arrays["images"]
    elif suffix == ".csv":
        array = _read_csv(path, image_size)
    elif suffix == ".json":
        value = read_json(path)
        if isinstance(value, dict) and "image" in value:
            value = [value["image"]]
        elif isinstance(value, dict) and "images" in value:
            value = value["images"]
        if (
            isinstance(value, list)
            and value
            and isinstance(value[0], list)
            and value[0]
            and not isinstance(value[0][0], list)
        ):
            value = [value]  # a single image
        try:
            array = np.array(value, dtype=float)
        except (ValueError, TypeError):
            raise InputError(
                f"{path}: expected a list of {image_size}x{image_size} images (lists of rows of numbers)"
            ) from None
    else:
        raise InputError(f"{path}: unknown file type '{path.suffix}'; use .npy, .npz, .csv or .json")
    return _image_stack(array, str(path), image_size)


def _read_csv(path, image_size):
    values = image_size * image_size
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
                f"{path}: line {number}: expected {values} values ({image_size}x{image_size} image), got {len(row)}"
            )
        rows.append(row)
    if not rows:
        raise InputError(f"{path}: no images in the file")
    return np.array(rows).reshape(-1, image_size, image_size)
