"""Pusher component: a blessed Trainer output -> `<base>/<model_name>/<version>/`, a SavedModel for TF Serving.

Spec:
    parameters  model_name, blessing (the Evaluator's decision, or {"forced": true})
    inputs      model: the Trainer output (<run_dir>/model)
    outputs     saved_model.pb, variables/, assets.extra/emorecog_model.json, assets.extra/schema.json (the
                record schema: how a client builds `serve_compact` inputs from a record)

The version folder is the component's output directory, so `run_component` writes it as a hidden staging
folder (`.N.partial-*`, a name TF Serving ignores) and renames it into place only when complete: a crash
never leaves a half version that TF Serving would load. Versions count up from 1; pushing a model that is
already a version (same Trainer output, same parameters) is skipped. The number is reserved atomically: a
version is written only under its lock and never replaced, so two concurrent exports get two versions.
"""

import dataclasses
import glob
import json
import os

from emorecog.components import component
from emorecog.output_folders import OutputBusyError, remove_abandoned_staging
from emorecog.output_lock import OutputLock

SPEC = component.ComponentSpec(
    name="Pusher",
    parameters=("model_name", "blessing"),
    inputs=("model",),
    outputs=("saved_model.pb", "variables", "assets.extra/emorecog_model.json", "assets.extra/schema.json"),
)

MODEL_INFO_FILE = os.path.join("assets.extra", "emorecog_model.json")
RECORD_SCHEMA_FILE = os.path.join("assets.extra", "schema.json")


class NotBlessedError(RuntimeError):
    """The run has no blessing from the Evaluator (or it was refused); --force overrides."""


def executor(parameters, inputs, output_dir):
    from emorecog import features
    from emorecog.serving import saved_model, signatures
    from emorecog.training.trained_model import load_trained_model

    _hide_gpus()
    model, training_config = load_trained_model(inputs["model"])
    record_schema = features.read_record_schema(os.path.join(inputs["model"], "schema.json"))
    shape = record_schema.shape
    op_types = saved_model.export_saved_model(model, record_schema, output_dir)
    with open(os.path.join(inputs["model"], "model_config.json")) as handle:
        model_config = json.load(handle)
    info = {
        "model_name": parameters["model_name"],
        "target": training_config["target"],
        "class_names": ["low", "high"],
        "sample_shape": dataclasses.asdict(shape),
        "record_schema_version": features.RECORD_SCHEMA_VERSION,
        "eeg_electrodes": list(record_schema.electrodes),
        "signatures": list(signatures.SIGNATURE_NAMES),
        "outputs": list(signatures.OUTPUT_KEYS),
        "model_config": model_config,
        "blessing": parameters["blessing"],
        "trained_model": inputs["model"],
    }
    preprocessing_path = os.path.join(inputs["model"], "preprocessing.json")
    if os.path.isfile(preprocessing_path):
        with open(preprocessing_path) as handle:
            info["preprocessing"] = json.load(handle)
    os.makedirs(os.path.join(output_dir, "assets.extra"), exist_ok=True)
    with open(os.path.join(output_dir, MODEL_INFO_FILE), "w") as handle:
        json.dump(info, handle, indent=2)
    features.write_schema(os.path.join(output_dir, RECORD_SCHEMA_FILE), record_schema)
    return {"summary": {"model_name": parameters["model_name"], "num_op_types": len(op_types)}}


def run_blessing(run_dir):
    """The Evaluator's blessing for the CURRENT Trainer output of `run_dir`, or None if never evaluated.

    An evaluation of an earlier model of the same run (retrained since) does not count.
    """
    model_dir = os.path.join(run_dir, "model")
    current = component.fingerprint_path(model_dir)
    for metadata_path in sorted(glob.glob(os.path.join(run_dir, "evaluation", "*", component.METADATA_FILE))):
        evaluation_dir = os.path.dirname(metadata_path)
        metadata = component.read_metadata(evaluation_dir)
        if metadata.get("input_fingerprints", {}).get("model") != current:
            continue
        with open(os.path.join(evaluation_dir, "blessing.json")) as handle:
            return {"evaluation": evaluation_dir, **json.load(handle)}
    return None


