"""TensorBoard images of what the model looked at: the EEG band images and face crops of its glimpses."""

import os

import keras
import numpy as np

from emorecog import features


class GlimpseImageSummary(keras.callbacks.Callback):
    """Each epoch, writes for a few fixed eval samples two images to TensorBoard (run "images"):

            glimpses/eeg_bands/<k>   the mean band image of the glimpsed frames, one panel per band (theta,
                                     alpha, beta), each on a head outline with the electrodes and their names,
                                     pixels outside the electrodes' hull masked, a colourbar in the unit of the
                                     ingest's baseline normalisation (drawn as by `emorecog show-images`,
                                     rendered to PNG)
            glimpses/face/<k>        the glimpsed frames' face crops side by side (black where no face)

        in glimpse order, so they show where the temporal attention went as training proceeds. Only these few
        samples are drawn, and as one mean image each rather than one per glimpse, so the figures cost a
    fraction of a second per epoch.

        Args:
            log_dir: the TensorBoard log directory of the run.
            sample_inputs: dict of NumPy model inputs for the chosen samples (batch first).
            sample_names: one caption per sample, e.g. "s01-trial05".
            max_glimpses: at most this many glimpses per image.
            layout: the `BandImageLayout` of the EEG band images (head geometry, hull, unit).
    """

    def __init__(self, log_dir, sample_inputs, sample_names, max_glimpses, layout):
        super().__init__()
        self.log_dir = log_dir
        self.sample_inputs = sample_inputs
        self.sample_names = list(sample_names)
        self.max_glimpses = max_glimpses
        self.layout = layout
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
                png = glimpse_band_images_png(
                    self.sample_inputs[features.EEG_KEY][row], chosen, self.layout, title=f"{name}, epoch {epoch + 1}"
                )
                tf.summary.image(
                    f"glimpses/eeg_bands/{name}",
                    tf.image.decode_png(png, channels=4)[None],
                    step=epoch,
                    description=f"EEG band images of the glimpsed frames {chosen.tolist()}",
                )
                tf.summary.image(
                    f"glimpses/face/{name}",
                    face_strip(self.sample_inputs[features.FACE_KEY][row], chosen)[None],
                    step=epoch,
                    description=f"face crops of frames {chosen.tolist()}",
                )
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


def glimpse_band_images_png(eeg, frames, layout, title):
    """PNG bytes of the mean band image of the given frames (see `plots.plot_band_images`).

    Args:
        eeg: float [T, H, W, 3] band images of one sample.
        frames: int [n] frame indices, in glimpse order.
        layout: the `BandImageLayout` of the images.
        title: the figure's title.
    """
    from emorecog.evaluation import plots

    mean_image = np.asarray(eeg, dtype=np.float64)[frames].mean(axis=0)
    figure = plots.plot_band_images(
        mean_image[None], layout, ["mean of the glimpsed frames"], f"{title}: glimpsed frames {frames.tolist()}"
    )
    return plots.figure_png(figure, dpi=80)


def face_strip(face, frames):
    """The face crops of the given frames side by side: uint8 [S, n*S, 3] from face uint8 [T, S, S, 3]."""
    return np.concatenate(list(np.asarray(face, dtype=np.uint8)[frames]), axis=1)
