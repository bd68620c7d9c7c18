"""What the model sees in a glimpsed frame, before it looks at its state (paper IV.A, Fig. 3, the encoders)."""

import keras

from emorecog.layers.band_features import BandFeatures
from emorecog.layers.face_encoder import FaceEncoder


@keras.saving.register_keras_serializable(package="emorecog")
class GlimpseEncoder(keras.layers.Layer):
    """The state-independent half of a glimpse: per-band EEG features and the face encoding of frames.

        e_i(t) = BandFeatures(normalise(EEG[t]))                            [3, band_feature_size]
        x_v(t) = FaceEncoder(face[t])                                       [feature_size]

    normalise standardises each band with the training split's statistics, a `keras.layers.Normalization`
    with fixed mean and variance (no weights: the statistics are constants of the exported graph). The
    frames are any batch of frames: the glimpse model encodes one glimpsed frame per episode and step, the
    full-sequence model chunks of all frames at once. `GlimpseFusion` then reads the encoded frame with the
    model's state.

    A stream the model does not read (`use_eeg=False` or `use_face=False`, the single-stream ablations) is
    not encoded: its output is an empty [B, 0] tensor.

    Args:
        feature_size: size of the face encoding x_v.
        band_feature_size: F, size of each per-band feature e_i.
        band_pool_size: average pooling of the band images before the per-band FC.
        face_filters: filters of the face encoder's convs (the first one embeds patches).
        face_patch_size: the face encoder's patch size.
        use_eeg, use_face: which streams are encoded.
        band_mean, band_std: per-band (theta, alpha, beta) mean and standard deviation of the raw EEG band
            energies, training split only (std positive).

    Call arguments:
        eeg_frames: float tensor [B, H, W, 3], raw band images.
        face_frames: uint8 tensor [B, S, S, 3], face crops.

    Returns:
        A tuple (band_features float32 [B, 3, band_feature_size] (or [B, 0] without EEG), face_features
        float32 [B, feature_size] (or [B, 0] without face)).

    Example:
        >>> encoder = GlimpseEncoder(16, 12, 2, (4,), 4, True, True, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        >>> bands, face = encoder(keras.ops.zeros((2, 8, 8, 3)), keras.ops.zeros((2, 16, 16, 3), "uint8"))
        >>> bands.shape, face.shape
        ((2, 3, 12), (2, 16))
    """

    def __init__(
        self,
        feature_size,
        band_feature_size,
        band_pool_size,
        face_filters,
        face_patch_size,
        use_eeg,
        use_face,
        band_mean,
        band_std,
        **kwargs,
    ):
        super().__init__(**kwargs)
        band_mean = tuple(float(value) for value in band_mean)
        band_std = tuple(float(value) for value in band_std)
        if len(band_mean) != 3 or len(band_std) != 3:
            raise ValueError(
                f"GlimpseEncoder needs 3 band means and 3 band stds (theta, alpha, beta), got "
                f"band_mean={band_mean} and band_std={band_std}"
            )
        if any(not value > 0.0 for value in band_std):
            raise ValueError(f"GlimpseEncoder band_std must be positive, got {band_std}")
        if not (use_eeg or use_face):
            raise ValueError("GlimpseEncoder needs at least one stream: use_eeg and use_face are both False")
        self.feature_size = int(feature_size)
        self.band_feature_size = int(band_feature_size)
        self.band_pool_size = int(band_pool_size)
        self.face_filters = tuple(int(value) for value in face_filters)
        self.face_patch_size = int(face_patch_size)
        self.use_eeg = bool(use_eeg)
        self.use_face = bool(use_face)
        self.band_mean = band_mean
        self.band_std = band_std

        self.eeg_normalization = keras.layers.Normalization(
            axis=-1, mean=list(self.band_mean), variance=[std * std for std in self.band_std], name="eeg_normalization"
        )
        self.band_features = (
            BandFeatures(self.band_feature_size, self.band_pool_size, name="band_features") if self.use_eeg else None
        )
        self.face_encoder = (
            FaceEncoder(self.face_filters, self.feature_size, self.face_patch_size, name="face_encoder")
            if self.use_face
            else None
        )

    def build(self, eeg_frames_shape, face_frames_shape):
        if len(eeg_frames_shape) != 4 or len(face_frames_shape) != 4:
            raise ValueError(
                f"GlimpseEncoder expects eeg frames [B, H, W, 3] and face frames [B, S, S, 3], got "
                f"{eeg_frames_shape} and {face_frames_shape}"
            )
        if self.use_eeg:
            self.eeg_normalization.build(eeg_frames_shape)
            self.band_features.build(eeg_frames_shape)
        if self.use_face:
            self.face_encoder.build(face_frames_shape)
        self.built = True

    def call(self, eeg_frames, face_frames):
        if self.use_eeg:
            band_features = self.band_features(self.eeg_normalization(keras.ops.cast(eeg_frames, "float32")))
        else:
            band_features = keras.ops.zeros((keras.ops.shape(face_frames)[0], 0), "float32")
        if self.use_face:
            face_features = self.face_encoder(face_frames)
        else:
            face_features = keras.ops.zeros((keras.ops.shape(eeg_frames)[0], 0), "float32")
        return band_features, face_features

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "feature_size": self.feature_size,
                "band_feature_size": self.band_feature_size,
                "band_pool_size": self.band_pool_size,
                "face_filters": list(self.face_filters),
                "face_patch_size": self.face_patch_size,
                "use_eeg": self.use_eeg,
                "use_face": self.use_face,
                "band_mean": list(self.band_mean),
                "band_std": list(self.band_std),
            }
        )
        return config

    def compute_output_shape(self, eeg_frames_shape, face_frames_shape):
        batch = eeg_frames_shape[0]
        return (
            (batch, 3, self.band_feature_size) if self.use_eeg else (batch, 0),
            (batch, self.feature_size) if self.use_face else (batch, 0),
        )
