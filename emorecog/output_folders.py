"""Rules for every folder emorecog writes: nothing lost, nothing mixed.

- An output never equals, contains or lies inside one of the command's inputs (`check_separate_from_inputs`;
  symbolic links resolved): `ingest --out` equal to `--deap` would replace the dataset.
- emorecog deletes or replaces only what it provably wrote itself. A component output (a TFRecords folder,
  a model, an evaluation, a SavedModel version) lists every file it wrote in its metadata file, and is
  replaced only when it holds nothing else (`refuse_foreign_content`); a folder that commands write into
  over time (a run directory, a pipeline root, `show-images` output) carries `FOLDER_MARKER_FILE`
  (`claim_folder`) and is never replaced, only written into.
- An existing folder without emorecog's metadata is used only when it is empty; otherwise the command
  stops with `OutputFolderError` naming a few of the files it would have put at risk.
- One process at a time writes an output (`emorecog.output_lock.OutputLock`); a second one stops with
  `OutputBusyError` instead of sharing it.
"""

import json
import os
import shutil
import uuid

FOLDER_MARKER_FILE = "emorecog_folder.json"
# A folder is written as a hidden sibling `.<name>.partial-<id>` and renamed into place when complete.
STAGING_MARK = ".partial-"
SHOWN_FOREIGN_FILES = 3


class OutputFolderError(ValueError):
    """emorecog refuses to write an output there (it would lose or mix data); the message says why."""


class OutputBusyError(OutputFolderError):
    """Another emorecog process is writing the same output."""


def check_separate_from_inputs(output, inputs):
    """Refuse an output that equals, contains or lies inside an input (symbolic links resolved).

    Args:
        output: the output path (folder or file).
        inputs: {name: path} of the command's inputs (None values are ignored).

    Raises:
        OutputFolderError: naming the output, the input and the relation.
    """
    output_real = os.path.realpath(output)
    for name, path in inputs.items():
        if path is None:
            continue
        input_real = os.path.realpath(path)
        if output_real == input_real:
            relation = "is"
        elif _inside(output_real, input_real):
            relation = "lies inside"
        elif _inside(input_real, output_real):
            relation = "contains"
        else:
            continue
        raise OutputFolderError(
            f"output {output} {relation} the input {path} ({name}): an output must be separate from every input, "
            "so writing it can never replace or change what is read; choose another output folder"
        )


def folder_state(path):
    """ "absent", "empty" or "present" for a folder path; anything but a folder there is refused."""
    if not os.path.lexists(path):
        return "absent"
    if not os.path.isdir(path):
        raise OutputFolderError(f"{path} exists and is not a folder; choose another output folder")
    return "present" if os.listdir(path) else "empty"


def files_under(folder):
    """Relative paths of every file (and symbolic link) under `folder`, sorted."""
    found = []
    for root, directories, names in os.walk(folder):
        directories.sort()
        found.extend(os.path.relpath(os.path.join(root, name), folder) for name in names)
        # a symbolic link to a folder is an entry too, not a folder to walk into
        found.extend(
            os.path.relpath(os.path.join(root, name), folder)
            for name in directories
            if os.path.islink(os.path.join(root, name))
        )
    return sorted(found)


def refuse_foreign_content(folder, written_files, writer):
    """Raise unless every file under `folder` is one of `written_files` (relative paths).

    Args:
        folder: an existing folder emorecog would replace.
        written_files: what `writer` recorded as written there (its metadata file included).
        writer: who wrote it, for the message (e.g. "emorecog's ExampleGen").
    """
    foreign = [name for name in files_under(folder) if name not in set(written_files)]
    if foreign:
        raise OutputFolderError(
            f"{folder} was written by {writer} but now also holds files it did not write ({_listing(foreign)}); "
            "move them away or choose another output folder (emorecog replaces only what it wrote)"
        )


def refuse_foreign_folder(folder, what_is_expected):
    """The error for an existing non-empty folder that carries no emorecog metadata."""
    return OutputFolderError(
        f"{folder} already holds files emorecog did not write ({_listing(files_under(folder))}); "
        f"{what_is_expected}: choose a new or empty folder (emorecog never writes into or replaces a folder it "
        "cannot prove it wrote)"
    )


