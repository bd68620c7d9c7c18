"""TFX-style components without TFX: a spec (parameters, named input and output artifacts) plus an
executor (a plain function that calls library code), run with caching and atomic outputs.

`run_component` gives every component the same guarantees:
- the output never overlaps an input (`emorecog.output_folders.check_separate_from_inputs`), and one
  process at a time writes it (`emorecog.output_lock.OutputLock`; a second one stops with
  `OutputBusyError`);
- the executor writes into a hidden sibling directory; only a finished output is renamed into place,
  so an interrupted run never leaves a partial output that looks complete, and the staging folders of
  killed runs are removed by the next run (holding the lock proves they are abandoned);
- the output carries `METADATA_FILE` (component, parameters, config hash, input fingerprints, and every
  file written), and a rerun whose parameters and inputs are unchanged is skipped; any change writes the
  output anew, replacing the previous one only if it holds nothing but what that component wrote. An
  existing folder without this metadata is used only when empty.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import time

from emorecog.artifact_metadata import METADATA_FILE, fingerprint_path, read_metadata
from emorecog.output_folders import (
    STAGING_MARK,
    OutputFolderError,
    check_separate_from_inputs,
    files_under,
    folder_state,
    new_staging_folder,
    publish_staged_folder,
    refuse_foreign_content,
    refuse_foreign_folder,
    remove_abandoned_staging,
)
from emorecog.output_lock import OutputLock

PARTIAL_MARK = STAGING_MARK


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    """What a component is: its name, the parameters it takes and the artifacts it reads and writes.

    Args:
        name: component name, e.g. "ExampleGen".
        parameters: names of the executor's parameters (the values go into the config hash).
        inputs: names of input artifacts (paths).
        outputs: names of output artifacts (sub-paths of the component's output directory).
    """

    name: str
    parameters: tuple
    inputs: tuple
    outputs: tuple


@dataclasses.dataclass(frozen=True)
class ComponentRun:
    """The outcome of `run_component`: where the output is, whether it was reused, its metadata."""

    output_dir: str
    skipped: bool
    metadata: dict

    def artifact(self, name):
        return os.path.join(self.output_dir, self.metadata["outputs"][name])


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(component_name, parameters):
    """A short stable hash of a component's parameters (what changes the output)."""
    digest = hashlib.sha256(canonical_json({"component": component_name, "parameters": parameters}).encode())
    return digest.hexdigest()[:16]


class OutputExistsError(OutputFolderError):
    """The output already exists and the caller asked never to replace it (e.g. a SavedModel version)."""


def run_component(spec, executor, parameters, inputs, output_dir, force=False, replace=True):
    """Run `executor(parameters, inputs, staging_dir)` unless an identical output already exists.

    Args:
        spec: the component's `ComponentSpec`.
        executor: a function (parameters: dict, inputs: dict of paths, output_dir: str) -> dict of
            extra metadata (JSON-ready, e.g. a summary); it writes every artifact of `spec.outputs`
            under `output_dir`.
        parameters: dict with exactly the keys `spec.parameters` (JSON-serialisable values).
        inputs: dict with exactly the keys `spec.inputs` (paths).
        output_dir: final output directory.
        force: run even if an identical output exists.
        replace: replace an existing output of this component (else `OutputExistsError`).

    Returns:
        A `ComponentRun`.

    Raises:
        OutputFolderError: the output overlaps an input, holds files the component did not write, or is
            another component's output; `OutputBusyError`: another process writes it.
    """
    if set(parameters) != set(spec.parameters):
        raise ValueError(
            f"{spec.name}: parameters {sorted(parameters)} do not match the spec {sorted(spec.parameters)}"
        )
    if set(inputs) != set(spec.inputs):
        raise ValueError(f"{spec.name}: inputs {sorted(inputs)} do not match the spec {sorted(spec.inputs)}")
    output_dir = os.path.abspath(output_dir)
    check_separate_from_inputs(output_dir, inputs)
    input_fingerprints = {name: fingerprint_path(path) for name, path in inputs.items()}
    expected = {
        "component": spec.name,
        "config_hash": config_hash(spec.name, parameters),
        "input_fingerprints": input_fingerprints,
    }
    with OutputLock(output_dir):
        state = folder_state(output_dir)
        existing = read_metadata(output_dir) if state == "present" else None
        if not force and existing and all(existing.get(key) == value for key, value in expected.items()):
            return ComponentRun(output_dir, skipped=True, metadata=existing)
        if state != "absent" and not replace:
            raise OutputExistsError(f"{output_dir} already exists; {spec.name} never replaces it")
        _check_replaceable(spec, output_dir, state, existing)
        remove_abandoned_staging(output_dir)
        staging_dir = new_staging_folder(output_dir)
        started = time.time()
        try:
            extra = executor(dict(parameters), {k: os.path.abspath(v) for k, v in inputs.items()}, staging_dir)
            missing = [name for name in spec.outputs if not os.path.exists(os.path.join(staging_dir, name))]
            if missing:
                raise RuntimeError(f"{spec.name}: executor did not write output artifacts {missing}")
            metadata = {
                **expected,
                "parameters": parameters,
                "inputs": {name: os.path.abspath(path) for name, path in inputs.items()},
                "outputs": {name: name for name in spec.outputs},
                "emorecog_version": _version(),
                "started_unix": started,
                "seconds": round(time.time() - started, 3),
                **(extra or {}),
                "files": files_under(staging_dir) + [METADATA_FILE],
            }
            with open(os.path.join(staging_dir, METADATA_FILE), "w") as handle:
                json.dump(metadata, handle, indent=2, default=str)
            publish_staged_folder(staging_dir, output_dir, state)
        except BaseException:
            shutil.rmtree(staging_dir, ignore_errors=True)
            raise
    return ComponentRun(output_dir, skipped=False, metadata=metadata)


def _check_replaceable(spec, output_dir, state, metadata):
    """Refuse to replace a present output unless it is `spec`'s and holds only what `spec` wrote."""
    if state != "present":
        return
    if metadata is None:
        raise refuse_foreign_folder(output_dir, f"{spec.name} writes a folder of its own")
    if metadata.get("component") != spec.name:
        raise OutputFolderError(
            f"{output_dir} is the output of emorecog's {metadata.get('component')}, not of {spec.name}; choose "
            "another output folder"
        )
    if "files" not in metadata:
        raise OutputFolderError(
            f"{output_dir} was written by an older emorecog that did not list its files, so it cannot be replaced "
            "safely; remove it yourself or choose another output folder"
        )
    refuse_foreign_content(output_dir, metadata["files"], f"emorecog's {spec.name}")


def _version():
    from emorecog import __version__

    return __version__
