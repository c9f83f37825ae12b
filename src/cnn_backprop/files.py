"""Reading and writing files: every failure an ``InputError`` naming the file, every write atomic.

A write goes to a temporary file in the target's directory and is renamed over
the target only once complete, so a failure never leaves half a file behind
and never damages a file that was there before.
"""

import json
import os
import tempfile
from pathlib import Path

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
    fd, temporary = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                                     prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


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
        raise InputError(f"{path}: not valid JSON: {error.msg} at line {error.lineno}, "
                         f"column {error.colno}") from None
