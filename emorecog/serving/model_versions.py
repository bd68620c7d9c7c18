"""TF Serving's model layout: `<base>/<model_name>/<version>/saved_model.pb`, versions positive integers.

TF Serving serves the highest version and ignores folders whose names are not integers, so a version
written as a hidden staging folder and renamed when complete is never seen half-written.
"""

import os


def version_numbers(model_dir):
    """The complete versions (integer folders holding saved_model.pb) under `model_dir`, ascending."""
    if not os.path.isdir(model_dir):
        return []
    versions = []
    for name in os.listdir(model_dir):
        if name.isdigit() and os.path.isfile(os.path.join(model_dir, name, "saved_model.pb")):
            versions.append(int(name))
    return sorted(versions)


def next_version(model_dir):
    """The version number a new export should take: one above every integer folder (complete or not)."""
    taken = [int(name) for name in os.listdir(model_dir) if name.isdigit()] if os.path.isdir(model_dir) else []
    return max(taken, default=0) + 1


def resolve_saved_model_dir(path):
    """A SavedModel directory from either a version folder or a model folder (-> its latest version).

    Raises:
        FileNotFoundError: naming `path` and what was expected there.
    """
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = version_numbers(path)
    if not versions:
        raise FileNotFoundError(
            f"{path} is neither a SavedModel (no saved_model.pb) nor a model folder with numbered versions "
            "(<model_name>/<version>/saved_model.pb)")
    return os.path.join(path, str(versions[-1]))
