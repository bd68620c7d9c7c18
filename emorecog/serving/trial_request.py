"""One trial -> a serialized tf.Example -> a prediction or a TF Serving REST body (for `emorecog predict`).

TF Serving REST request bodies (`POST /v1/models/<name>:predict`) for the exported signatures.

Two forms (TF Serving's REST API):
    row       {"signature_name": ..., "instances": [{"eeg": [...], "face": [...], "face_present": [...]}, ...]}
    columnar  {"signature_name": ..., "inputs": {"eeg": [[...]], "face": [[...]], "face_present": [[...]]}}
For `serve_examples` the serialized records travel base64-encoded as {"b64": "..."}; that body is much
smaller than the dense one, because the face crops stay JPEG. `serve_compact` is the smallest that a client
can build from its own data: per-electrode band energies as numbers and the JPEG crops as {"b64": ...}
(an empty string for a frame without a face). Bodies are written without spaces (`write_request_body`).
"""

import base64
import json
import os
import uuid

import numpy as np

from emorecog import features
from emorecog.output_folders import OutputFolderError, check_separate_from_inputs
from emorecog.serving import saved_model, signatures
from emorecog.serving.signatures import check_input_values

MODEL_INFO_FILE = os.path.join("assets.extra", "emorecog_model.json")
RECORD_SCHEMA_FILE = os.path.join("assets.extra", "schema.json")


def model_info(model_path):
    """The emorecog description stored with an export (target, sample shape, preprocessing, ...)."""
    export_dir = saved_model.resolve_saved_model_dir(model_path)
    path = os.path.join(export_dir, MODEL_INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: {export_dir} was not exported by `emorecog export`")
    with open(path) as handle:
        return json.load(handle)


def record_schema(model_path):
    """The `features.RecordSchema` an export was trained with (shape, electrodes, EEG operator)."""
    export_dir = saved_model.resolve_saved_model_dir(model_path)
    path = os.path.join(export_dir, RECORD_SCHEMA_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: {export_dir} was exported by an emorecog without the record schema (export it again)"
        )
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
        raise ValueError(
            f"{path}: not a readable GZIP TFRecord file ({type(error).__name__}: {first_line}); expected "
            "a record file written by emorecog ingest"
        ) from None
    raise ValueError(f"{path} holds fewer than {index + 1} records: no record at index {index}")


def record_from_deap(model_path, deap_dir, subject, trial):
    """Read one DEAP trial and preprocess it with the settings the exported model was trained with."""
    from emorecog.datasets.dataset_reader import LabelRule
    from emorecog.datasets.deap import DeapDataset
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor

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
        raise ValueError(
            f"{deap_dir} {subject} trial {trial}: preprocessing gives EEG band energies "
            f"{sample[features.EEG_BAND_ENERGY_KEY].shape}, the model takes {expected} "
            "(trials of another duration?)"
        )
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
        raise ValueError(
            f"{where}: {one_line_message(error)}; the model {model_path} takes samples of "
            f"{shape.num_frames} frames, band energies of {schema.num_electrodes} electrodes and "
            f"{shape.face_size}x{shape.face_size} face crops (its {RECORD_SCHEMA_FILE})"
        ) from None
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
        return examples_request_body([record], request_format)
    if signature == signatures.SERVE_COMPACT:
        return compact_request_body(compact_inputs(record, record_schema(model_path)), request_format)
    return dense_request_body({key: decoded[key] for key in signatures.DENSE_INPUT_KEYS}, request_format)


def predict_record(model_path, record, where):
    """Run the SavedModel's `serving_default` on one record; returns a JSON-ready description."""
    info = model_info(model_path)
    decoded = dense_inputs(model_path, record, where)
    client = saved_model.SavedModelClient(model_path)
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
        "band_weights_mean": dict(
            zip(features.EEG_BANDS, np.round(outputs["band_weights"][0][:count].mean(axis=0), 4).tolist())
        )
        if count
        else {},
    }


def describe_prediction(result):
    """Human-readable lines of a `predict_record` result."""
    probabilities = ", ".join(f"{name} {value:.3f}" for name, value in result["probabilities"].items())
    return "\n".join(
        [
            f"model      {result['model']}",
            f"trial      {result['subject']} video {result['trial']}",
            f"{result['target']:<10} predicted {result['predicted']} ({probabilities}); rated {result['true_label']}",
            f"glimpses   {result['glimpse_count']} at frames {result['glimpse_frames']}",
            f"           = seconds {result['glimpse_seconds']}",
            f"band attention (mean over glimpses) {result['band_weights_mean']}",
        ]
    )


