"""TensorBoard images of what the model looked at: the EEG band images and face crops of its glimpses."""

import os

import keras
import numpy as np

from emorecog import features


class GlimpseImageSummary(keras.callbacks.Callback):
    """Each epoch, writes for a few fixed eval samples two image strips to TensorBoard (run "images"):

        glimpses/eeg_bands/<k>   the glimpsed frames' band images side by side, theta/alpha/beta as R/G/B,
                                 each band scaled to [0, 1] over the strip
        glimpses/face/<k>        the glimpsed frames' face crops side by side (black where no face)

    in glimpse order, so the strips show where the temporal attention went as training proceeds.

    Args:
        log_dir: the TensorBoard log directory of the run.
        sample_inputs: dict of NumPy model inputs for the chosen samples (batch first).
        sample_names: one caption per sample, e.g. "s01-trial05".
        max_glimpses: at most this many glimpses per strip.
    """

    def __init__(self, log_dir, sample_inputs, sample_names, max_glimpses):
        super().__init__()
        self.log_dir = log_dir
        self.sample_inputs = sample_inputs
        self.sample_names = list(sample_names)
        self.max_glimpses = max_glimpses
        self._writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "images"))

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        outputs = self.model(self.sample_inputs, training=False)
        frames = keras.ops.convert_to_numpy(outputs["glimpse_frames"])
        counts = keras.ops.convert_to_numpy(outputs["glimpse_count"])
        with self._writer.as_default():
            for row, name in enumerate(self.sample_names):
                chosen = frames[row, : min(int(counts[row]), self.max_glimpses)]
                chosen = chosen[chosen >= 0]
                if chosen.size == 0:
                    continue
                eeg_strip, face_strip = glimpse_strips(
                    self.sample_inputs[features.EEG_KEY][row], self.sample_inputs[features.FACE_KEY][row], chosen)
                tf.summary.image(f"glimpses/eeg_bands/{name}", eeg_strip[None], step=epoch,
                                 description=f"EEG band images (theta, alpha, beta as RGB) of frames {chosen.tolist()}")
                tf.summary.image(f"glimpses/face/{name}", face_strip[None], step=epoch,
                                 description=f"face crops of frames {chosen.tolist()}")
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


def glimpse_strips(eeg, face, frames):
    """Side-by-side images of the given frames.

    Args:
        eeg: float [T, H, W, 3] band energies of one sample.
        face: uint8 [T, S, S, 3] face crops of the sample.
        frames: int [n] frame indices.

    Returns:
        (eeg_strip float32 [H, n*W, 3] in [0, 1] per band, face_strip uint8 [S, n*S, 3]).
    """
    eeg_frames = np.asarray(eeg, dtype=np.float32)[frames]
    low = eeg_frames.min(axis=(0, 1, 2), keepdims=True)
    high = eeg_frames.max(axis=(0, 1, 2), keepdims=True)
    eeg_frames = (eeg_frames - low) / np.maximum(high - low, 1e-12)
    eeg_strip = np.concatenate(list(eeg_frames), axis=1)
    face_strip = np.concatenate(list(np.asarray(face, dtype=np.uint8)[frames]), axis=1)
    return eeg_strip, face_strip