def read_folder_marker(folder):
    """The dict of `FOLDER_MARKER_FILE` in `folder`, or None."""
    try:
        with open(os.path.join(folder, FOLDER_MARKER_FILE)) as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_folder_marker(folder, written_by, files=None):
    """Write `FOLDER_MARKER_FILE` (atomically): who made `folder`, and optionally every file it wrote."""
    marker = {"written_by": written_by}
    if files is not None:
        marker["files"] = list(files)
    write_json_atomically(os.path.join(folder, FOLDER_MARKER_FILE), marker)


def claim_folder(folder, written_by, inputs=None):
    """Make `folder` a folder emorecog may write into over time (a run directory, a pipeline root, ...).

    It is created with `FOLDER_MARKER_FILE` when absent or empty, and accepted when it already carries one.
    Nothing in it is ever deleted by the claim.

    Args:
        folder: the folder.
        written_by: the command, e.g. "emorecog train" (recorded in the marker).
        inputs: {name: path} the folder must stay separate from.

    Raises:
        OutputFolderError: the folder overlaps an input, is not a folder, or holds files without an
            emorecog marker.
    """
    check_separate_from_inputs(folder, inputs or {})
    state = folder_state(folder)
    if state == "present":
        if read_folder_marker(folder) is not None:
            return
        raise refuse_foreign_folder(folder, f"{written_by} writes its outputs into a folder of its own")
    os.makedirs(folder, exist_ok=True)
    write_folder_marker(folder, written_by)


def new_staging_folder(output):
    """Create and return a hidden sibling of `output` to write it in (see `publish_staged_folder`)."""
    parent, base = os.path.split(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{base}{STAGING_MARK}{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    return staging


def remove_abandoned_staging(output):
    """Delete the staging folders of runs that died writing `output`.

    Call it only while holding `output`'s `OutputLock`: every live writer holds that lock for as long as its
    staging folder exists, so whatever staging is left then belongs to a process that is gone.
    """
    parent, base = os.path.split(os.path.abspath(output))
    if not os.path.isdir(parent):
        return
    for name in os.listdir(parent):
        if name.startswith(f".{base}{STAGING_MARK}"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def publish_staged_folder(staging, output, state):
    """Move a finished staging folder to `output` (`state` from `folder_state`, checked by the caller).

    An empty folder at `output` is simply taken (removing it fails, losing nothing, if a file appeared
    meanwhile). A previous output, already checked to hold only what emorecog wrote, is swapped with the
    new one in one atomic step where the system allows it (Linux `renameat2(RENAME_EXCHANGE)`), so a kill
    at any moment leaves either the old or the new output in place; elsewhere it is moved aside first. The
    old output, now in the staging folder's place, is then deleted.
    """
    if state == "empty":
        os.rmdir(output)
    elif state == "present":
        if not _exchange(staging, output):
            parent, base = os.path.split(os.path.abspath(output))
            retired = os.path.join(parent, f".{base}{STAGING_MARK}old-{uuid.uuid4().hex[:8]}")
            os.rename(output, retired)
            os.rename(staging, output)
            staging = retired
        shutil.rmtree(staging, ignore_errors=True)
        return
    os.rename(staging, output)


def _exchange(first, second):
    """Atomically swap two paths (Linux renameat2 with RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util

    at_current_directory, rename_exchange = -100, 2
    try:
        renameat2 = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        at_current_directory, os.fsencode(first), at_current_directory, os.fsencode(second), rename_exchange
    )
    return result == 0


def write_file_atomically(path, write):
    """Call `write(temporary_path)` and rename the result to `path` (readers never see half a file).

    The temporary sibling is hidden and ends like `path` (so writers that choose a format by the file
    extension, such as matplotlib, still do); it is removed if `write` fails.
    """
    directory, name = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{uuid.uuid4().hex[:8]}.{name}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json_atomically(path, value):
    """Write `value` as JSON to `path` through a temporary sibling and a rename (readers never see half)."""

    def write(temporary):
        with open(temporary, "w") as handle:
            json.dump(value, handle, indent=2, default=str)

    write_file_atomically(path, write)


def _inside(path, folder):
    return os.path.commonpath([path, folder]) == folder and path != folder


def _listing(names):
    shown = ", ".join(names[:SHOWN_FOREIGN_FILES])
    return shown + (f" and {len(names) - SHOWN_FOREIGN_FILES} more" if len(names) > SHOWN_FOREIGN_FILES else "")
