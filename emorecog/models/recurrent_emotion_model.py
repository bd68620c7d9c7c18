"""What the glimpse model and the full-sequence baseline share: the recurrent step over glimpsed frames."""

import keras

from emorecog.layers.glimpse_network import GlimpseNetwork
from emorecog.layers.inter_layer_self_attention import InterLayerSelfAttention, layer_variance_penalty
from emorecog.layers.stacked_lstm_core import StackedLSTMCore
from emorecog.models.emotion_model import EmotionModel


class RecurrentEmotionModel(EmotionModel):
    """Base of `EmoRecogModel` and `FullSequenceModel`: one recurrent step per frame read.

    Given the read frame's features and its location f_n:

        g_n              = GlimpseNetwork.fuse(...)                         (eq. 1-2, shared first LSTM layer)
        (H_n, C_n)       = StackedLSTMCore(g_n, (H_{n-1}, C_{n-1}))          (L layers)
        H'_n, C'_n, a, b = InterLayerSelfAttention(H_n, C_n)                 (eq. 3-7)

    The classifier reads the final [H'_N ; C'_N] (C' is read so that the cell-state attention beta shapes
    the prediction and not only the penalty P of eq. 8-9).

    Args:
        use_layer_attention: inter-layer self-attention (eq. 3-7); off -> the top core layer's state.
        core_layers: L.
        hidden_size: r, the core LSTM state size.
        glimpse_hidden_size, feature_size, band_feature_size, band_pool_size, face_filters, face_patch_size,
            location_embedding_size: the `GlimpseNetwork`'s sizes.
        attention_size: d_a of the inter-layer self-attention.
        **kwargs: `EmotionModel`'s arguments.
    """

    def __init__(self, use_layer_attention=True, core_layers=3, hidden_size=64, glimpse_hidden_size=32,
                 feature_size=64, band_feature_size=64, band_pool_size=2, face_filters=(16, 32), face_patch_size=4,
                 location_embedding_size=16, attention_size=32, **kwargs):
        super().__init__(**kwargs)
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

    def build_layers(self, inputs):
        # The models call the glimpse network's halves (`encode`, `fuse`), not its `__call__`: build it here.
        from emorecog import features

        stream_state_shape = (None, 2, self.glimpse_hidden_size)
        self.glimpse_network.build(
            inputs[features.EEG_KEY].shape, inputs[features.FACE_KEY].shape, inputs[features.FACE_PRESENT_KEY].shape,
            (None,), (None, self.hidden_size), stream_state_shape, stream_state_shape)

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

    def classify_state(self, summary_hidden, summary_cell, training=False):
        """Logits [..., 2] from attended states [..., r] (the classifier reads [H' ; C'])."""
        return self.classify(keras.ops.concatenate([summary_hidden, summary_cell], axis=-1), training=training)

    def layer_penalty(self, layer_weights, step_mask):
        """P of eq. 8-9 per sample [B] (zeros without inter-layer attention: the weights are fixed)."""
        if self.layer_attention is None:
            return keras.ops.zeros_like(step_mask[:, 0])
        return layer_variance_penalty(layer_weights[:, :, 0], layer_weights[:, :, 1], step_mask)

    def get_config(self):
        config = super().get_config()
        config.update({
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
        })
        return config
