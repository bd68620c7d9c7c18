"""What the glimpse model and the full-sequence baseline share: the recurrent step over the frames read."""

import abc
import collections

import keras

from emorecog.layers.glimpse_encoder import GlimpseEncoder
from emorecog.layers.glimpse_fusion import GlimpseFusion
from emorecog.layers.inter_layer_self_attention import InterLayerSelfAttention, layer_variance_penalty
from emorecog.layers.stacked_lstm_core import StackedLSTMCore
from emorecog.models.emotion_model_base import EmotionModelBase

RecurrentState = collections.namedtuple(
    "RecurrentState", ("summary_hidden", "summary_cell", "eeg_state", "face_state", "core_states")
)
RecurrentState.__doc__ = """The state a recurrent model carries from one frame read to the next.

    summary_hidden, summary_cell: H'_n, C'_n [B, r], the inter-layer attention's summary of the core.
    eeg_state, face_state: [B, 2, glimpse_hidden_size], (h, c) of the weight-shared first LSTM layer per stream.
    core_states: [B, L, 2, r], (h, c) of every core layer.
"""


class RecurrentModelBase(EmotionModelBase):
    """Abstract base of `GlimpseModel` and `FullSequenceModel`: one recurrent step per frame read.

    Given a read frame's `GlimpseEncoder` features and its location f_n:

        g_n              = GlimpseFusion(e_i, x_v, present, f_n, H'_{n-1}, ...)  (eq. 1-2, shared first LSTM layer)
        (H_n, C_n)       = StackedLSTMCore(g_n, (H_{n-1}, C_{n-1}))              (L layers)
        H'_n, C'_n, a, b = InterLayerSelfAttention(H_n, C_n)                     (eq. 3-7)

    The classifier reads the final [H'_N ; C'_N] (C' is read so that the cell-state attention beta shapes
    the prediction and not only the penalty P of eq. 8-9). A subclass decides which frames are read
    (`forward`).

    Args:
        use_layer_attention: inter-layer self-attention (eq. 3-7); off -> the top core layer's state.
        core_layers: L.
        hidden_size: r, the core LSTM state size.
        glimpse_hidden_size, feature_size, band_feature_size, band_pool_size, face_filters, face_patch_size,
            location_embedding_size: the sizes of `GlimpseEncoder` and `GlimpseFusion`.
        attention_size: d_a of the inter-layer self-attention.
        **kwargs: `EmotionModelBase`'s arguments.
    """

    def __init__(
        self,
        use_layer_attention,
        core_layers,
        hidden_size,
        glimpse_hidden_size,
        feature_size,
        band_feature_size,
        band_pool_size,
        face_filters,
        face_patch_size,
        location_embedding_size,
        attention_size,
        **kwargs,
    ):
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

        self.glimpse_encoder = GlimpseEncoder(
            self.feature_size,
            self.band_feature_size,
            self.band_pool_size,
            self.face_filters,
            self.face_patch_size,
            self.use_eeg,
            self.use_face,
            self.band_mean,
            self.band_std,
            name="glimpse_encoder",
        )
        self.glimpse_fusion = GlimpseFusion(
            self.feature_size,
            self.glimpse_hidden_size,
            self.location_embedding_size,
            self.use_eeg,
            self.use_face,
            name="glimpse_fusion",
        )
        self.core = StackedLSTMCore(self.hidden_size, self.core_layers, name="core")
        # With one core layer there is nothing to weigh: the attention (and its penalty) would be constant.
        self.layer_attention = (
            InterLayerSelfAttention(self.attention_size, name="layer_attention")
            if self.use_layer_attention and self.core_layers > 1
            else None
        )

    @abc.abstractmethod
    def forward(self, inputs, training=False, with_losses=True):
        raise NotImplementedError

    def initial_state(self, batch):
        """The zero `RecurrentState` of `batch` rows."""
        import tensorflow as tf

        summary = tf.zeros([batch, self.hidden_size])
        stream_state = tf.zeros([batch, 2, self.glimpse_hidden_size])
        return RecurrentState(
            summary, summary, stream_state, stream_state, tf.zeros([batch, self.core_layers, 2, self.hidden_size])
        )

    def recurrent_step(self, band_features, face_features, face_present, location, state, training=False):
        """One step of glimpse fusion, core and inter-layer attention.

        Args:
            band_features, face_features: the `GlimpseEncoder`'s features of the frames read [B, ...].
            face_present: float [B]; location: float [B], f_n.
            state: the `RecurrentState` after the previous step.

        Returns:
            (the new `RecurrentState`, band_weights [B, 3], layer_weights [B, 2, L]).
        """
        glimpse, eeg_state, face_state, band_weights = self.glimpse_fusion(
            band_features,
            face_features,
            face_present,
            location,
            state.summary_hidden,
            state.eeg_state,
            state.face_state,
            training=training,
        )
        core_states = self.core(glimpse, state.core_states, training=training)
        hidden, cell = core_states[:, :, 0], core_states[:, :, 1]
        if self.layer_attention is not None:
            summary_hidden, summary_cell, hidden_weights, cell_weights = self.layer_attention(hidden, cell)
        else:
            summary_hidden, summary_cell = hidden[:, -1], cell[:, -1]
            top_layer = keras.ops.one_hot(
                keras.ops.full_like(hidden[:, 0, 0], self.core_layers - 1, "int32"), self.core_layers
            )
            hidden_weights = cell_weights = top_layer
        layer_weights = keras.ops.stack([hidden_weights, cell_weights], axis=1)
        new_state = RecurrentState(summary_hidden, summary_cell, eeg_state, face_state, core_states)
        return new_state, band_weights, layer_weights

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
        config.update(
            {
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
            }
        )
        return config
