"""A planted-signal task that only a model which finds the right frames can solve.

Used by `tests/test_model_learning.py` and `benchmarks/bench_model.py` to show that the temporal attention
learns *where* to look, not only *what* a frame means: the label is readable only inside a short window of
frames placed at random in each sample; every other frame is noise with the same statistics for both
classes.
"""

import dataclasses

from emorecog import features


@dataclasses.dataclass(frozen=True)
class PlantedWindowTask:
    """Generate samples whose label lives only in a window of frames at a random place.

    EEG: raw band energies band_mean + band_std * z with z ~ N(0, 1) per pixel. Face: grey noise crops. A
    fraction `missing_face_rate` of frames has no face (face_present 0, an all-zero crop), inside the
    window too. Inside the window, with `pattern`:
    - "shift": the beta band of the upper half of the image (the "frontal" electrodes) is shifted by
      +-eeg_signal * band_std (+ for label 1), and the lower half of the face (the "mouth") is brighter
      (label 1) or darker (label 0) by face_signal grey levels. Coarse statistics (a region's mean) see
      both where and what.
    - "stripes": both classes get the same shift (+eeg_signal * band_std, +face_signal grey levels), so a
      coarse view sees *where* the window is; the label is only in vertical stripes (the sign of an extra
      +-eeg_signal / +-face_signal alternates every 2 columns of the band images and every S / 8 columns of
      the face, and the phase gives the label), which average out in the skim's regions and in the
      classical baseline's: only a glimpse at full resolution sees *what*.

    Each sample's window has a length drawn uniformly from [window_length, window_length_max] frames and
    a start drawn uniformly from every position that keeps it inside the sample, so no position is
    favoured and a policy that always looks at the same frames finds it only by chance.

    Args:
        num_frames: T.
        image_size: H = W of the EEG images.
        face_size: S of the face crops.
        window_length: shortest window, in frames.
        window_length_max: longest window (None: = window_length).
        eeg_signal: beta shift inside the window, in units of the band's standard deviation.
        face_signal: grey-level shift of the lower half of the face inside the window.
        evidence_rate: probability that a window frame carries the pattern (independently per frame and
            stream); below 1 one glimpse of the window is not always enough.
        missing_face_rate: probability that a frame has no face.
        band_mean: raw per-band means (theta, alpha, beta).
        band_std: raw per-band standard deviations.
    """

    num_frames: int = 128
    image_size: int = 16
    face_size: int = 32
    window_length: int = 8
    window_length_max: int = None
    eeg_signal: float = 0.5
    face_signal: float = 30.0
    evidence_rate: float = 1.0
    missing_face_rate: float = 0.1
    pattern: str = "shift"
    band_mean: tuple = (4.0, 3.0, 2.0)
    band_std: tuple = (2.0, 1.5, 1.0)

    def __post_init__(self):
        if self.window_length_max is None:
            object.__setattr__(self, "window_length_max", self.window_length)
        if self.pattern not in ("shift", "stripes"):
            raise ValueError(f"PlantedWindowTask: pattern must be 'shift' or 'stripes', got {self.pattern!r}")
        if not 0.0 < self.evidence_rate <= 1.0:
            raise ValueError(f"PlantedWindowTask: evidence_rate must be in (0, 1], got {self.evidence_rate}")
        if not 1 <= self.window_length <= self.window_length_max <= self.num_frames:
            raise ValueError(
                f"PlantedWindowTask: need 1 <= window_length ({self.window_length}) <= window_length_max "
                f"({self.window_length_max}) <= num_frames ({self.num_frames})"
            )

    @property
    def sample_shape(self):
        return features.SampleShape(num_frames=self.num_frames, image_size=self.image_size, face_size=self.face_size)

    @property
    def mean_window_share(self):
        """The expected fraction of a sample's frames inside its window (a uniform glimpse's hit rate)."""
        return (self.window_length + self.window_length_max) / 2.0 / self.num_frames

    def generate(self, num_samples, seed):
        """Draw `num_samples` balanced samples.

        Returns:
            (inputs, labels, windows): inputs a dict of NumPy arrays keyed as the model inputs (eeg float32
            [N, T, H, W, 3], face uint8 [N, T, S, S, 3], face_present float32 [N, T]), labels int64 [N] (0/1,
            balanced then shuffled), windows int64 [N, 2] (first frame, frame after the last).
        """
        import numpy as np

        rng = np.random.default_rng(seed)
        T, H, S = self.num_frames, self.image_size, self.face_size
        labels = rng.permutation(np.arange(num_samples) % 2).astype("int64")
        signs = (2.0 * labels - 1.0).astype("float32")
        lengths = rng.integers(self.window_length, self.window_length_max + 1, size=num_samples)
        starts = (rng.random(num_samples) * (T - lengths + 1)).astype("int64")

        band_mean = np.asarray(self.band_mean, "float32")
        band_std = np.asarray(self.band_std, "float32")
        z = rng.standard_normal((num_samples, T, H, H, 3), dtype=np.float32)
        grey = rng.normal(128.0, 40.0, size=(num_samples, T, S, S, 1)).astype("float32")
        # Stripes over columns: 2 pixels wide in the band images, S / 8 in the faces (the width of one cell of
        # the skim's 8 x 8 face lattice, so its 2 x 2 averages cancel them, as a 4-pixel region mean does).
        eeg_stripes = np.where(np.arange(H) // 2 % 2 == 0, 1.0, -1.0).astype("float32")
        face_stripes = np.where(np.arange(S) // max(S // 8, 1) % 2 == 0, 1.0, -1.0).astype("float32")
        for index in range(num_samples):
            window = np.arange(starts[index], starts[index] + lengths[index])
            eeg_frames = window[rng.random(window.size) < self.evidence_rate]
            face_frames = window[rng.random(window.size) < self.evidence_rate]
            if self.pattern == "shift":
                z[index, eeg_frames, : H // 2, :, 2] += self.eeg_signal * signs[index]
                grey[index, face_frames, S // 2 :, :, :] += self.face_signal * signs[index]
            else:
                z[index, eeg_frames, : H // 2, :, 2] += self.eeg_signal * (1.0 + signs[index] * eeg_stripes)
                grey[index, face_frames, S // 2 :, :, 0] += self.face_signal * (1.0 + signs[index] * face_stripes)
        eeg = band_mean + band_std * z
        face = np.clip(np.repeat(grey, 3, axis=-1), 0, 255).astype("uint8")
        face_present = (rng.random((num_samples, T)) >= self.missing_face_rate).astype("float32")
        face[face_present == 0] = 0
        inputs = {features.EEG_KEY: eeg, features.FACE_KEY: face, features.FACE_PRESENT_KEY: face_present}
        return inputs, labels, np.stack([starts, starts + lengths], axis=1).astype("int64")

    @staticmethod
    def inside_window(glimpse_frames, windows):
        """Boolean [N, G]: which glimpsed frames (-1 = none) fall inside each sample's window."""
        import numpy as np

        frames = np.asarray(glimpse_frames)
        windows = np.asarray(windows)
        return (frames >= windows[:, :1]) & (frames < windows[:, 1:])

    def score(self, outputs, labels, windows):
        """How well a model did on samples of this task, and where it looked.

        Args:
            outputs: the model's output dict (NumPy or tensors) for the samples.
            labels: int [N].
            windows: int [N, 2], from `generate`.

        Returns:
            A dict: accuracy, mean_glimpses, inside_window_fraction (of all glimpses taken),
            samples_with_a_window_glimpse (fraction of samples that glimpsed the window at least once), and
            chance_inside_window_fraction (the expected share for glimpses at random frames).
        """
        import numpy as np

        frames = np.asarray(outputs["glimpse_frames"])
        taken = frames >= 0
        inside = self.inside_window(frames, windows) & taken
        lengths = np.asarray(windows)[:, 1] - np.asarray(windows)[:, 0]
        return {
            "accuracy": float(np.mean(np.asarray(outputs["class_id"]) == np.asarray(labels))),
            "mean_glimpses": float(np.mean(np.asarray(outputs["glimpse_count"]))),
            "inside_window_fraction": float(inside.sum() / max(taken.sum(), 1)),
            "samples_with_a_window_glimpse": float(np.mean(inside.any(axis=1))),
            "chance_inside_window_fraction": float(np.mean(lengths) / self.num_frames),
        }

    def fit_and_select(self, model, train, validation, max_epochs, batch_size, seed=0, stop_at_accuracy=None, log=None):
        """Train `model` epoch by epoch and keep the epoch with the best validation accuracy.

        Ties go to the epoch with fewer glimpses (the same answer for less reading), then to the earlier
        one, as the Trainer selects. The held-out test split stays untouched.

        Args:
            model: a compiled emorecog model.
            train: (inputs, labels, windows) from `generate`.
            validation: (inputs, labels, windows) from `generate`, another seed.
            max_epochs: epochs at most.
            batch_size: samples per optimiser step.
            seed: the shuffling seed.
            stop_at_accuracy: stop early once the validation accuracy reaches this value.
            log: optional function taking one line per epoch.

        Returns:
            A list with one dict per epoch: the epoch, its training metrics, its validation `score` and
            whether it was `selected` (its weights are the model's on return).
        """
        import tensorflow as tf

        inputs, labels, _ = train
        dataset = (
            tf.data.Dataset.from_tensor_slices((inputs, labels))
            .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
        )
        history = []
        best_weights, best_key = None, None
        for epoch in range(max_epochs):
            fitted = model.fit(dataset, epochs=1, verbose=0).history
            metrics = {name: round(float(values[-1]), 4) for name, values in fitted.items()}
            outputs = model.predict(validation[0], batch_size=64, verbose=0)
            score = self.score(outputs, validation[1], validation[2])
            history.append({"epoch": epoch + 1, "train": metrics, "validation": score, "selected": False})
            if log is not None:
                log(f"epoch {epoch + 1}: train {metrics} validation {score}")
            key = (score["accuracy"], -score["mean_glimpses"])
            if best_key is None or key > best_key:
                best_key, best_weights, best_epoch = key, model.get_weights(), epoch
            if stop_at_accuracy is not None and score["accuracy"] >= stop_at_accuracy:
                break
        history[best_epoch]["selected"] = True
        model.set_weights(best_weights)
        return history
