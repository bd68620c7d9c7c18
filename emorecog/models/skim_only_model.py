"""`SkimOnlyModel`: the classifier on the skim alone, to show what the glimpses add (an ablation)."""

import keras

from emorecog.layers.trial_skim import TrialSkim
from emorecog.models.emotion_model_base import EmotionModelBase


@keras.saving.register_keras_serializable(package="emorecog")
class SkimOnlyModel(EmotionModelBase):
    """Classify a trial from the `TrialSkim` of the glimpse model, without any glimpse.

        s_1..s_K = TrialSkim(EEG, face, face_present)
        p        = softmax(W [mean_k s_k ; max_k s_k] + b)

    The glimpse model's policy reads this skim to decide where to look; its classifier never does. If this
    ablation scores as well as the glimpse model, the glimpses add nothing on that data (the coarse
    statistics already answer); if it scores clearly lower, the answer needs the detail of the glimpsed
    frames. No glimpse is taken: glimpse_count is 0 and the glimpse traces hold one empty slot.

    Args:
        policy_segments, skim_size, skim_grid_size, skim_kernel_size: the skim's sizes (as in `GlimpseModel`).
        **kwargs: `EmotionModelBase`'s arguments.

    Returns:
        The keys of `GlimpseModel` with N_max = 1 and L = 1: probabilities [B, 2], class_id [B],
        glimpse_frames [B, 1] (-1), glimpse_count [B] (0), band_weights [B, 1, 3] (0), layer_weights
        [B, 1, 2, 1] (0).
    """

    def __init__(self, policy_segments, skim_size, skim_grid_size, skim_kernel_size, **kwargs):
        super().__init__(**kwargs)
        self.policy_segments = int(policy_segments)
        self.skim_size = int(skim_size)
        self.skim_grid_size = int(skim_grid_size)
        self.skim_kernel_size = int(skim_kernel_size)
        self.trial_skim = TrialSkim(
            self.skim_size,
            self.policy_segments,
            self.skim_grid_size,
            self.skim_kernel_size,
            use_eeg=self.use_eeg,
            use_face=self.use_face,
            band_mean=self.band_mean,
            band_std=self.band_std,
            name="trial_skim",
        )

    def forward(self, inputs, training=False, with_losses=True):
        import tensorflow as tf

        eeg, face, face_present = self.read_inputs(inputs)
        batch = tf.shape(eeg)[0]
        segment_features, _, available = self.trial_skim(eeg, face, face_present)
        weights = available[:, :, None]
        mean = tf.reduce_sum(segment_features * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
        maximum = tf.reduce_max(segment_features * weights, axis=1)  # ReLU features: empty segments give 0
        logits = self.classify(tf.concat([mean, maximum], axis=-1), training=training)
        outputs = self.model_outputs(
            logits,
            tf.fill([batch, 1], -1),
            tf.zeros([batch], tf.int32),
            tf.zeros([batch, 1, 3]),
            tf.zeros([batch, 1, 2, 1]),
        )
        if not with_losses:
            return outputs, {"logits": logits}
        return outputs, {
            "logits": logits,
            "step_logits": None,
            "step_mask": tf.zeros([batch, 1]),
            "penalty": tf.zeros([batch]),
            "glimpse_count": tf.zeros([batch], tf.int32),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "policy_segments": self.policy_segments,
                "skim_size": self.skim_size,
                "skim_grid_size": self.skim_grid_size,
                "skim_kernel_size": self.skim_kernel_size,
            }
        )
        return config
