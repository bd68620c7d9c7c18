"""What ExampleGen needs from a dataset, whatever its on-disk layout: `list_trials()` and `load_trial(key)`.

Three readers implement it:

    source format  reader                                 input
    "deap"         `emorecog.datasets.deap.DeapDataset`         a DEAP directory
    "mahnob"       `emorecog.datasets.mahnob.MahnobDataset`     a MAHNOB-HCI folder (Sessions/<id>/...)
    "manifest"     `emorecog.datasets.manifest.ManifestDataset` a CSV manifest of your own recordings

A reader is built from (path, label_rule), pickles as those arguments (Beam ships it to its workers, which
reopen the files themselves) and offers:

    reader.source_format   one of SOURCE_FORMATS
    reader.name            the dataset name written into every record ("deap", "synthetic-mahnob", ...)
    reader.root            the input path (folder or manifest file)
    reader.list_trials()   a `TrialListing`: the keys of every trial that can be read, and what cannot
                           (a session without ratings, an unreadable subject file, ...), each with a reason
    reader.load_trial(key) the trial of a key: an object with the fields `TrialPreprocessor.process` reads
                           (DEAP's `DeapTrial`, or `RecordedTrial` below)
    reader.input_files()   files outside `root` that the trials read (the manifest's recordings), so a
                           change to one of them invalidates a cached ExampleGen output

A key has at least `subject`, `trial` (int), `labels` ((valence, arousal) 0/1, from the reader's
`LabelRule`) and `face_video` (path or None). Listing is cheap (no EEG is read); a file that only a crafted
input would hold (`RefusedFileError`) raises instead of being listed as unreadable.
"""

import dataclasses
import math

import numpy as np

from emorecog.features import RATING_NAMES, TARGETS

SOURCE_FORMATS = ("deap", "mahnob", "manifest")
# Every dataset rates on DEAP's and MAHNOB-HCI's self-assessment scale.
RATING_RANGE = (1.0, 9.0)
# MAHNOB-HCI and most recordings have no "liking" rating (MAHNOB's 4th is predictability): a rating outside
# the 1..9 scale marks it as not given, so the record's ratings stay four finite numbers.
NOT_RATED = 0.0
# Written by `emorecog synth` only; its presence tells a synthetic folder from a real one (`reader.name`).
GROUND_TRUTH_FILE = "ground_truth.json"


class RefusedFileError(Exception):
    """A data file holds what only a crafted file would (code to run, a decompression or memo bomb, ...).

    Not a ValueError: unlike a reader's format error it is never skipped as one bad trial; a run stops on it.
    """


@dataclasses.dataclass(frozen=True)
class LabelRule:
    """Binary high/low labels from continuous 1..9 ratings (every reader labels with one).

    The default is **high (1) if rating > 5.0, else low (0)**: 5 is the middle of the scale, and a rating
    of exactly 5 ("neither") counts as low. Papers differ (> 5, >= 5, 4.5, the subject's median), so the
    threshold and whether it counts as high are configurable.

    Args:
        threshold: the rating that separates low from high.
        inclusive: if True, a rating equal to the threshold is high (rating >= threshold).

    Example:
        >>> LabelRule().label(5.0), LabelRule(inclusive=True).label(5.0)
        (0, 1)
    """

    threshold: float = 5.0
    inclusive: bool = False

    def __post_init__(self):
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            raise ValueError(f"LabelRule.threshold must be a finite number, got {self.threshold!r}")
        if not isinstance(self.inclusive, bool):
            raise ValueError(f"LabelRule.inclusive must be a bool, got {self.inclusive!r}")

    def label(self, rating):
        """1 (high) or 0 (low) for one rating."""
        rating = float(rating)
        return int(rating >= self.threshold if self.inclusive else rating > self.threshold)

    def labels(self, ratings):
        """Binary labels of the targets (valence, arousal), from ratings in `RATING_NAMES` order."""
        return tuple(self.label(ratings[RATING_NAMES.index(target)]) for target in TARGETS)

    def describe(self):
        """'high if rating > 5.0' (for reports and the README)."""
        return f"high if rating {'>=' if self.inclusive else '>'} {self.threshold:g}"


