"""`DeapTrial`: one DEAP trial, its samples split into the 3 s baseline and the stimulus part."""

import dataclasses

import numpy as np

from emorecog.datasets.deap_trial_key import DeapTrialKey


@dataclasses.dataclass(frozen=True, eq=False)
class DeapTrial:
    """One trial of one subject, as read from `data_preprocessed_*` (arrays are read-only float32).

    In the real DEAP a trial is 63 s at 128 Hz: 384 baseline samples then 7680 stimulus samples.

    Args:
        subject: "s01".."s32".
        trial: the DEAP video id (`Experiment_id`, 1..40).
        presentation_index: the position (1..40) at which the subject saw the video, or None without
            participant_ratings.csv.
        eeg: float32 [32, samples] (7680 in DEAP): the stimulus part, channels in `eeg_channels` order.
        eeg_baseline: float32 [32, baseline samples] (384): the 3 s before the stimulus.
        eeg_channels: the 32 EEG channel names (Geneva order: Fp1, AF3, F3, ...).
        peripheral: float32 [8, baseline + stimulus samples] (8064): the whole 63 s of the peripheral
            channels, baseline included.
        peripheral_channels: the 8 names (hEOG, vEOG, zEMG, tEMG, GSR, Respiration, Plethysmograph,
            Temperature).
        sampling_rate: samples per second (128).
        ratings: (valence, arousal, dominance, liking), each on the 1..9 scale.
        labels: binary (valence, arousal) labels from the dataset's `LabelRule`.
        face_video: path of the trial's face video (it covers the stimulus part), or None.
        source_file: the data file the trial was read from.
    """

    subject: str
    trial: int
    presentation_index: object
    eeg: np.ndarray
    eeg_baseline: np.ndarray
    eeg_channels: tuple
    peripheral: np.ndarray
    peripheral_channels: tuple
    sampling_rate: int
    ratings: tuple
    labels: tuple
    face_video: object
    source_file: str

    def __post_init__(self):
        for name in ("eeg", "eeg_baseline", "peripheral"):
            getattr(self, name).flags.writeable = False

    @property
    def duration_s(self):
        """Length of the stimulus part in seconds (60 in DEAP)."""
        return self.eeg.shape[1] / self.sampling_rate

    @property
    def baseline_samples(self):
        return self.eeg_baseline.shape[1]

    @property
    def key(self):
        """The trial's `DeapTrialKey` (identity and labels, no samples)."""
        return DeapTrialKey(self.subject, self.trial, self.presentation_index, self.ratings, self.labels,
                            self.face_video)

    def rating(self, name):
        """The 1..9 rating `name` ('valence', 'arousal', 'dominance' or 'liking')."""
        return self.key.rating(name)

    def label(self, target):
        """The binary label (0 low, 1 high) of `target` ('valence' or 'arousal')."""
        return self.key.label(target)

    def channel(self, name):
        """The stimulus-part samples [samples] of the EEG channel `name` (e.g. 'Fp1')."""
        if name not in self.eeg_channels:
            raise ValueError(f"{self.subject} trial {self.trial}: no EEG channel {name!r}; have {self.eeg_channels}")
        return self.eeg[self.eeg_channels.index(name)]
