"""Spatial-frequency band attention over the EEG band images of one frame (paper eq. 1-2)."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class BandAttention(keras.layers.Layer):
    """Per-band features of an EEG frame, weighted by an importance conditioned on the core state.

    For bands i in (theta, alpha, beta), with X_i the H x W image of band i, average-pooled over
    pool_size x pool_size blocks:

        e_i     = ReLU(U_i vec(pool(X_i)) + c_i)                             (per-band FC)
        theta_i = exp(W_h,i h_{n-1} + b_i) / sum_j exp(W_h,j h_{n-1} + b_j)     (eq. 2)
        e_n     = sum_i theta_i e_i                                            (eq. 1)

    h_{n-1} is the model's state after the previous glimpse (zeros before the first one). The per-band
    FC has its own weights for each band (U_i: H*W/pool^2 -> F), so the three feature vectors live in
    comparable spaces only through training, as in the paper. Pooling (default 2) is ours: a band image
    interpolates only 32 electrodes onto 32 x 32 pixels, so 2 x 2 averaging loses little, and it cuts the
    FC's weights and its per-glimpse cost 4x.

    Args:
        band_feature_size: F, size of each e_i and of e_n.
        pool_size: side of the average-pooling blocks (1 = no pooling); H and W must be multiples of it.

    Call arguments:
        eeg_frames: float tensor [B, H, W, 3], normalised band images of one frame each.
        previous_hidden: float tensor [B, r], h_{n-1}.

    Returns:
        A tuple (e_n float32 [B, F], band_weights float32 [B, 3]); the weights sum to 1 over bands.

    The two halves are also available separately: `band_features(eeg_frames) -> [B, 3, F]` (no
    dependence on the state, so a full-sequence model computes it for all frames at once) and
    `attend(band_features, previous_hidden)`.

    Example:
        >>> layer = BandAttention(band_feature_size=16)
        >>> e, weights = layer(keras.ops.ones((2, 32, 32, 3)), keras.ops.zeros((2, 8)))
        >>> e.shape, weights.shape
        ((2, 16), (2, 3))

    Reference:
        Wu, Zhang, Zhao, IEEE Access 2020, section III.B, eq. 1-2.
    """

    def __init__(self, band_feature_size=64, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        self.band_feature_size = int(band_feature_size)
        self.pool_size = int(pool_size)
        if self.pool_size < 1:
            raise ValueError(f"BandAttention pool_size must be >= 1, got {pool_size}")
        self.importance = keras.layers.Dense(3, name="importance")

    def build(self, eeg_frames_shape, previous_hidden_shape):
        if len(eeg_frames_shape) != 4 or eeg_frames_shape[-1] != 3:
            raise ValueError(f"BandAttention expects EEG frames [B, H, W, 3], got shape {eeg_frames_shape}")
        if eeg_frames_shape[1] % self.pool_size or eeg_frames_shape[2] % self.pool_size:
            raise ValueError(f"BandAttention: EEG images {eeg_frames_shape[1:3]} are not multiples of pool_size "
                             f"{self.pool_size}")
        pixels = (eeg_frames_shape[1] // self.pool_size) * (eeg_frames_shape[2] // self.pool_size)
        self.band_kernel = self.add_weight(
            name="band_kernel", shape=(3, pixels, self.band_feature_size), initializer="glorot_uniform")
        self.band_bias = self.add_weight(name="band_bias", shape=(3, self.band_feature_size), initializer="zeros")
        self.importance.build(previous_hidden_shape)
        self.built = True

    def band_features(self, eeg_frames):
        """e_i for every band: [B, H, W, 3] -> [B, 3, F]."""
        if self.pool_size > 1:
            eeg_frames = keras.ops.average_pool(eeg_frames, self.pool_size, strides=self.pool_size, padding="valid")
        pixels = self.band_kernel.shape[1]
        # [B, P, 3] -> [3, B, P] @ [3, P, F] -> [3, B, F] -> [B, 3, F]
        by_band = keras.ops.transpose(keras.ops.reshape(eeg_frames, (-1, pixels, 3)), (2, 0, 1))
        features = keras.ops.transpose(keras.ops.matmul(by_band, self.band_kernel), (1, 0, 2)) + self.band_bias
        return keras.ops.relu(features)

    def attend(self, band_features, previous_hidden):
        """Eq. 1-2 on precomputed band features [B, 3, F] -> (e_n [B, F], weights [B, 3])."""
        band_weights = keras.ops.softmax(self.importance(previous_hidden), axis=-1)
        attended = keras.ops.sum(band_features * band_weights[:, :, None], axis=1)
        return attended, band_weights

    def call(self, eeg_frames, previous_hidden):
        return self.attend(self.band_features(eeg_frames), previous_hidden)

    def get_config(self):
        config = super().get_config()
        config.update({"band_feature_size": self.band_feature_size, "pool_size": self.pool_size})
        return config

    def compute_output_shape(self, eeg_frames_shape, previous_hidden_shape):
        return (eeg_frames_shape[0], self.band_feature_size), (eeg_frames_shape[0], 3)
