"""A planted-signal task that only a model which looks at the right frames can solve.

Used by `tests/test_model_learning.py` and `benchmarks/bench_model.py` to show that the temporal attention
learns *where* to look, not only *what* a frame means: the label is readable only inside a window of
frames; every other frame is pure noise with the same statistics for both classes.
"""

import dataclasses

from emorecog import features


@dataclasses.dataclass(frozen=True)
class PlantedWindowTask:
    """Generate samples whose label lives only in frames [window_start, window_start + window_length).

    EEG: raw band energies band_mean + band_std * z with z ~ N(0, 1) per pixel; inside the window the
    beta band of the upper half of the image (the "frontal" electrodes) is shifted by
    +-eeg_signal * band_std (+ for label 1). Face: grey noise crops; inside the window the lower half (the
    "mouth") is brighter (label 1) or darker (label 0) by face_signal grey levels. A fraction
    `missing_face_rate` of frames has no face (face_present 0, an all-zero crop), inside the window too.

    The window is at the same place in every sample (plus a uniform jitter of +-window_jitter frames),
    so a policy can learn a fixed "look here" and a scanning policy is not required.

    Args:
        num_frames: T.
        image_size: H = W of the EEG images.
        face_size: S of the face crops.
        window_start: first frame of the window (without jitter).
        window_length: frames in the window.
        window_jitter: the window moves by a uniform integer in [-window_jitter, window_jitter] per sample.
        eeg_signal: beta shift inside the window, in units of the band's standard deviation.
        face_signal: grey-level shift of the lower half of the face inside the window.
        evidence_rate: probability that a window frame carries the pattern (independently per frame and
            stream); below 1 one glimpse of the window is not always enough, so glimpsing more window frames
            pays off in accuracy (and in reward).
        missing_face_rate: probability that a frame has no face.
        band_mean: raw per-band means (theta, alpha, beta).
        band_std: raw per-band standard deviations.
    """

    num_frames: int = 128
    image_size: int = 16
    face_size: int = 32
    window_start: int = 80
    window_length: int = 16
    window_jitter: int = 0
    eeg_signal: float = 0.5
    face_signal: float = 30.0
    evidence_rate: float = 1.0
    missing_face_rate: float = 0.1
    band_mean: tuple = (4.0, 3.0, 2.0)
    band_std: tuple = (2.0, 1.5, 1.0)

    def __post_init__(self):
        low = self.window_start - self.window_jitter
        high = self.window_start + self.window_length + self.window_jitter
        if not 0.0 < self.evidence_rate <= 1.0:
            raise ValueError(f"PlantedWindowTask: evidence_rate must be in (0, 1], got {self.evidence_rate}")
        if self.window_length < 1 or low < 0 or high > self.num_frames:
            raise ValueError(f"PlantedWindowTask: the window [{low}, {high}) must lie inside [0, {self.num_frames})")

    @property
    def sample_shape(self):
        return features.SampleShape(num_frames=self.num_frames, image_size=self.image_size, face_size=self.face_size)

    def generate(self, num_samples, seed):
        """Draw `num_samples` balanced samples.

        Returns:
            (inputs, labels, window_starts): inputs a dict of NumPy arrays keyed as the model inputs
            (eeg float32 [N, T, H, W, 3], face uint8 [N, T, S, S, 3], face_present float32 [N, T]),
            labels int64 [N] (0/1, balanced then shuffled), window_starts int64 [N].
        """
        import numpy as np

        rng = np.random.default_rng(seed)
        T, H, S = self.num_frames, self.image_size, self.face_size
        labels = rng.permutation(np.arange(num_samples) % 2).astype("int64")
        signs = (2.0 * labels - 1.0).astype("float32")
        starts = self.window_start + rng.integers(-self.window_jitter, self.window_jitter + 1, size=num_samples)

        band_mean = np.asarray(self.band_mean, "float32")
        band_std = np.asarray(self.band_std, "float32")
        z = rng.standard_normal((num_samples, T, H, H, 3), dtype=np.float32)
        grey = rng.normal(128.0, 40.0, size=(num_samples, T, S, S, 1)).astype("float32")
        for index in range(num_samples):
            window = np.arange(starts[index], starts[index] + self.window_length)
            eeg_frames = window[rng.random(window.size) < self.evidence_rate]
            face_frames = window[rng.random(window.size) < self.evidence_rate]
            z[index, eeg_frames, : H // 2, :, 2] += self.eeg_signal * signs[index]
            grey[index, face_frames, S // 2:, :, :] += self.face_signal * signs[index]
        eeg = band_mean + band_std * z
        face = np.clip(np.repeat(grey, 3, axis=-1), 0, 255).astype("uint8")
        face_present = (rng.random((num_samples, T)) >= self.missing_face_rate).astype("float32")
        face[face_present == 0] = 0
        inputs = {features.EEG_KEY: eeg, features.FACE_KEY: face, features.FACE_PRESENT_KEY: face_present}
        return inputs, labels, starts.astype("int64")

    def inside_window(self, glimpse_frames, window_starts):
        """Boolean [N, G]: which glimpsed frames (-1 = none) fall inside each sample's window."""
        import numpy as np

        frames = np.asarray(glimpse_frames)
        starts = np.asarray(window_starts)[:, None]
        return (frames >= starts) & (frames < starts + self.window_length)

    def score(self, outputs, labels, window_starts):
        """How well a model did on samples of this task, and where it looked.

        Args:
            outputs: the model's output dict (NumPy or tensors) for the samples.
            labels: int [N].
            window_starts: int [N], from `generate`.

        Returns:
            A dict: accuracy, mean_glimpses, inside_window_fraction (of all glimpses taken),
            samples_with_a_window_glimpse (fraction of samples that glimpsed the window at least once).
        """
        import numpy as np

        frames = np.asarray(outputs["glimpse_frames"])
        taken = frames >= 0
        inside = self.inside_window(frames, window_starts) & taken
        return {
            "accuracy": float(np.mean(np.asarray(outputs["class_id"]) == np.asarray(labels))),
            "mean_glimpses": float(np.mean(np.asarray(outputs["glimpse_count"]))),
            "inside_window_fraction": float(inside.sum() / max(taken.sum(), 1)),
            "samples_with_a_window_glimpse": float(np.mean(inside.any(axis=1))),
        }

    def fit_and_select(self, model, train, validation, max_epochs, batch_size, seed=0, stop_at_accuracy=None,
                       accuracy_tolerance=0.02):
        """Train `model` epoch by epoch and keep the epoch that did best on `validation`.

        "Best" has the two parts of this task's goal: among the epochs whose validation accuracy is within
        `accuracy_tolerance` of the best validation accuracy of the run, the one with the largest fraction
        of glimpses inside the window (the held-out test split stays untouched). Selecting on where the
        model looks matters for the policy: once accuracy saturates, the reward no longer depends on where
        the model looks, and Adam turns the noise of the policy gradient into a slow drift.

        Args:
            model: a compiled emorecog model.
            train: (inputs, labels, window_starts) from `generate`.
            validation: (inputs, labels, window_starts) from `generate`, another seed.
            max_epochs: epochs at most.
            batch_size: samples per optimiser step.
            seed: the shuffling seed.
            stop_at_accuracy: stop early once the validation accuracy reaches this value.
            accuracy_tolerance: how far below the best validation accuracy an epoch may be and still be chosen.

        Returns:
            A list with one dict per epoch: the epoch, its training metrics, its validation `score` and
            whether it was `selected` (its weights are the model's on return).
        """
        import tensorflow as tf

        inputs, labels, _ = train
        dataset = (tf.data.Dataset.from_tensor_slices((inputs, labels))
                   .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).batch(batch_size))
        history = []
        weights = []
        for epoch in range(max_epochs):
            fitted = model.fit(dataset, epochs=1, verbose=0).history
            metrics = {name: float(values[-1]) for name, values in fitted.items()}
            outputs = model.predict(validation[0], batch_size=64, verbose=0)
            score = self.score(outputs, validation[1], validation[2])
            history.append({"epoch": epoch + 1, "train": metrics, "validation": score, "selected": False})
            weights.append(model.get_weights())
            if stop_at_accuracy is not None and score["accuracy"] >= stop_at_accuracy:
                break
        best_accuracy = max(entry["validation"]["accuracy"] for entry in history)
        candidates = [index for index, entry in enumerate(history)
                      if entry["validation"]["accuracy"] >= best_accuracy - accuracy_tolerance]
        chosen = max(candidates, key=lambda index: (history[index]["validation"]["inside_window_fraction"],
                                                    history[index]["validation"]["accuracy"]))
        history[chosen]["selected"] = True
        model.set_weights(weights[chosen])
        return history