def push_run(run_dir, base_dir, model_name, force=False):
    """Export the Trainer output of `run_dir` as the next version of `<base_dir>/<model_name>/`.

    Args:
        run_dir: a run directory with model/ (Trainer) and evaluation/<split>/ (Evaluator) outputs.
        base_dir: TF Serving's model base folder, e.g. saved_models/.
        model_name: the served model's name (REST path /v1/models/<model_name>).
        force: push although the run is not blessed (the version's metadata records that it was forced).

    Returns:
        The `ComponentRun` of the version folder (skipped=True when this model already is a version).

    Raises:
        NotBlessedError: without `force`, when the run was not evaluated or not blessed.
    """
    from emorecog.serving import saved_model

    model_dir = os.path.join(run_dir, "model")
    if not os.path.isfile(os.path.join(model_dir, "model.keras")):
        raise FileNotFoundError(f"{model_dir}/model.keras not found: train first (`emorecog train --out {run_dir}`)")
    blessing = run_blessing(run_dir)
    if not force:
        if blessing is None:
            raise NotBlessedError(
                f"{run_dir} has no evaluation of its current model: run "
                f"`emorecog evaluate --run {run_dir}` first (or export with --force)"
            )
        if not blessing["blessed"]:
            raise NotBlessedError(
                f"{run_dir} is not blessed ({'; '.join(blessing['reasons'])}); export with --force to push it anyway"
            )
    recorded = (
        {"forced": True, "blessed": bool(blessing and blessing["blessed"])}
        if force
        else {"forced": False, "blessed": True, "split": blessing["split"], "reasons": blessing["reasons"]}
    )
    parameters = {"model_name": model_name, "blessing": recorded}
    inputs = {"model": model_dir}
    model_base = os.path.join(base_dir, model_name)

    _remove_abandoned_versions(model_base)
    expected_hash = component.config_hash(SPEC.name, parameters)
    expected_inputs = {"model": component.fingerprint_path(model_dir)}
    for version in reversed(saved_model.version_numbers(model_base)):
        metadata = component.read_metadata(os.path.join(model_base, str(version))) or {}
        if metadata.get("config_hash") == expected_hash and metadata.get("input_fingerprints") == expected_inputs:
            return component.ComponentRun(
                os.path.join(os.path.abspath(model_base), str(version)), skipped=True, metadata=metadata
            )
    # Reserve a version number atomically: a version is written only by the process holding its lock, and
    # never replaced, so a concurrent export (or any existing entry of that number) moves us to the next.
    version = saved_model.next_version(model_base)
    while True:
        try:
            return component.run_component(
                SPEC, executor, parameters, inputs, os.path.join(model_base, str(version)), replace=False
            )
        except (OutputBusyError, component.OutputExistsError):
            version += 1


def _remove_abandoned_versions(model_base):
    """Delete the staging folders (`.N.partial-*`) that killed exports left, of any version number: the
    ones whose lock is free, so that no live export is writing them."""
    if not os.path.isdir(model_base):
        return
    names = {
        name[1:].split(component.PARTIAL_MARK, 1)[0]
        for name in os.listdir(model_base)
        if name.startswith(".") and component.PARTIAL_MARK in name
    }
    for name in sorted(names):
        try:
            with OutputLock(os.path.join(model_base, name)):
                remove_abandoned_staging(os.path.join(model_base, name))
        except OutputBusyError:
            continue  # a live export


def _hide_gpus():
    """Export from a CPU-only runtime when TensorFlow has not initialised its devices yet."""
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass  # devices already initialised in this process; export_saved_model traces on /CPU:0 anyway
