"""Export a trained model as a SavedModel with the documented serving signatures.

Uses `keras.export.ExportArchive` with named `tf.TensorSpec`s so the signature inputs keep their schema
names (`model.export` would call a subclassed model's input `args_0`). The endpoints are traced under a
CPU device scope, so the graph holds no cuDNN-only kernels whatever device trained the model, and the
model runs in inference mode (policy mean, no dropout), so the graph holds no random ops; both are
checked after writing and the export fails rather than leave a model TF Serving would serve wrongly.
Every signature refuses inputs outside the contract (wrong shapes, non-finite EEG, face_present not 0/1:
`input_checks`) with an InvalidArgumentError naming the input, instead of answering them.
"""

import contextlib
import io

from emorecog import features
from emorecog.serving import graph_ops
from emorecog.serving import signatures
from emorecog.serving.input_checks import with_input_checks


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

    sample_shape = record_schema.shape
    dense_specs = features.serving_input_signature(sample_shape)
    compact_specs = features.compact_serving_input_signature(record_schema)

    def serve_dense(eeg, face, face_present):
        # A restored signature does not check shapes by itself (nor does TF Serving): EnsureShape makes a
        # request of the wrong size fail with InvalidArgumentError naming the input, not give an answer.
        inputs = {key: tf.ensure_shape(value, dense_specs[key].shape, name=f"check_{key}_shape")
                  for key, value in zip(signatures.DENSE_INPUT_KEYS, (eeg, face, face_present))}
        return _selected_outputs(model(with_input_checks(inputs), training=False))

    def serve_examples(examples):
        # A client has no labels or context: only the model inputs are parsed (and required).
        decoded = features.decode_examples(examples, record_schema, model_inputs_only=True)
        return _selected_outputs(model(with_input_checks(features.model_inputs(decoded)), training=False))

    def serve_compact(eeg_band_energy, face_jpeg, face_present):
        energy, jpegs, present = (
            tf.ensure_shape(value, compact_specs[key].shape, name=f"check_{key}_shape")
            for key, value in zip(signatures.COMPACT_INPUT_KEYS, (eeg_band_energy, face_jpeg, face_present)))
        checked = with_input_checks({features.EEG_BAND_ENERGY_KEY: energy, features.FACE_PRESENT_KEY: present})
        inputs = {features.EEG_KEY: features.eeg_images(checked[features.EEG_BAND_ENERGY_KEY], record_schema),
                  features.FACE_KEY: features.decode_face_jpegs(jpegs, sample_shape),
                  features.FACE_PRESENT_KEY: checked[features.FACE_PRESENT_KEY]}
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

    op_types = graph_ops.saved_model_op_types(str(export_dir))
    forbidden = graph_ops.forbidden_op_types(op_types)
    if forbidden:
        raise RuntimeError(
            f"the exported graph in {export_dir} holds ops TF Serving must not run: {forbidden} "
            "(random ops mean the model is not in inference mode; Cudnn ops come from a GPU-only LSTM path)")
    return op_types


def _selected_outputs(outputs):
    import tensorflow as tf

    missing = [key for key in signatures.OUTPUT_KEYS if key not in outputs]
    if missing:
        raise ValueError(f"the model's outputs lack {missing}; it returned {sorted(outputs)}")
    return {key: tf.identity(outputs[key], name=key) for key in signatures.OUTPUT_KEYS}
