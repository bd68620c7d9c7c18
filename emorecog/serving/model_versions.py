"""TF Serving's model layout: `<base>/<model_name>/<version>/saved_model.pb`, and which version it serves.

TF Serving (file-system storage path source, default "latest" policy) reads a version number from every
entry of the model folder whose whole name is a base-10 64-bit integer (optional surrounding whitespace and
minus sign), and serves the highest one, whether or not that folder holds a loadable SavedModel: a
higher, empty or half-written version is what it tries to load. So emorecog writes a version as a hidden
staging folder (`.N.partial-*`, not a number, never considered) renamed into place when complete, and
`resolve_saved_model_dir` applies the same rule as the server: the served version, or an error if that
version would not load.

This file imports nothing from emorecog, so `standalone_predict.py` (which runs where emorecog cannot be
imported) loads it by path.
"""

import os

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_C_SPACES = " \t\n\v\f\r"


def parse_version(name):
    """The version number TF Serving reads from a folder name, or None (hidden, staging, any other name)."""
    stripped = name.strip(_C_SPACES)
    digits = stripped[1:] if stripped.startswith("-") else stripped
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    value = int(stripped)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def version_entries(model_dir):
    """{version: entry name} of `model_dir` as TF Serving indexes them (for two names of one number, such
    as "7" and "007", the later name in sorted order wins, as in TF Serving)."""
    if not os.path.isdir(model_dir):
        return {}
    entries = {}
    for name in sorted(os.listdir(model_dir)):
        version = parse_version(name)
        if version is not None:
            entries[version] = name
    return entries


def version_numbers(model_dir):
    """The complete versions (entries holding saved_model.pb) under `model_dir`, ascending."""
    return sorted(version for version, name in version_entries(model_dir).items()
                  if os.path.isfile(os.path.join(model_dir, name, "saved_model.pb")))


def next_version(model_dir):
    """The first version number above every version entry (complete or not) of `model_dir`, at least 1."""
    return max(max(version_entries(model_dir), default=0), 0) + 1


def resolve_saved_model_dir(path):
    """The SavedModel TF Serving would serve for `path`: a model folder's served version, or a version folder.

    Raises:
        FileNotFoundError: `path` holds no numbered version, or the version TF Serving would serve holds no
            saved_model.pb (it would fail to load); the message names the folder.
        ValueError: `path` is a hidden staging folder of an unfinished or abandoned export.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.basename(path).startswith("."):
        raise ValueError(f"{path} is a hidden staging folder (an unfinished or abandoned export), which TF Serving "
                         "never serves; pass the model folder or a numbered version folder")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    entries = version_entries(path)
    if not entries:
        raise FileNotFoundError(
            f"{path} is neither a SavedModel (no saved_model.pb) nor a model folder with numbered versions "
            "(<model_name>/<version>/saved_model.pb)")
    served = max(entries)
    version_dir = os.path.join(path, entries[served])
    if not os.path.isfile(os.path.join(version_dir, "saved_model.pb")):
        raise FileNotFoundError(
            f"{version_dir}: TF Serving would serve version {served}, the highest number in {path}, but it holds "
            "no saved_model.pb, so it would fail to load; remove or complete it (or pass a version folder)")
    return version_dir
