"""A SavedModel on disk: export with the serving signatures, the op check, TF Serving's version folders, a client.

Export (`export_saved_model`): `keras.export.ExportArchive` with named `tf.TensorSpec`s so the signature inputs
keep their schema names (`model.export` would call a subclassed model's input `args_0`). The endpoints are
traced under a CPU device scope, so the graph holds no cuDNN-only kernels whatever device trained the model,
and the model runs in inference mode (policy mean, no dropout), so the graph holds no random ops; both are
checked after writing (`saved_model_op_types`, `forbidden_op_types`, `unregistered_op_types`) and the export
fails rather than leave a model TF Serving would serve wrongly. Every signature refuses inputs outside the
contract (wrong shapes, non-finite EEG, face_present not 0/1: `signatures.with_input_checks`) with an
InvalidArgumentError naming the input, instead of answering them.

Version folders: TF Serving's model layout is `<base>/<model_name>/<version>/saved_model.pb`. TF Serving
(file-system storage path source, default "latest" policy) reads a version number from every entry of the
model folder whose whole name is a base-10 64-bit integer (optional surrounding whitespace and minus sign),
and serves the highest one, whether or not that folder holds a loadable SavedModel: a higher, empty or
half-written version is what it tries to load. So emorecog writes a version as a hidden staging folder
(`.N.partial-*`, not a number, never considered) renamed into place when complete, and
`resolve_saved_model_dir` applies the same rule as the server: the served version, or an error if that
version would not load.

Client (`SavedModelClient`): runs an exported model the way another TensorFlow app would,
`tf.saved_model.load`.

This module imports nothing from emorecog at module level (the functions that need the package import it
inside), so `emorecog/testing/standalone_predict.py`, which runs where emorecog cannot be imported, loads it
by path for the version rule.
"""

import contextlib
import io
import os

import numpy as np

# ---------------------------------------------------------------------------------- version folders
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
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
    return sorted(
        version
        for version, name in version_entries(model_dir).items()
        if os.path.isfile(os.path.join(model_dir, name, "saved_model.pb"))
    )


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
        raise ValueError(
            f"{path} is a hidden staging folder (an unfinished or abandoned export), which TF Serving "
            "never serves; pass the model folder or a numbered version folder"
        )
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    entries = version_entries(path)
    if not entries:
        raise FileNotFoundError(
            f"{path} is neither a SavedModel (no saved_model.pb) nor a model folder with numbered versions "
            "(<model_name>/<version>/saved_model.pb)"
        )
    served = max(entries)
    version_dir = os.path.join(path, entries[served])
    if not os.path.isfile(os.path.join(version_dir, "saved_model.pb")):
        raise FileNotFoundError(
            f"{version_dir}: TF Serving would serve version {served}, the highest number in {path}, but it holds "
            "no saved_model.pb, so it would fail to load; remove or complete it (or pass a version folder)"
        )
    return version_dir


