"""Run a Keras model in inference mode over a dataset and gather its outputs as NumPy arrays."""

import numpy as np

from emorecog import features


def inference_function(model):
    """`model(inputs, training=False)` as one tf.function (traced once per input shape, then reused)."""
    import tensorflow as tf

    return tf.function(lambda inputs: model(inputs, training=False), autograph=False, reduce_retracing=True)


def collect_model_outputs(model, dataset, predict=None):
    """Inference (`training=False`) over every batch of `dataset`, in the dataset's order.

    Runs on the calling process alone, outside any distribution strategy's replica context, so every
    worker of a multi-worker job can call it without collectives.

    Args:
        model: an emorecog Keras model (dict inputs -> dict outputs).
        dataset: a tf.data.Dataset of (inputs, labels) or (inputs, labels, context) batches, as made by
            `emorecog.datasets.tfrecord_reader.make_dataset`: `inputs` the model inputs, `labels` int [B], `context`
            a dict of per-sample values (subject, trial, ...) that are returned alongside.
        predict: an `inference_function(model)` to reuse across calls (None: make one, traced anew).

    Returns:
        A dict of NumPy arrays concatenated over batches: every model output, "label" [N] and every
        context key (strings decoded to str).
    """
    predict = predict or inference_function(model)
    gathered = {}
    for element in dataset:
        batch_inputs, batch_labels = element[0], element[1]
        context = element[2] if len(element) > 2 else {}
        outputs = predict(features.model_inputs(batch_inputs))
        rows = {key: value.numpy() for key, value in outputs.items()}
        rows["label"] = batch_labels.numpy()
        for key, value in context.items():
            rows[key] = _decoded(value.numpy())
        for key, value in rows.items():
            gathered.setdefault(key, []).append(value)
    if not gathered:
        raise ValueError("the dataset yielded no batches: is the split empty?")
    return {key: np.concatenate(values, axis=0) for key, values in gathered.items()}


def _decoded(array):
    if array.dtype.kind not in "OS":
        return array
    flat = [item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in array.reshape(-1)]
    return np.asarray(flat, dtype=str).reshape(array.shape)
