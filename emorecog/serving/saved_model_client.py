"""Run an exported emorecog SavedModel the way another TensorFlow app would: `tf.saved_model.load`."""

import numpy as np

from emorecog.serving import model_versions
from emorecog.serving import signatures


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
        self.export_dir = model_versions.resolve_saved_model_dir(path)
        self._loaded = tf.saved_model.load(self.export_dir)

    def predict(self, inputs):
        """`serving_default` on dense inputs (dict of arrays with a batch dimension) -> dict of NumPy."""
        import tensorflow as tf

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

        signature = self._loaded.signatures[signatures.SERVE_EXAMPLES]
        examples = tf.constant(list(serialized_examples), dtype=tf.string)
        return _to_numpy(signature(**{signatures.EXAMPLES_INPUT_KEY: examples}))


def _to_numpy(outputs):
    return {key: value.numpy() for key, value in outputs.items()}
