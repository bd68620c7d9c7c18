"""TFX-style components without TFX: a spec (parameters, named input and output artifacts) plus an
executor (a plain function that calls library code), run with caching and atomic outputs.

`run_component` gives every component the same guarantees:
- the executor writes into a hidden sibling directory; only a finished output is renamed into place,
  so an interrupted run never leaves a partial output that looks complete;
- the output carries `METADATA_FILE` (component, parameters, config hash, input fingerprints), and a
  rerun whose parameters and inputs are unchanged is skipped; any change writes the output anew.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid

METADATA_FILE = "emorecog_metadata.json"
PARTIAL_MARK = ".partial-"


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


def fingerprint_path(path):
    """A fingerprint of an input artifact.

    An emorecog output is identified by its metadata (component, config hash and its own inputs); any
    other file or directory by the relative names, sizes and modification times of its files.
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
    else:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                stat = os.stat(full)
                relative = os.path.relpath(full, path)
                digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return "files:" + digest.hexdigest()[:16]


def read_metadata(output_dir):
    """The metadata of a finished component output, or None if there is none."""
    try:
        with open(os.path.join(output_dir, METADATA_FILE)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def _remove_stale_partials(output_dir):
    parent, base = os.path.split(os.path.abspath(output_dir))
    if not os.path.isdir(parent):
        return
    for name in os.listdir(parent):
        if name.startswith(f".{base}{PARTIAL_MARK}"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def run_component(spec, executor, parameters, inputs, output_dir, force=False):
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

    Returns:
        A `ComponentRun`.
    """
    if set(parameters) != set(spec.parameters):
        raise ValueError(
            f"{spec.name}: parameters {sorted(parameters)} do not match the spec {sorted(spec.parameters)}")
    if set(inputs) != set(spec.inputs):
        raise ValueError(f"{spec.name}: inputs {sorted(inputs)} do not match the spec {sorted(spec.inputs)}")
    output_dir = os.path.abspath(output_dir)
    input_fingerprints = {name: fingerprint_path(path) for name, path in inputs.items()}
    expected = {
        "component": spec.name,
        "config_hash": config_hash(spec.name, parameters),
        "input_fingerprints": input_fingerprints,
    }
    existing = read_metadata(output_dir)
    if not force and existing and all(existing.get(key) == value for key, value in expected.items()):
        return ComponentRun(output_dir, skipped=True, metadata=existing)

    _remove_stale_partials(output_dir)
    parent, base = os.path.split(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging_dir = os.path.join(parent, f".{base}{PARTIAL_MARK}{uuid.uuid4().hex[:8]}")
    os.makedirs(staging_dir)
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
        }
        with open(os.path.join(staging_dir, METADATA_FILE), "w") as handle:
            json.dump(metadata, handle, indent=2, default=str)
        _replace_directory(staging_dir, output_dir)
    except BaseException:
        shutil.rmtree(staging_dir, ignore_errors=True)
        raise
    return ComponentRun(output_dir, skipped=False, metadata=metadata)


def _replace_directory(new_dir, target_dir):
    """Move `new_dir` to `target_dir`; an existing target is moved aside first and then deleted."""
    if os.path.exists(target_dir):
        parent, base = os.path.split(target_dir)
        retired = os.path.join(parent, f".{base}{PARTIAL_MARK}old-{uuid.uuid4().hex[:8]}")
        os.rename(target_dir, retired)
        os.rename(new_dir, target_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(new_dir, target_dir)


def _version():
    from emorecog import __version__

    return __version__
