"""What identifies an emorecog output folder: its metadata file and the fingerprint of any input path.

Every component output carries `METADATA_FILE` (written by the component runner in `emorecog.components`);
library code that needs to know where its input came from (the Trainer's resumable state, the
preprocessing settings a SavedModel carries) reads it here, so the library never imports a component.
"""

import hashlib
import json
import os

METADATA_FILE = "emorecog_metadata.json"


def fingerprint_path(path):
    """A fingerprint of an input artifact.

    An emorecog output is identified by its metadata (component, config hash and its own inputs); any
    other file or directory by the relative names, sizes and modification times of its files. Symbolic
    links are followed (a dataset often links its video folders from elsewhere), and where a link points
    is part of the fingerprint; a dangling link counts as such, and a link cycle is walked once.
    """
    path = os.path.abspath(path)
    metadata_path = os.path.join(path, METADATA_FILE)
    if os.path.isfile(metadata_path):
        with open(metadata_path, "rb") as handle:
            return "metadata:" + hashlib.sha256(handle.read()).hexdigest()[:16]
    if not os.path.exists(path):
        raise FileNotFoundError(f"input artifact {path} does not exist")
    digest = hashlib.sha256()
    if os.path.isfile(path):
        stat = os.stat(path)
        digest.update(f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        return "files:" + digest.hexdigest()[:16]
    visited = set()
    for root, dirs, files in os.walk(path, followlinks=True):
        root_stat = os.stat(root)
        visited.add((root_stat.st_dev, root_stat.st_ino))
        dirs[:] = sorted(name for name in dirs if _directory_identity(os.path.join(root, name)) not in visited)
        for name in sorted(dirs) + sorted(files):
            full = os.path.join(root, name)
            relative = os.path.relpath(full, path)
            link = f" -> {os.readlink(full)}" if os.path.islink(full) else ""
            if name in files:
                try:
                    stat = os.stat(full)
                    entry = f"{relative}{link}:{stat.st_size}:{stat.st_mtime_ns}"
                except FileNotFoundError:
                    entry = f"{relative}{link}:dangling"
            else:
                entry = f"{relative}{link}/"
            digest.update(f"{entry}\n".encode())
    return "files:" + digest.hexdigest()[:16]


def _directory_identity(path):
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def read_metadata(output_dir):
    """The metadata of a finished component output, or None if there is none."""
    try:
        with open(os.path.join(output_dir, METADATA_FILE)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
