"""Per-epoch validation on the eval split with the figures model selection needs (macro F1 above all)."""

import keras
import numpy as np

from emorecog.evaluation import metrics, model_outputs


class EvalSplitMetrics(keras.callbacks.Callback):
    """At each epoch end, runs the model (inference mode) over the eval split and adds to the logs:

        val_accuracy, val_f1_macro, val_balanced_accuracy   (`emorecog.evaluation.metrics`)
        val_classification_loss   mean of -log p(true class)
        val_glimpses              mean glimpses used per sample

    Macro F1 is not a mean over batches, so it is computed from all eval predictions at once rather than
    as a Keras metric. Keras' TensorBoard callback writes `val_*` keys to its validation run.

    Args:
        dataset: tf.data.Dataset of (inputs, labels) over the eval split, not shuffled.
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self._predict = None

    def on_train_begin(self, logs=None):
        self._predict = model_outputs.inference_function(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        outputs = model_outputs.collect_model_outputs(self.model, self.dataset, predict=self._predict)
        logs.update(eval_logs(outputs))


def eval_logs(outputs):
    """The `val_*` figures of a `collect_model_outputs` result."""
    labels = outputs["label"].astype(np.int64)
    scores = metrics.classification_scores(labels, outputs["class_id"])
    true_class_probability = outputs["probabilities"][np.arange(labels.size), labels]
    return {
        "val_accuracy": scores["accuracy"],
        "val_f1_macro": scores["f1_macro"],
        "val_balanced_accuracy": scores["balanced_accuracy"],
        "val_classification_loss": float(-np.mean(np.log(np.clip(true_class_probability, 1e-7, 1.0)))),
        "val_glimpses": float(np.mean(outputs["glimpse_count"])),
    }