@dataclasses.dataclass(frozen=True)
class UnreadableTrial:
    """A trial (or a whole subject or session, `trial=None`) that cannot be read, and why."""

    subject: str
    trial: object
    reason: str
    files: tuple = ()


@dataclasses.dataclass(frozen=True)
class TrialListing:
    """`list_trials()`: the keys of the readable trials, then what could not be listed."""

    keys: tuple
    unreadable: tuple = ()


@dataclasses.dataclass(frozen=True)
class TrialKey:
    """One recorded trial's identity and labels, without its samples (MAHNOB-HCI and manifest readers).

    Args:
        subject: subject id as text ("P01" in MAHNOB-HCI, the manifest's `subject`).
        trial: integer trial id, unique within the subject (MAHNOB-HCI: the session id).
        ratings: (valence, arousal, dominance, liking) on the 1..9 scale; `NOT_RATED` where not given.
        labels: binary (valence, arousal) labels from the label rule.
        face_video: path of the face video, or None (EEG-only trial).
        source_file: the EEG recording.
        stimulus_onset_s, stimulus_duration_s: where the stimulus part lies in the recording, in seconds
            from its first sample; None in a MAHNOB key (found from the recording's Status events).
        baseline_s: seconds before the stimulus onset used as the baseline (at most what the file has).
        face_video_onset_s: the time in the video at which the stimulus starts; None: the video starts with
            the recording, so the stimulus onset in the recording is also the one in the video.
        eeg_channels: names to read, or None for every channel of the montage.
    """

    subject: str
    trial: int
    ratings: tuple
    labels: tuple
    face_video: object
    source_file: str
    stimulus_onset_s: object = None
    stimulus_duration_s: object = None
    baseline_s: float = 30.0
    face_video_onset_s: object = None
    eeg_channels: object = None

    def label(self, target):
        """The binary label (0 low, 1 high) of `target` ('valence' or 'arousal')."""
        return self.labels[TARGETS.index(target)]

    def rating(self, name):
        return self.ratings[RATING_NAMES.index(name)]


@dataclasses.dataclass(frozen=True, eq=False)
class RecordedTrial:
    """A trial read from an EEG recording by MNE (the fields `TrialPreprocessor.process` reads).

    Args:
        subject, trial, ratings, labels, face_video, source_file: as in the `TrialKey`.
        eeg: float32 [C, samples]: the stimulus part, in volts as MNE gives them, channels in
            `eeg_channels` order.
        eeg_baseline: float32 [C, baseline samples]: the part just before the stimulus, or None.
        eeg_channels: the C channel names (the montage's spelling).
        sampling_rate: samples per second of the recording (the preprocessor resamples).
        face_video_start_s: seconds into the video at which the stimulus part starts (None: no video).
    """

    subject: str
    trial: int
    eeg: np.ndarray
    eeg_baseline: object
    eeg_channels: tuple
    sampling_rate: float
    ratings: tuple
    labels: tuple
    face_video: object
    face_video_start_s: object
    source_file: str

    @property
    def duration_s(self):
        return self.eeg.shape[1] / self.sampling_rate


def open_reader(source_format, path, label_rule=None, montage="biosemi32"):
    """The reader of `source_format` ("deap", "mahnob" or "manifest") for `path`.

    `montage` names the channels MAHNOB-HCI and manifest recordings are read by (DEAP's are fixed).
    """
    if source_format == "deap":
        from emorecog.datasets.deap import DeapDataset

        return DeapDataset(path, label_rule=label_rule)
    if source_format == "mahnob":
        from emorecog.datasets.mahnob import MahnobDataset

        return MahnobDataset(path, label_rule=label_rule, montage=montage)
    if source_format == "manifest":
        from emorecog.datasets.manifest import ManifestDataset

        return ManifestDataset(path, label_rule=label_rule, montage=montage)
    raise ValueError(f"unknown source format {source_format!r}: expected one of {SOURCE_FORMATS}")
