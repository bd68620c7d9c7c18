"""Per-band standardisation of EEG band images, inside the model so a served model takes raw features."""

import keras


@keras.saving.register_keras_serializable(package="emorecog")
class EEGNormalization(keras.layers.Layer):
    """Standardise each EEG band (theta, alpha, beta) with statistics of the training split.

    y[..., i] = (x[..., i] - band_mean[i]) / band_std[i]

    The statistics are constructor arguments (so they travel in the model config and a served model
    takes raw band energies), not weights: nothing about them is learned.

    Args:
        band_mean: three floats, per-band mean of the training split.
        band_std: three positive floats, per-band standard deviation of the training split.

    Call arguments:
        eeg: float tensor [..., 3], band images with the bands last.

    Returns:
        float32 tensor of the same shape.

    Example:
        >>> layer = EEGNormalization(band_mean=(1.0, 2.0, 3.0), band_std=(0.5, 0.5, 2.0))
        >>> layer(keras.ops.ones((2, 5, 32, 32, 3))).shape
        (2, 5, 32, 32, 3)
    """

    def __init__(self, band_mean=(0.0, 0.0, 0.0), band_std=(1.0, 1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        band_mean = tuple(float(value) for value in band_mean)
        band_std = tuple(float(value) for value in band_std)
        if len(band_mean) != 3 or len(band_std) != 3:
            raise ValueError(
                f"EEGNormalization needs 3 band means and 3 band stds (theta, alpha, beta), got "
                f"band_mean={band_mean} and band_std={band_std}")
        if any(not value > 0.0 for value in band_std):
            raise ValueError(f"EEGNormalization band_std must be positive, got {band_std}")
        self.band_mean = band_mean
        self.band_std = band_std

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(f"EEGNormalization expects 3 bands in the last axis, got shape {input_shape}")
        self.built = True

    def call(self, eeg):
        eeg = keras.ops.cast(eeg, "float32")
        mean = keras.ops.convert_to_tensor(self.band_mean, dtype="float32")
        std = keras.ops.convert_to_tensor(self.band_std, dtype="float32")
        return (eeg - mean) / std

    def get_config(self):
        config = super().get_config()
        config.update({"band_mean": list(self.band_mean), "band_std": list(self.band_std)})
        return config

    def compute_output_shape(self, input_shape):
        return input_shape
