"""`EmotionModelBase`: what every emorecog model shares: inputs, the classifier head, the loss and the Keras steps."""

import abc

import keras

from emorecog import features

METRIC_NAMES = (
    "loss",
    "classification_loss",
    "penalty",
    "reinforce_loss",
    "baseline_loss",
    "policy_entropy",
    "reward",
    "glimpses",
    "accuracy",
)


class EmotionModelBase(keras.Model, metaclass=abc.ABCMeta):
    """Abstract base of `GlimpseModel` (glimpses), `FullSequenceModel` (every frame) and `SkimOnlyModel`.

    A subclass implements `forward(inputs, training, with_losses) -> (outputs, internals)`; this class turns
    it into Keras' `call`, `train_step`, `test_step` and `predict_step`. The loss of one batch is

        loss = CE - lambda * P + policy terms                                  (eq. 10, 15-17)

    where CE is the cross-entropy of the final prediction plus, with weight `step_classification_weight`,
    the mean cross-entropy of the same classifier after every step taken (deep supervision, ours), P is the
    inter-layer penalty of recurrent models (0 otherwise) and the policy terms (REINFORCE, the baseline's
    regression, the entropy bonus) come from `policy_losses`, zero for models without a policy.

    The classifier reads a feature vector (the attended state [H'; C'] of recurrent models) through dropout
    (training only) and a dense softmax layer over the two classes.

    Inputs (dict, keys from `emorecog.features`): eeg float32 [B, T, H, W, 3] (raw band energies; the per-band
    normalisation is inside), face uint8 [B, T, S, S, 3], face_present float32 [B, T].

    Args:
        use_eeg, use_face: which streams the model reads.
        dropout: rate on the classifier's input (training only).
        step_classification_weight: weight of the per-step cross-entropy.
        penalty_weight: lambda of eq. 10.
        penalty_warmup_steps: lambda rises linearly from 0 over this many optimiser steps (0: from the start).
        band_mean, band_std: per-band statistics of the raw EEG band energies (training split).
        seed: dropout and, in subclasses, policy sampling.
    """

    # No defaults: `ModelConfig` is the one place hyper-parameters have values (`models.builder` passes them).
    def __init__(
        self,
        use_eeg,
        use_face,
        dropout,
        step_classification_weight,
        penalty_weight,
        penalty_warmup_steps,
        band_mean,
        band_std,
        seed,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (use_eeg or use_face):
            raise ValueError(f"{type(self).__name__} needs at least one stream: use_eeg and use_face are both False")
        self.use_eeg = bool(use_eeg)
        self.use_face = bool(use_face)
        self.dropout = float(dropout)
        self.step_classification_weight = float(step_classification_weight)
        self.penalty_weight = float(penalty_weight)
        self.penalty_warmup_steps = int(penalty_warmup_steps)
        self.band_mean = tuple(float(value) for value in band_mean)
        self.band_std = tuple(float(value) for value in band_std)
        self.seed = int(seed)
        self.classifier_dropout = keras.layers.Dropout(self.dropout, seed=self.seed + 1, name="classifier_dropout")
        self.classifier = keras.layers.Dense(features.NUM_CLASSES, name="classifier")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES if name != "accuracy"}
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    # ----------------------------------------------------------------------------------------- building
    def build(self, inputs_shape):
        """Create every weight by running the model once on zeros of the given shapes (batch 1)."""
        import numpy as np

        if not isinstance(inputs_shape, dict) or set(features.MODEL_INPUT_KEYS) - set(inputs_shape):
            raise ValueError(
                f"{type(self).__name__} expects a dict of inputs with keys {features.MODEL_INPUT_KEYS}, "
                f"got shapes {inputs_shape}"
            )
        dtypes = {features.EEG_KEY: "float32", features.FACE_KEY: "uint8", features.FACE_PRESENT_KEY: "float32"}
        zeros = {key: np.zeros((1, *tuple(inputs_shape[key])[1:]), dtypes[key]) for key in features.MODEL_INPUT_KEYS}
        self.forward(zeros, training=False)
        self.built = True

    # --------------------------------------------------------------------------------------- the network
    def read_inputs(self, inputs):
        """Check the input dict and return (eeg float32, face, face_present float32) tensors.

        Raises:
            ValueError: a key is missing, or a tensor has the wrong rank or a frame count that disagrees
                with the EEG's (static shapes only; the message names the field).
        """
        import tensorflow as tf

        if not isinstance(inputs, dict):
            raise ValueError(
                f"{type(self).__name__} takes a dict with keys {features.MODEL_INPUT_KEYS}, got {type(inputs).__name__}"
            )
        missing = [key for key in features.MODEL_INPUT_KEYS if key not in inputs]
        if missing:
            raise ValueError(
                f"{type(self).__name__} inputs lack {missing}: expected keys {features.MODEL_INPUT_KEYS}, "
                f"got {sorted(inputs)}"
            )
        eeg = tf.cast(tf.convert_to_tensor(inputs[features.EEG_KEY]), tf.float32)
        face = tf.convert_to_tensor(inputs[features.FACE_KEY])
        face_present = tf.cast(tf.convert_to_tensor(inputs[features.FACE_PRESENT_KEY]), tf.float32)
        expected = {
            features.EEG_KEY: (eeg, 5, "[B, T, H, W, 3]"),
            features.FACE_KEY: (face, 5, "[B, T, S, S, 3]"),
            features.FACE_PRESENT_KEY: (face_present, 2, "[B, T]"),
        }
        for key, (tensor, rank, description) in expected.items():
            if tensor.shape.rank != rank:
                raise ValueError(f"input '{key}' must be {description}, got shape {tensor.shape}")
        if eeg.shape[-1] != 3 or face.shape[-1] != 3:
            raise ValueError(
                f"inputs '{features.EEG_KEY}' and '{features.FACE_KEY}' need 3 channels last, got "
                f"shapes {eeg.shape} and {face.shape}"
            )
        frame_counts = {key: tensor.shape[1] for key, (tensor, _, _) in expected.items()}
        if len({count for count in frame_counts.values() if count is not None}) > 1:
            raise ValueError(f"inputs disagree on the number of frames T: {frame_counts}")
        # Inputs are data, never trained: without this, gradients would build a zero gradient of the whole
        # [B, T, ...] input at every step that reads it (the backward pass of `gather`), a cost growing with T.
        return tf.stop_gradient(eeg), face, tf.stop_gradient(face_present)

    def classify(self, classifier_input, training=False):
        """Logits [..., 2] from the classifier's input features [..., F]."""
        return self.classifier(self.classifier_dropout(classifier_input, training=training))

    @staticmethod
    def model_outputs(logits, glimpse_frames, glimpse_count, band_weights, layer_weights):
        """The documented output dict."""
        return {
            "probabilities": keras.ops.softmax(logits, axis=-1),
            "class_id": keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int64"),
            "glimpse_frames": glimpse_frames,
            "glimpse_count": glimpse_count,
            "band_weights": band_weights,
            "layer_weights": layer_weights,
        }

    @abc.abstractmethod
    def forward(self, inputs, training=False, with_losses=True):
        """(outputs dict, internals dict).

        With `with_losses`, internals hold what `loss_terms` needs: "logits" [E, 2] (E = episodes, a
        multiple of the batch; see "episodes_per_sample"), "step_logits" [E, N, 2] or None, "step_mask" [E, N],
        "penalty" [E], "glimpse_count" [E] and whatever `policy_losses` reads. Without it (the inference path of
        `call`) internals hold the logits only.
        """
        raise NotImplementedError

    def call(self, inputs, training=None):
        outputs, _ = self.forward(inputs, training=bool(training), with_losses=False)
        return outputs

    # -------------------------------------------------------------------------------------------- losses
    def policy_losses(self, internals, labels):
        """REINFORCE and baseline losses, the policy's entropy and its weighted bonus (subtracted from the
        loss), and the per-episode reward: zeros here, where no policy chooses frames."""
        zero = keras.ops.zeros((), "float32")
        glimpses = keras.ops.cast(internals["glimpse_count"], "float32")
        return {
            "reinforce_loss": zero,
            "baseline_loss": zero,
            "policy_entropy": zero,
            "entropy_bonus": zero,
            "reward": keras.ops.zeros_like(glimpses),
        }

    def loss_terms(self, internals, labels, sample_weight=None):
        """Every loss term of one batch (scalars) as a dict; "loss" is the total."""
        episodes_per_sample = internals.get("episodes_per_sample", 1)
        labels = keras.ops.repeat(keras.ops.cast(keras.ops.reshape(labels, (-1,)), "int32"), episodes_per_sample)
        logits = internals["logits"]
        cross_entropy = keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        if sample_weight is None:
            classification_loss = keras.ops.mean(cross_entropy)
        else:
            sample_weight = keras.ops.repeat(
                keras.ops.cast(keras.ops.reshape(sample_weight, (-1,)), "float32"), episodes_per_sample
            )
            classification_loss = keras.ops.sum(cross_entropy * sample_weight) / keras.ops.maximum(
                keras.ops.sum(sample_weight), 1e-8
            )
        if internals.get("step_logits") is not None:
            step_logits = internals["step_logits"]
            step_labels = keras.ops.broadcast_to(labels[:, None], keras.ops.shape(step_logits)[:2])
            step_cross_entropy = keras.ops.sparse_categorical_crossentropy(step_labels, step_logits, from_logits=True)
            step_mask = keras.ops.cast(internals["step_mask"], "float32")
            per_episode = keras.ops.sum(step_cross_entropy * step_mask, axis=1) / keras.ops.maximum(
                keras.ops.sum(step_mask, axis=1), 1.0
            )
            classification_loss = classification_loss + self.step_classification_weight * keras.ops.mean(per_episode)
        penalty = keras.ops.mean(internals["penalty"])
        policy = self.policy_losses(internals, labels)
        loss = (
            classification_loss
            - self.current_penalty_weight() * penalty
            + policy["reinforce_loss"]
            + policy["baseline_loss"]
            - policy["entropy_bonus"]
        )
        return {
            "loss": loss,
            "classification_loss": classification_loss,
            "penalty": penalty,
            "reinforce_loss": policy["reinforce_loss"],
            "baseline_loss": policy["baseline_loss"],
            "policy_entropy": policy["policy_entropy"],
            "reward": keras.ops.mean(policy["reward"]),
            "glimpses": keras.ops.mean(keras.ops.cast(internals["glimpse_count"], "float32")),
            "labels": labels,
        }

    def current_penalty_weight(self):
        """lambda after the warm-up's share of optimiser steps so far (the full lambda without an optimizer).

        Why a warm-up: at the start the penalty's gradient is far larger than the classifier's, so it makes
        the inter-layer attention one-hot within a few dozen steps, on whichever layer it happens to favour
        before any layer carries information; with L = 3 the classifier then learns through the deepest
        layers only, and on a small training set (the synthetic demo: 7 steps per epoch) it stayed at
        chance for many epochs. Ramping lambda in keeps eq. 10 once training is under way.
        """
        if self.penalty_warmup_steps <= 0 or getattr(self, "optimizer", None) is None:
            return self.penalty_weight
        progress = keras.ops.cast(self.optimizer.iterations, "float32") / float(self.penalty_warmup_steps)
        return self.penalty_weight * keras.ops.minimum(progress, 1.0)

    # ------------------------------------------------------------------------------------ Keras interface
    def _update_metrics(self, losses, probabilities):
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        self.accuracy_metric.update_state(losses["labels"], probabilities)
        return {metric.name: metric.result() for metric in self.metrics}

    @property
    def metrics(self):
        return [*self.trackers.values(), self.accuracy_metric]

    def train_step(self, data):
        import tensorflow as tf

        inputs, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            outputs, internals = self.forward(inputs, training=True)
            losses = self.loss_terms(internals, labels, sample_weight)
            # Replica gradients are summed under tf.distribute: divide so the step uses the global mean.
            scaled_loss = losses["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = self.optimizer.scale_loss(scaled_loss)
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._update_metrics(losses, outputs["probabilities"])

    def test_step(self, data):
        inputs, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        outputs, internals = self.forward(inputs, training=False)
        losses = self.loss_terms(internals, labels, sample_weight)
        return self._update_metrics(losses, outputs["probabilities"])

    def predict_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs, _ = self.forward(inputs, training=False, with_losses=False)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "use_eeg": self.use_eeg,
                "use_face": self.use_face,
                "dropout": self.dropout,
                "step_classification_weight": self.step_classification_weight,
                "penalty_weight": self.penalty_weight,
                "penalty_warmup_steps": self.penalty_warmup_steps,
                "band_mean": list(self.band_mean),
                "band_std": list(self.band_std),
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