# ----------------------------------------------------------------------------------- graph op checks
def saved_model_op_types(export_dir):
    """Every op type in a SavedModel: its graph nodes and every function of its function library.

    Args:
        export_dir: a SavedModel directory (holding saved_model.pb).

    Returns:
        A sorted list of op type names, e.g. ["Add", "ConcatV2", ...].
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as handle:
        saved_model.ParseFromString(handle.read())
    op_types = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        op_types.update(node.op for node in graph.node)
        for function in graph.library.function:
            op_types.update(node.op for node in function.node_def)
        # Calls to library functions appear as op types named after the function: not ops.
        op_types.difference_update(function.signature.name for function in graph.library.function)
    return sorted(op_types)


def forbidden_op_types(op_types):
    """The op types among `op_types` that a served graph must not hold (random, cuDNN, tensorflow-io)."""
    from emorecog.serving.signatures import FORBIDDEN_OP_PREFIXES

    return sorted(op for op in op_types if op.startswith(FORBIDDEN_OP_PREFIXES))


def unregistered_op_types(op_types):
    """The op types that core TensorFlow does not register (custom kernels TF Serving lacks)."""
    from tensorflow.python.framework import op_def_registry

    return sorted(op for op in op_types if op_def_registry.get(op) is None)


# ------------------------------------------------------------------------------------------------ export
def export_saved_model(model, record_schema, export_dir):
    """Write `model` to `export_dir` as a SavedModel with `serving_default`, `serve_examples`, `serve_compact`.

    Args:
        model: a built emorecog Keras model (see the model contract: dict inputs, dict outputs).
        record_schema: the `emorecog.features.RecordSchema` of the data the model was trained on: its shape
            fixes the non-batch dimensions of the signatures, and its EEG interpolation matrix becomes a
            graph constant of `serve_examples` and `serve_compact` (band energies -> images).
        export_dir: directory to write (must not exist or be empty). Write into a staging directory and
            rename it to publish atomically (`emorecog.components.pusher` does).

    Returns:
        The sorted list of op types in the written graph.

    Raises:
        RuntimeError: the graph holds forbidden ops (random, cuDNN-only, tensorflow-io); the message
            lists them.
    """
    import keras
    import tensorflow as tf

    from emorecog import features
    from emorecog.serving import signatures
    from emorecog.serving.signatures import with_input_checks

    sample_shape = record_schema.shape
    dense_specs = features.serving_input_signature(sample_shape)
    compact_specs = features.compact_serving_input_signature(record_schema)

    def serve_dense(eeg, face, face_present):
        # A restored signature does not check shapes by itself (nor does TF Serving): EnsureShape makes a
        # request of the wrong size fail with InvalidArgumentError naming the input, not give an answer.
        inputs = {
            key: tf.ensure_shape(value, dense_specs[key].shape, name=f"check_{key}_shape")
            for key, value in zip(signatures.DENSE_INPUT_KEYS, (eeg, face, face_present))
        }
        return _selected_outputs(model(with_input_checks(inputs), training=False))

    def serve_examples(examples):
        # A client has no labels or context: only the model inputs are parsed (and required).
        decoded = features.decode_examples(examples, record_schema, model_inputs_only=True)
        return _selected_outputs(model(with_input_checks(features.model_inputs(decoded)), training=False))

    def serve_compact(eeg_band_energy, face_jpeg, face_present):
        energy, jpegs, present = (
            tf.ensure_shape(value, compact_specs[key].shape, name=f"check_{key}_shape")
            for key, value in zip(signatures.COMPACT_INPUT_KEYS, (eeg_band_energy, face_jpeg, face_present))
        )
        checked = with_input_checks({features.EEG_BAND_ENERGY_KEY: energy, features.FACE_PRESENT_KEY: present})
        inputs = {
            features.EEG_KEY: features.eeg_images(checked[features.EEG_BAND_ENERGY_KEY], record_schema),
            features.FACE_KEY: features.decode_face_jpegs(jpegs, sample_shape),
            features.FACE_PRESENT_KEY: checked[features.FACE_PRESENT_KEY],
        }
        return _selected_outputs(model(inputs, training=False))

    with tf.device("/CPU:0"):
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            name=signatures.SERVING_DEFAULT,
            fn=serve_dense,
            input_signature=[dense_specs[key] for key in signatures.DENSE_INPUT_KEYS],
        )
        archive.add_endpoint(
            name=signatures.SERVE_EXAMPLES,
            fn=serve_examples,
            input_signature=[tf.TensorSpec([None], tf.string, name=signatures.EXAMPLES_INPUT_KEY)],
        )
        archive.add_endpoint(
            name=signatures.SERVE_COMPACT,
            fn=serve_compact,
            input_signature=[compact_specs[key] for key in signatures.COMPACT_INPUT_KEYS],
        )
        # write_out prints its endpoint list to stdout; the caller reports what was written instead.
        with contextlib.redirect_stdout(io.StringIO()):
            archive.write_out(str(export_dir), verbose=False)

    op_types = saved_model_op_types(str(export_dir))
    forbidden = forbidden_op_types(op_types)
    if forbidden:
        raise RuntimeError(
            f"the exported graph in {export_dir} holds ops TF Serving must not run: {forbidden} "
            "(random ops mean the model is not in inference mode; Cudnn ops come from a GPU-only LSTM path)"
        )
    return op_types


def _selected_outputs(outputs):
    import tensorflow as tf

    from emorecog.serving import signatures

    missing = [key for key in signatures.OUTPUT_KEYS if key not in outputs]
    if missing:
        raise ValueError(f"the model's outputs lack {missing}; it returned {sorted(outputs)}")
    return {key: tf.identity(outputs[key], name=key) for key in signatures.OUTPUT_KEYS}


# ------------------------------------------------------------------------------------------------ client
class SavedModelClient:
    """Calls the signatures of an exported model (latest version of a model folder, or one version).

    Args:
        path: `saved_models/<name>` (its highest version is used) or `saved_models/<name>/<version>`.

    Example:
        >>> client = SavedModelClient("saved_models/emorecog")
        >>> outputs = client.predict({"eeg": eeg, "face": face, "face_present": present})
        >>> outputs["probabilities"].shape    # (B, 2)
    """

    def __init__(self, path):
        import tensorflow as tf

        self.path = path
        self.export_dir = resolve_saved_model_dir(path)
        self._loaded = tf.saved_model.load(self.export_dir)

    def predict(self, inputs):
        """`serving_default` on dense inputs (dict of arrays with a batch dimension) -> dict of NumPy."""
        import tensorflow as tf

        from emorecog.serving import signatures

        signature = self._loaded.signatures[signatures.SERVING_DEFAULT]
        specs = signature.structured_input_signature[1]
        tensors = {}
        for key, spec in specs.items():
            if key not in inputs:
                raise ValueError(f"{self.export_dir}: input '{key}' missing; the signature takes {sorted(specs)}")
            tensors[key] = tf.convert_to_tensor(np.asarray(inputs[key]), dtype=spec.dtype)
        return _to_numpy(signature(**tensors))

    def predict_examples(self, serialized_examples):
        """`serve_examples` on a list of serialized tf.train.Example strings -> dict of NumPy."""
        import tensorflow as tf

        from emorecog.serving import signatures

        signature = self._loaded.signatures[signatures.SERVE_EXAMPLES]
        examples = tf.constant(list(serialized_examples), dtype=tf.string)
        return _to_numpy(signature(**{signatures.EXAMPLES_INPUT_KEY: examples}))


def _to_numpy(outputs):
    return {key: value.numpy() for key, value in outputs.items()}
