"""Spatial-frequency band attention: weigh the per-band features of a frame by the model's state (eq. 1-2)."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class BandAttention(keras.layers.Layer):
    """The band importance theta conditioned on the core state, and the weighted band feature e_n.

    For bands i in (theta, alpha, beta), with e_i the per-band features of `BandFeatures`:

        theta_i = exp(W_h,i h_{n-1} + b_i) / sum_j exp(W_h,j h_{n-1} + b_j)     (eq. 2)
        e_n     = sum_i theta_i e_i                                            (eq. 1)

    h_{n-1} is the model's state after the previous glimpse (zeros before the first one).

    Call arguments:
        band_features: float tensor [B, 3, F], e_i of the glimpsed frame.
        previous_hidden: float tensor [B, r], h_{n-1}.

    Returns:
        A tuple (e_n float32 [B, F], band_weights float32 [B, 3]); the weights sum to 1 over bands.

    Example:
        >>> layer = BandAttention()
        >>> e, weights = layer(keras.ops.ones((2, 3, 16)), keras.ops.zeros((2, 8)))
        >>> e.shape, weights.shape
        ((2, 16), (2, 3))

    Reference:
        Wu, Zhang, Zhao, IEEE Access 2020, section III.B, eq. 1-2.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.importance = keras.layers.Dense(3, name="importance")

    def build(self, band_features_shape, previous_hidden_shape):
        if len(band_features_shape) != 3 or band_features_shape[1] != 3:
            raise ValueError(f"BandAttention expects band features [B, 3, F], got shape {band_features_shape}")
        self.importance.build(previous_hidden_shape)
        self.built = True

    def call(self, band_features, previous_hidden):
        band_weights = keras.ops.softmax(self.importance(previous_hidden), axis=-1)
        attended = keras.ops.sum(band_features * band_weights[:, :, None], axis=1)
        return attended, band_weights

    def compute_output_shape(self, band_features_shape, previous_hidden_shape):
        return (band_features_shape[0], band_features_shape[2]), (band_features_shape[0], 3)
