"""One trial -> a serialized tf.Example -> a prediction or a TF Serving REST body (for `emorecog predict`)."""

import json
import os

import numpy as np

from emorecog import features
from emorecog.serving import model_versions
from emorecog.serving import rest_request
from emorecog.serving import signatures
from emorecog.serving.input_checks import check_input_values

MODEL_INFO_FILE = os.path.join("assets.extra", "emorecog_model.json")
RECORD_SCHEMA_FILE = os.path.join("assets.extra", "schema.json")


def model_info(model_path):
    """The emorecog description stored with an export (target, sample shape, preprocessing, ...)."""
    export_dir = model_versions.resolve_saved_model_dir(model_path)
    path = os.path.join(export_dir, MODEL_INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {export_dir} was not exported by `emorecog export`")
    with open(path) as handle:
        return json.load(handle)


def record_schema(model_path):
    """The `features.RecordSchema` an export was trained with (shape, electrodes, EEG operator)."""
    export_dir = model_versions.resolve_saved_model_dir(model_path)
    path = os.path.join(export_dir, RECORD_SCHEMA_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {export_dir} was exported by an emorecog without the record "
                                "schema (export it again)")
    return features.read_record_schema(path)


def record_from_tfrecord(path, index):
    """The serialized record number `index` (0-based) of a GZIP TFRecord file."""
    import tensorflow as tf

    if index < 0:
        raise ValueError(f"--index must be >= 0, got {index}")
    try:
        for position, record in enumerate(tf.data.TFRecordDataset(path, compression_type="GZIP")):
            if position == index:
                return record.numpy()
    except tf.errors.OpError as error:
        first_line = (error.message.strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: not a readable GZIP TFRecord file ({type(error).__name__}: {first_line}); expected "
                         "a record file written by emorecog ingest") from None
    raise ValueError(f"{path} holds fewer than {index + 1} records: no record at index {index}")


def record_from_deap(model_path, deap_dir, subject, trial):
    """Read one DEAP trial and preprocess it with the settings the exported model was trained with."""
    from emorecog.datasets.deap import DeapDataset
    from emorecog.datasets.label_rule import LabelRule
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig
    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor

    info = model_info(model_path)
    preprocessing = info.get("preprocessing")
    if not preprocessing:
        raise ValueError(f"{model_path}: the export records no preprocessing settings; use --tfrecord instead")
    label_rule = LabelRule(**preprocessing["label_rule"]) if preprocessing.get("label_rule") else None
    dataset = DeapDataset(deap_dir, label_rule=label_rule)
    if subject not in dataset.subjects():
        raise ValueError(f"{deap_dir}: no subject {subject!r} (subjects: {', '.join(dataset.subjects())})")
    config = PreprocessConfig(**preprocessing["preprocess_config"])
    with TrialPreprocessor(config) as preprocessor:
        sample, _ = preprocessor.process(dataset.read_trial(subject, trial), dataset=dataset.name)
    expected = record_schema(model_path).band_energy_shape
    if sample[features.EEG_BAND_ENERGY_KEY].shape != expected:
        raise ValueError(f"{deap_dir} {subject} trial {trial}: preprocessing gives EEG band energies "
                         f"{sample[features.EEG_BAND_ENERGY_KEY].shape}, the model takes {expected} "
                         "(trials of another duration?)")
    return features.encode_example(sample)


def dense_inputs(model_path, record, where):
    """Decode a serialized record into the model inputs (batch of 1) plus its context, checked against the
    model's record schema and the serving contract's values (ValueError naming `where` otherwise)."""
    import tensorflow as tf

    schema = record_schema(model_path)
    try:
        decoded = features.decode_examples([record], schema)
    except tf.errors.InvalidArgumentError as error:
        from emorecog.user_errors import one_line_message

        shape = schema.shape
        raise ValueError(f"{where}: {one_line_message(error)}; the model {model_path} takes samples of "
                         f"{shape.num_frames} frames, band energies of {schema.num_electrodes} electrodes and "
                         f"{shape.face_size}x{shape.face_size} face crops (its {RECORD_SCHEMA_FILE})") from None
    decoded = {key: value.numpy() for key, value in decoded.items()}
    check_input_values(decoded, where)
    return decoded


def compact_inputs(record, schema):
    """The `serve_compact` inputs of a serialized record (batch of 1): its band energies and JPEG crops as
    stored, with an empty string for frames without a face (their stored crop is black).

    Args:
        record: serialized tf.train.Example of ExampleGen.
        schema: the `features.RecordSchema` of the model (`record_schema(model_path)`).
    """
    import tensorflow as tf

    example = tf.train.Example.FromString(record)
    feature = example.features.feature
    version = feature[features.SCHEMA_VERSION_KEY].int64_list.value[0] if features.SCHEMA_VERSION_KEY in feature else 1
    if version != features.RECORD_SCHEMA_VERSION:
        raise features.schema_version_error(version, "the record")
    energy = np.frombuffer(feature[features.EEG_BAND_ENERGY_KEY].bytes_list.value[0], "<f4")
    present = np.asarray(feature[features.FACE_PRESENT_KEY].int64_list.value, np.float32)
    jpegs = [jpeg if flag else b"" for jpeg, flag in zip(feature[features.FACE_KEY].bytes_list.value, present)]
    return {
        features.EEG_BAND_ENERGY_KEY: energy.reshape(1, *schema.band_energy_shape),
        features.FACE_JPEG_KEY: [jpegs],
        features.FACE_PRESENT_KEY: present[None],
    }


def request_body(model_path, record, signature, request_format, where):
    """The TF Serving REST body for one record, for `signature` in `request_format` (record checked first)."""
    decoded = dense_inputs(model_path, record, where)
    if signature == signatures.SERVE_EXAMPLES:
        return rest_request.examples_request_body([record], request_format)
    if signature == signatures.SERVE_COMPACT:
        return rest_request.compact_request_body(compact_inputs(record, record_schema(model_path)), request_format)
    return rest_request.dense_request_body({key: decoded[key] for key in signatures.DENSE_INPUT_KEYS},
                                           request_format)


def predict_record(model_path, record, where):
    """Run the SavedModel's `serving_default` on one record; returns a JSON-ready description."""
    from emorecog.serving.saved_model_client import SavedModelClient

    info = model_info(model_path)
    decoded = dense_inputs(model_path, record, where)
    client = SavedModelClient(model_path)
    outputs = client.predict({key: decoded[key] for key in signatures.DENSE_INPUT_KEYS})
    count = int(outputs["glimpse_count"][0])
    frames = outputs["glimpse_frames"][0][:count]
    fps = int(decoded[features.FPS_KEY][0])
    target = info["target"]
    return {
        "model": client.export_dir,
        "subject": decoded[features.SUBJECT_KEY][0].decode(),
        "trial": int(decoded[features.TRIAL_KEY][0]),
        "target": target,
        "probabilities": {name: float(p) for name, p in zip(info["class_names"], outputs["probabilities"][0])},
        "predicted": info["class_names"][int(outputs["class_id"][0])],
        "true_label": info["class_names"][int(decoded[features.label_key(target)][0])],
        "glimpse_count": count,
        "glimpse_frames": [int(frame) for frame in frames],
        "glimpse_seconds": [round(float(frame) / fps, 3) for frame in frames],
        "band_weights_mean": dict(zip(features.EEG_BANDS,
                                      np.round(outputs["band_weights"][0][:count].mean(axis=0), 4).tolist()))
        if count else {},
    }


def describe_prediction(result):
    """Human-readable lines of a `predict_record` result."""
    probabilities = ", ".join(f"{name} {value:.3f}" for name, value in result["probabilities"].items())
    return "\n".join([
        f"model      {result['model']}",
        f"trial      {result['subject']} video {result['trial']}",
        f"{result['target']:<10} predicted {result['predicted']} ({probabilities}); rated {result['true_label']}",
        f"glimpses   {result['glimpse_count']} at frames {result['glimpse_frames']}",
        f"           = seconds {result['glimpse_seconds']}",
        f"band attention (mean over glimpses) {result['band_weights_mean']}",
    ])
