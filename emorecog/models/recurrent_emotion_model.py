"""What the glimpse model and the full-sequence baseline share: the recurrent step, the classifier, the loss."""

import keras

from emorecog import features
from emorecog.layers.glimpse_network import GlimpseNetwork
from emorecog.layers.inter_layer_self_attention import InterLayerSelfAttention, layer_variance_penalty
from emorecog.layers.stacked_lstm_core import StackedLSTMCore
from emorecog.models import reinforce

METRIC_NAMES = ("loss", "classification_loss", "penalty", "reinforce_loss", "baseline_loss", "reward", "glimpses",
                "accuracy")


class RecurrentEmotionModel(keras.Model):
    """Base of `EmoRecogModel` and `FullSequenceModel`; not used on its own.

    One recurrent step, given the glimpsed frame's features and location f_n:

        g_n              = GlimpseNetwork.fuse(...)                         (eq. 1-2, shared first LSTM layer)
        (H_n, C_n)       = StackedLSTMCore(g_n, (H_{n-1}, C_{n-1}))          (L layers)
        H'_n, C'_n, a, b = InterLayerSelfAttention(H_n, C_n)                 (eq. 3-7)

    The classifier reads the final [H'_N ; C'_N] (softmax over the two classes; C' is read so that the
    cell-state attention beta shapes the prediction and not only the penalty). The loss of one batch is

        loss = CE - lambda * P + REINFORCE + baseline MSE                   (eq. 10, 15-17)

    where CE adds, with weight `step_classification_weight`, the mean cross-entropy of the same
    classifier on the attended state after every step (deep supervision, ours; 0 = the paper's loss), and
    subclasses without a policy have no REINFORCE or baseline terms (they are reported as 0). The metric
    "classification_loss" is this combined CE; "loss" is the total.
    Subclasses implement `forward(inputs, training) -> (outputs, internals)`.

    Inputs (dict, keys from `emorecog.features`): eeg float32 [B, T, H, W, 3] (raw band energies; the
    per-band normalisation is inside), face uint8 [B, T, S, S, 3], face_present float32 [B, T].
    """

    def __init__(
        self,
        use_eeg=True,
        use_face=True,
        use_layer_attention=True,
        core_layers=3,
        hidden_size=64,
        glimpse_hidden_size=32,
        feature_size=64,
        band_feature_size=64,
        band_pool_size=2,
        face_filters=(16, 32),
        face_patch_size=4,
        location_embedding_size=16,
        attention_size=32,
        dropout=0.6,
        penalty_weight=1.0,
        step_classification_weight=0.0,
        reward_scale=1.0,
        reward_correct=1.0,
        reward_wrong=-1.0,
        sparsity_weight=-0.01,
        band_mean=(0.0, 0.0, 0.0),
        band_std=(1.0, 1.0, 1.0),
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.use_eeg = bool(use_eeg)
        self.use_face = bool(use_face)
        self.use_layer_attention = bool(use_layer_attention)
        self.core_layers = int(core_layers)
        self.hidden_size = int(hidden_size)
        self.glimpse_hidden_size = int(glimpse_hidden_size)
        self.feature_size = int(feature_size)
        self.band_feature_size = int(band_feature_size)
        self.band_pool_size = int(band_pool_size)
        self.face_filters = tuple(int(value) for value in face_filters)
        self.face_patch_size = int(face_patch_size)
        self.location_embedding_size = int(location_embedding_size)
        self.attention_size = int(attention_size)
        self.dropout = float(dropout)
        self.penalty_weight = float(penalty_weight)
        self.step_classification_weight = float(step_classification_weight)
        self.reward_scale = float(reward_scale)
        self.reward_correct = float(reward_correct)
        self.reward_wrong = float(reward_wrong)
        self.sparsity_weight = float(sparsity_weight)
        self.band_mean = tuple(float(value) for value in band_mean)
        self.band_std = tuple(float(value) for value in band_std)
        self.seed = int(seed)

        self.glimpse_network = GlimpseNetwork(
            feature_size=self.feature_size,
            band_feature_size=self.band_feature_size,
            band_pool_size=self.band_pool_size,
            glimpse_hidden_size=self.glimpse_hidden_size,
            location_embedding_size=self.location_embedding_size,
            face_filters=self.face_filters,
            face_patch_size=self.face_patch_size,
            use_eeg=self.use_eeg,
            use_face=self.use_face,
            band_mean=self.band_mean,
            band_std=self.band_std,
            name="glimpse_network",
        )
        self.core = StackedLSTMCore(self.hidden_size, self.core_layers, name="core")
        # With one core layer there is nothing to weigh: the attention (and its penalty) would be constant.
        self.layer_attention = (
            InterLayerSelfAttention(self.attention_size, name="layer_attention")
            if self.use_layer_attention and self.core_layers > 1 else None)
        self.classifier_dropout = keras.layers.Dropout(self.dropout, seed=self.seed + 1, name="classifier_dropout")
        self.classifier = keras.layers.Dense(features.NUM_CLASSES, name="classifier")

        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRIC_NAMES if name != "accuracy"}
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    # ----------------------------------------------------------------------------------------- building
    def build(self, inputs_shape):
        """Create every weight by running the model once on zeros of the given shapes (batch 1)."""
        import numpy as np

        if not isinstance(inputs_shape, dict) or set(features.MODEL_INPUT_KEYS) - set(inputs_shape):
            raise ValueError(f"{type(self).__name__} expects a dict of inputs with keys {features.MODEL_INPUT_KEYS}, "
                             f"got shapes {inputs_shape}")
        dtypes = {features.EEG_KEY: "float32", features.FACE_KEY: "uint8", features.FACE_PRESENT_KEY: "float32"}
        zeros = {key: np.zeros((1, *tuple(inputs_shape[key])[1:]), dtypes[key]) for key in features.MODEL_INPUT_KEYS}
        # The models call the glimpse network's halves (`encode`, `fuse`), not its `__call__`: build it here.
        stream_state_shape = (None, 2, self.glimpse_hidden_size)
        self.glimpse_network.build(
            zeros[features.EEG_KEY].shape, zeros[features.FACE_KEY].shape, zeros[features.FACE_PRESENT_KEY].shape,
            (None,), (None, self.hidden_size), stream_state_shape, stream_state_shape)
        self.forward(zeros, training=False)
        self.built = True

    # ------------------------------------------------------------------------------------- the recurrence
    def read_inputs(self, inputs):
        """Check the input dict and return (eeg float32, face, face_present float32) tensors.

        Raises:
            ValueError: a key is missing, or a tensor has the wrong rank or a frame count that disagrees
                with the EEG's (static shapes only; the message names the field).
        """
        import tensorflow as tf

        if not isinstance(inputs, dict):
            raise ValueError(f"{type(self).__name__} takes a dict with keys {features.MODEL_INPUT_KEYS}, "
                             f"got {type(inputs).__name__}")
        missing = [key for key in features.MODEL_INPUT_KEYS if key not in inputs]
        if missing:
            raise ValueError(f"{type(self).__name__} inputs lack {missing}: expected keys {features.MODEL_INPUT_KEYS}, "
                             f"got {sorted(inputs)}")
        eeg = tf.cast(tf.convert_to_tensor(inputs[features.EEG_KEY]), tf.float32)
        face = tf.convert_to_tensor(inputs[features.FACE_KEY])
        face_present = tf.cast(tf.convert_to_tensor(inputs[features.FACE_PRESENT_KEY]), tf.float32)
        expected = {features.EEG_KEY: (eeg, 5, "[B, T, H, W, 3]"), features.FACE_KEY: (face, 5, "[B, T, S, S, 3]"),
                    features.FACE_PRESENT_KEY: (face_present, 2, "[B, T]")}
        for key, (tensor, rank, description) in expected.items():
            if tensor.shape.rank != rank:
                raise ValueError(f"input '{key}' must be {description}, got shape {tensor.shape}")
        if eeg.shape[-1] != 3 or face.shape[-1] != 3:
            raise ValueError(f"inputs '{features.EEG_KEY}' and '{features.FACE_KEY}' need 3 channels last, got "
                             f"shapes {eeg.shape} and {face.shape}")
        frame_counts = {key: tensor.shape[1] for key, (tensor, _, _) in expected.items()}
        if len({count for count in frame_counts.values() if count is not None}) > 1:
            raise ValueError(f"inputs disagree on the number of frames T: {frame_counts}")
        return eeg, face, face_present

    def initial_states(self, batch):
        """Zero states: (summary_hidden, summary_cell, eeg_state, face_state, core_states)."""
        import tensorflow as tf

        summary = tf.zeros([batch, self.hidden_size])
        stream_state = tf.zeros([batch, 2, self.glimpse_hidden_size])
        core_states = tf.zeros([batch, self.core_layers, 2, self.hidden_size])
        return summary, summary, stream_state, stream_state, core_states

    def recurrent_step(self, band_features, face_features, face_present, location, summary_hidden, eeg_state,
                       face_state, core_states, training=False):
        """One step of glimpse fusion, core and inter-layer attention.

        Returns:
            (summary_hidden H'_n [B, r], summary_cell C'_n [B, r], eeg_state, face_state, core_states,
            band_weights [B, 3], layer_weights [B, 2, L]).
        """
        glimpse, eeg_state, face_state, band_weights = self.glimpse_network.fuse(
            band_features, face_features, face_present, location, summary_hidden, eeg_state, face_state,
            training=training)
        core_states = self.core(glimpse, core_states, training=training)
        hidden, cell = core_states[:, :, 0], core_states[:, :, 1]
        if self.layer_attention is not None:
            summary_hidden, summary_cell, hidden_weights, cell_weights = self.layer_attention(hidden, cell)
        else:
            summary_hidden, summary_cell = hidden[:, -1], cell[:, -1]
            top_layer = keras.ops.one_hot(keras.ops.full_like(hidden[:, 0, 0], self.core_layers - 1, "int32"),
                                          self.core_layers)
            hidden_weights = cell_weights = top_layer
        layer_weights = keras.ops.stack([hidden_weights, cell_weights], axis=1)
        return summary_hidden, summary_cell, eeg_state, face_state, core_states, band_weights, layer_weights

    def classify(self, summary_hidden, summary_cell, training=False):
        """Logits [B, 2] from the final attended state."""
        state = keras.ops.concatenate([summary_hidden, summary_cell], axis=-1)
        return self.classifier(self.classifier_dropout(state, training=training))

    def layer_penalty(self, layer_weights, step_mask):
        """P of eq. 8-9 per sample [B] (zeros without inter-layer attention: the weights are fixed)."""
        if self.layer_attention is None:
            return keras.ops.zeros_like(step_mask[:, 0])
        return layer_variance_penalty(layer_weights[:, :, 0], layer_weights[:, :, 1], step_mask)

    @staticmethod
    def model_outputs(logits, glimpse_frames, glimpse_count, band_weights, layer_weights):
        """The documented output dict."""
        probabilities = keras.ops.softmax(logits, axis=-1)
        return {
            "probabilities": probabilities,
            "class_id": keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int64"),
            "glimpse_frames": glimpse_frames,
            "glimpse_count": glimpse_count,
            "band_weights": band_weights,
            "layer_weights": layer_weights,
        }

    # ------------------------------------------------------------------------------------ Keras interface
    def forward(self, inputs, training=False, with_losses=True):
        """(outputs dict, internals dict).

        With `with_losses`, internals hold what the loss needs (logits, per-step logits and mask, penalty,
        glimpse count, the policy's log-probabilities, baselines and action mask); without it (the
        inference path of `call`) none of that is computed and internals hold the logits only.
        """
        raise NotImplementedError

    def call(self, inputs, training=None):
        outputs, _ = self.forward(inputs, training=bool(training), with_losses=False)
        return outputs

    def compute_losses(self, internals, labels, sample_weight=None):
        """Every loss term of one batch (scalars) plus the per-sample reward and correctness."""
        labels = keras.ops.cast(keras.ops.reshape(labels, (-1,)), "int32")
        logits = internals["logits"]
        cross_entropy = keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        if sample_weight is None:
            classification_loss = keras.ops.mean(cross_entropy)
        else:
            sample_weight = keras.ops.cast(keras.ops.reshape(sample_weight, (-1,)), "float32")
            classification_loss = keras.ops.sum(cross_entropy * sample_weight) / keras.ops.maximum(
                keras.ops.sum(sample_weight), 1e-8)
        if internals.get("step_logits") is not None:
            # Deep supervision: the classifier also reads the attended state after every glimpse taken.
            step_logits = internals["step_logits"]
            step_labels = keras.ops.broadcast_to(labels[:, None], keras.ops.shape(step_logits)[:2])
            step_cross_entropy = keras.ops.sparse_categorical_crossentropy(step_labels, step_logits, from_logits=True)
            step_mask = keras.ops.cast(internals["step_mask"], "float32")
            per_sample = keras.ops.sum(step_cross_entropy * step_mask, axis=1) / keras.ops.maximum(
                keras.ops.sum(step_mask, axis=1), 1.0)
            classification_loss = classification_loss + self.step_classification_weight * keras.ops.mean(per_sample)
        penalty = keras.ops.mean(internals["penalty"])
        correct = keras.ops.equal(keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32"), labels)
        reward = reinforce.episode_reward(correct, internals["glimpse_count"], self.reward_scale,
                                          self.reward_correct, self.reward_wrong, self.sparsity_weight)
        if internals.get("action_log_probs") is not None:
            reinforce_loss = reinforce.reinforce_loss(
                internals["action_log_probs"], internals["action_baselines"], reward, internals["action_mask"])
            baseline_loss = reinforce.baseline_loss(internals["action_baselines"], reward, internals["action_mask"])
        else:
            reinforce_loss = baseline_loss = keras.ops.zeros((), "float32")
        loss = classification_loss - self.penalty_weight * penalty + reinforce_loss + baseline_loss
        return {
            "loss": loss,
            "classification_loss": classification_loss,
            "penalty": penalty,
            "reinforce_loss": reinforce_loss,
            "baseline_loss": baseline_loss,
            "reward": keras.ops.mean(reward),
            "glimpses": keras.ops.mean(keras.ops.cast(internals["glimpse_count"], "float32")),
        }

    def _update_metrics(self, losses, labels, probabilities):
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        self.accuracy_metric.update_state(keras.ops.reshape(labels, (-1,)), probabilities)
        return {metric.name: metric.result() for metric in self.metrics}

    @property
    def metrics(self):
        return [*self.trackers.values(), self.accuracy_metric]

    def train_step(self, data):
        import tensorflow as tf

        inputs, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            outputs, internals = self.forward(inputs, training=True)
            losses = self.compute_losses(internals, labels, sample_weight)
            # Replica gradients are summed under tf.distribute: divide so the step uses the global mean.
            scaled_loss = losses["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = self.optimizer.scale_loss(scaled_loss)
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._update_metrics(losses, labels, outputs["probabilities"])

    def test_step(self, data):
        inputs, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        outputs, internals = self.forward(inputs, training=False)
        losses = self.compute_losses(internals, labels, sample_weight)
        return self._update_metrics(losses, labels, outputs["probabilities"])

    def predict_step(self, data):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        outputs, _ = self.forward(inputs, training=False, with_losses=False)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "use_eeg": self.use_eeg,
            "use_face": self.use_face,
            "use_layer_attention": self.use_layer_attention,
            "core_layers": self.core_layers,
            "hidden_size": self.hidden_size,
            "glimpse_hidden_size": self.glimpse_hidden_size,
            "feature_size": self.feature_size,
            "band_feature_size": self.band_feature_size,
            "band_pool_size": self.band_pool_size,
            "face_filters": list(self.face_filters),
            "face_patch_size": self.face_patch_size,
            "location_embedding_size": self.location_embedding_size,
            "attention_size": self.attention_size,
            "dropout": self.dropout,
            "penalty_weight": self.penalty_weight,
            "step_classification_weight": self.step_classification_weight,
            "reward_scale": self.reward_scale,
            "reward_correct": self.reward_correct,
            "reward_wrong": self.reward_wrong,
            "sparsity_weight": self.sparsity_weight,
            "band_mean": list(self.band_mean),
            "band_std": list(self.band_std),
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