# ------------------------------------------------------------------------------------------ REST bodies
REQUEST_FORMATS = ("instances", "inputs")
# Every body written here starts so (its first key), which is how an earlier one is recognised.
_BODY_START = b'{"signature_name":'


def write_request_body(path, body, inputs=None):
    """Write a REST body to `path` as compact JSON (no spaces: a 60 s trial's numbers are ~10 % of the text),
    atomically (temporary sibling, then rename: a reader never sees half a body).

    An existing file is replaced only if it is a request body written here; the file never lies inside an
    input (e.g. the model or DEAP folder).

    Args:
        path: the JSON file.
        body: a dict from `dense_request_body`, `compact_request_body` or `examples_request_body`.
        inputs: {name: path} of what the body was made from.

    Raises:
        OutputFolderError: `path` overlaps an input, or is something else than an earlier request body.
    """
    check_separate_from_inputs(path, inputs or {})
    if os.path.lexists(path):
        start = b""
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                start = handle.read(len(_BODY_START))
        if start != _BODY_START:
            raise OutputFolderError(
                f"{path} exists and is not a REST request body emorecog wrote; choose another file "
                "(emorecog replaces only what it wrote)"
            )
    temporary = os.path.join(
        os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}"
    )
    try:
        with open(temporary, "w") as handle:
            json.dump(body, handle, separators=(",", ":"))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def dense_request_body(inputs, request_format="instances"):
    """A REST body for `serving_default`.

    Args:
        inputs: dict of arrays with a leading batch dimension, keyed by the schema's input names.
        request_format: "instances" (row) or "inputs" (columnar).

    Returns:
        A JSON-ready dict.
    """
    _check_format(request_format)
    missing = [key for key in signatures.DENSE_INPUT_KEYS if key not in inputs]
    if missing:
        raise ValueError(f"inputs lack {missing}; the serving_default signature takes {signatures.DENSE_INPUT_KEYS}")
    columns = {key: _json_values(np.asarray(inputs[key])) for key in signatures.DENSE_INPUT_KEYS}
    body = {"signature_name": signatures.SERVING_DEFAULT}
    if request_format == "inputs":
        body["inputs"] = columns
    else:
        batch = len(columns[signatures.DENSE_INPUT_KEYS[0]])
        body["instances"] = [{key: columns[key][row] for key in columns} for row in range(batch)]
    return body


def compact_request_body(inputs, request_format="instances"):
    """A REST body for `serve_compact`.

    Args:
        inputs: dict with a leading batch dimension: `eeg_band_energy` float [B, T, C, 3], `face_jpeg`
            [B, T] of JPEG bytes (b"" = black frame), `face_present` [B, T].
        request_format: "instances" (row) or "inputs" (columnar).
    """
    _check_format(request_format)
    missing = [key for key in signatures.COMPACT_INPUT_KEYS if key not in inputs]
    if missing:
        raise ValueError(
            f"inputs lack {missing}; the {signatures.SERVE_COMPACT} signature takes {signatures.COMPACT_INPUT_KEYS}"
        )
    energy_key, jpeg_key, present_key = signatures.COMPACT_INPUT_KEYS
    columns = {
        energy_key: _json_values(np.asarray(inputs[energy_key], dtype=np.float32)),
        jpeg_key: [
            [{"b64": base64.b64encode(bytes(jpeg)).decode("ascii")} for jpeg in row] for row in inputs[jpeg_key]
        ],
        present_key: _json_values(np.asarray(inputs[present_key], dtype=np.float32)),
    }
    body = {"signature_name": signatures.SERVE_COMPACT}
    if request_format == "inputs":
        body["inputs"] = columns
    else:
        body["instances"] = [{key: columns[key][row] for key in columns} for row in range(len(columns[energy_key]))]
    return body


def examples_request_body(serialized_examples, request_format="instances"):
    """A REST body for `serve_examples`: serialized tf.train.Example bytes as {"b64": ...} values."""
    _check_format(request_format)
    encoded = [{"b64": base64.b64encode(record).decode("ascii")} for record in serialized_examples]
    body = {"signature_name": signatures.SERVE_EXAMPLES}
    if request_format == "inputs":
        body["inputs"] = {signatures.EXAMPLES_INPUT_KEY: encoded}
    else:
        body["instances"] = [{signatures.EXAMPLES_INPUT_KEY: value} for value in encoded]
    return body


def _json_values(array):
    if np.issubdtype(array.dtype, np.floating):
        # The shortest decimal that reads back as the same float32: a third of the text of float64 reprs.
        return array.astype(np.float32).astype(str).astype(np.float64).tolist()
    return array.tolist()


def _check_format(request_format):
    if request_format not in REQUEST_FORMATS:
        raise ValueError(f"unknown REST request format {request_format!r}: expected one of {REQUEST_FORMATS}")
