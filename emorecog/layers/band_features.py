"""Per-band features of EEG band images, one fully connected map per band (the e_i of paper eq. 1)."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class BandFeatures(keras.layers.Layer):
    """e_i for every band i in (theta, alpha, beta) of an EEG frame.

    With X_i the H x W image of band i, average-pooled over pool_size x pool_size blocks:

        e_i = ReLU(U_i vec(pool(X_i)) + c_i)                                  (the per-band FC of eq. 1)

    Each band has its own weights (U_i: H*W/pool^2 -> F), so the three feature vectors live in comparable
    spaces only through training, as in the paper. Pooling (default 2) is ours: a band image interpolates
    only 32 electrodes onto 32 x 32 pixels, so 2 x 2 averaging loses little, and it cuts the FC's weights and
    its per-glimpse cost 4x. The features do not depend on the model's state, so a full-sequence model
    computes them for many frames in one call; `BandAttention` then weighs them (eq. 1-2).

    Args:
        band_feature_size: F, size of each e_i.
        pool_size: side of the average-pooling blocks (1 = no pooling); H and W must be multiples of it.

    Call arguments:
        eeg_frames: float tensor [B, H, W, 3], normalised band images of one frame each.

    Returns:
        float32 tensor [B, 3, F].

    Example:
        >>> layer = BandFeatures(band_feature_size=16, pool_size=2)
        >>> layer(keras.ops.ones((2, 32, 32, 3))).shape
        (2, 3, 16)

    Reference:
        Wu, Zhang, Zhao, IEEE Access 2020, section III.B, eq. 1.
    """

    def __init__(self, band_feature_size, pool_size, **kwargs):
        super().__init__(**kwargs)
        self.band_feature_size = int(band_feature_size)
        self.pool_size = int(pool_size)
        if self.pool_size < 1:
            raise ValueError(f"BandFeatures pool_size must be >= 1, got {pool_size}")

    def build(self, eeg_frames_shape):
        if len(eeg_frames_shape) != 4 or eeg_frames_shape[-1] != 3:
            raise ValueError(f"BandFeatures expects EEG frames [B, H, W, 3], got shape {eeg_frames_shape}")
        if eeg_frames_shape[1] % self.pool_size or eeg_frames_shape[2] % self.pool_size:
            raise ValueError(
                f"BandFeatures: EEG images {eeg_frames_shape[1:3]} are not multiples of pool_size {self.pool_size}"
            )
        pixels = (eeg_frames_shape[1] // self.pool_size) * (eeg_frames_shape[2] // self.pool_size)
        self.band_kernel = self.add_weight(
            name="band_kernel", shape=(3, pixels, self.band_feature_size), initializer="glorot_uniform"
        )
        self.band_bias = self.add_weight(name="band_bias", shape=(3, self.band_feature_size), initializer="zeros")
        self.built = True

    def call(self, eeg_frames):
        if self.pool_size > 1:
            eeg_frames = keras.ops.average_pool(eeg_frames, self.pool_size, strides=self.pool_size, padding="valid")
        pixels = self.band_kernel.shape[1]
        # [B, P, 3] -> [3, B, P] @ [3, P, F] -> [3, B, F] -> [B, 3, F]
        by_band = keras.ops.transpose(keras.ops.reshape(eeg_frames, (-1, pixels, 3)), (2, 0, 1))
        features = keras.ops.transpose(keras.ops.matmul(by_band, self.band_kernel), (1, 0, 2)) + self.band_bias
        return keras.ops.relu(features)

    def get_config(self):
        config = super().get_config()
        config.update({"band_feature_size": self.band_feature_size, "pool_size": self.pool_size})
        return config

    def compute_output_shape(self, eeg_frames_shape):
        return (eeg_frames_shape[0], 3, self.band_feature_size)
