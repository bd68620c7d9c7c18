"""DEAP (Koelstra et al. 2012) on disk, and its reader: a DEAP directory (real or synthetic) -> typed,
validated per-trial records. This module is the one place that knows DEAP's layout; the synthetic DEAP
writer (`emorecog.datasets.synthetic.deap`) takes its facts from here.

Layout of a DEAP directory:

    data_preprocessed_python/sXX.dat      Python 2 pickle: {"data": [trials, 40, samples], "labels": [trials, 4]}
    data_preprocessed_matlab/sXX.mat      the same two arrays as a MATLAB file
    face_video/sXX/sXX_trialYY.avi        YY = presentation order (s01..s22 only in the real DEAP)
    metadata_csv/participant_ratings.csv  Participant_id, Trial (presentation), Experiment_id (video), ...

Trials in the data files are in video order (Experiment_id 1..40). Each trial is 63 s at 128 Hz = 8064
samples: a 3 s pre-trial baseline (384 samples) then the 60 s stimulus part (7680 samples). The reader
accepts any length longer than the baseline, so shorter synthetic trials read the same way.

API (what preprocessing and ExampleGen use):

    dataset = DeapDataset(root, label_rule=LabelRule())   # layout detected; DeapFormatError if unknown
    dataset.layout                  "python" | "matlab"
    dataset.name                    "deap" | "synthetic-deap"
    dataset.subjects()              ["s01", "s02", ...] (subjects with a data file)
    dataset.trial_keys(subject=None)  [DeapTrialKey(subject, trial, presentation_index, ratings, labels,
                                     face_video), ...] for every trial (or one subject's); reads only labels
    dataset.trials(subject)         iterator of DeapTrial in video order (trial = Experiment_id 1..N)
    dataset.read_trial(subject, trial)  one DeapTrial
    dataset.layout_report()         DeapLayoutReport: subjects, trials, videos missing, label balance

    DeapTrial: subject, trial, presentation_index, eeg float32 [32, 7680], eeg_baseline float32 [32, 384],
               eeg_channels (Geneva order), peripheral float32 [8, 8064], peripheral_channels,
               sampling_rate 128, ratings (valence, arousal, dominance, liking), labels (valence, arousal),
               face_video (path or None), source_file.

Reading is cheap in memory: a `.dat` file's sample buffer is memory-mapped (see `safe_pickle`), so listing
labels touches a few kB and reading one trial reads that trial's ~2.6 MB; the `DeapDataset` keeps the
arrays of the last subject it opened and nothing else. `.mat` files are read by `safe_mat` (bounded
decompression, then scipy; only the labels variable for `trial_keys`). A `DeapDataset` pickles as its
arguments (no arrays), so it can be shipped to Beam workers.

Cross-check: when participant_ratings.csv has the rating columns, each row's ratings must equal (to 0.01)
the data file's `labels` row of its Experiment_id; a row with a swapped Experiment_id would otherwise pair
a face video with another trial's EEG and label.

Labels: `dataset_reader.LabelRule()` = high if rating > 5.0 (configurable threshold and >=).

Errors: every bad input raises `DeapFormatError` (a ValueError) naming the file and, where it applies, the
subject, trial, field or channel and what was expected (a truncated file says "truncated"). A file that
holds what only a crafted file would (a `.dat` building anything but a dict of arrays, a `.mat`
decompression bomb) raises a `dataset_reader.RefusedFileError` instead (`safe_pickle.UnsafePickleError`,
`safe_mat.UnsafeMatFileError`): it is refused, never executed, and is not a format error to skip silently.
Missing face videos are not errors: they are listed in the layout report, and their trials have
`face_video=None` (EEG-only).
"""

import csv
import dataclasses
import io
import os
import pickle
import re

import numpy as np

from emorecog.datasets.dataset_reader import (
    GROUND_TRUTH_FILE,
    RATING_RANGE,
    LabelRule,
    TrialListing,
    UnreadableTrial,
)
from emorecog.datasets.regular_file import open_regular_file
from emorecog.datasets.safe_mat import MatFileError, UnsafeMatFileError, load_safe_mat
from emorecog.datasets.safe_pickle import UnsafePickleError, load_safe_pickle
from emorecog.features import RATING_NAMES, TARGETS

__all__ = [
    "DeapDataset",
    "DeapFormatError",
    "DeapLayoutReport",
    "DeapTrial",
    "DeapTrialKey",
    "EEG_CHANNELS",
    "PERIPHERAL_CHANNELS",
    "SAMPLING_RATE_HZ",
    "BASELINE_SAMPLES",
]

SAMPLING_RATE_HZ = 128
BASELINE_SECONDS = 3
BASELINE_SAMPLES = SAMPLING_RATE_HZ * BASELINE_SECONDS

# Channels 1-32 of the preprocessed files (Geneva order), then channels 33-40.
EEG_CHANNELS = (
    "Fp1",
    "AF3",
    "F3",
    "F7",
    "FC5",
    "FC1",
    "C3",
    "T7",
    "CP5",
    "CP1",
    "P3",
    "P7",
    "PO3",
    "O1",
    "Oz",
    "Pz",
    "Fp2",
    "AF4",
    "Fz",
    "F4",
    "F8",
    "FC6",
    "FC2",
    "Cz",
    "C4",
    "T8",
    "CP6",
    "CP2",
    "P4",
    "P8",
    "PO4",
    "O2",
)
PERIPHERAL_CHANNELS = ("hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration", "Plethysmograph", "Temperature")
NUM_CHANNELS = len(EEG_CHANNELS) + len(PERIPHERAL_CHANNELS)

# Columns of the `labels` array, in order.
LABEL_COLUMNS = RATING_NAMES  # ratings on the 1..9 scale (`RATING_RANGE`)

PYTHON_DATA_DIR = "data_preprocessed_python"
MATLAB_DATA_DIR = "data_preprocessed_matlab"
FACE_VIDEO_DIR = "face_video"
METADATA_DIR = "metadata_csv"
PARTICIPANT_RATINGS_CSV = "participant_ratings.csv"
PARTICIPANT_RATINGS_COLUMNS = (
    "Participant_id",
    "Trial",
    "Experiment_id",
    "Start_time",
    "Valence",
    "Arousal",
    "Dominance",
    "Liking",
    "Familiarity",
)
# participant_ratings.csv holds the ratings with 2 decimals; the data files' labels are the same ratings.
RATINGS_AGREEMENT_TOLERANCE = 0.01
_LAYOUTS = {"python": (PYTHON_DATA_DIR, ".dat"), "matlab": (MATLAB_DATA_DIR, ".mat")}
_SUBJECT_FILE = re.compile(r"^s(\d{2})\.(dat|mat)$")
_VIDEO_FILE = re.compile(r"^(s\d{2})_trial(\d{2})\.avi$")


class DeapFormatError(ValueError):
    """A DEAP directory or file does not have the expected layout, shape or values (the message names the
    file, and where it applies the subject, trial, field or channel, and what was expected)."""


def subject_name(number):
    """'s01' for 1."""
    return f"s{int(number):02d}"


def subject_number(subject):
    """1 for 's01'."""
    return int(subject[1:])


def face_video_name(subject, presentation_index):
    """The relative path of a trial's face video: face_video/s01/s01_trial07.avi (7 = presentation order)."""
    return f"{FACE_VIDEO_DIR}/{subject}/{subject}_trial{int(presentation_index):02d}.avi"


@dataclasses.dataclass(frozen=True)
class DeapTrialKey:
    """One trial's identity and labels: cheap to list for a whole dataset (no EEG held).

    Args:
        subject: "s01".."s32".
        trial: the DEAP video id (`Experiment_id`, 1..40): the trial's index + 1 in the data file.
        presentation_index: the position (1..40) at which the subject saw this video, from
            participant_ratings.csv; None when the csv is absent or has no row for it.
        ratings: (valence, arousal, dominance, liking), each on DEAP's 1..9 scale.
        labels: binary (valence, arousal) labels from the dataset's `LabelRule`.
        face_video: path of the trial's face video, or None when there is none (EEG-only trial).
    """

    subject: str
    trial: int
    presentation_index: object
    ratings: tuple
    labels: tuple
    face_video: object

    def rating(self, name):
        """The 1..9 rating `name` ('valence', 'arousal', 'dominance' or 'liking')."""
        if name not in RATING_NAMES:
            raise ValueError(f"unknown rating {name!r}: expected one of {RATING_NAMES}")
        return self.ratings[RATING_NAMES.index(name)]

    def label(self, target):
        """The binary label (0 low, 1 high) of `target` ('valence' or 'arousal')."""
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}: expected one of {TARGETS}")
        return self.labels[TARGETS.index(target)]

    @property
    def has_face_video(self):
        return self.face_video is not None


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
        return DeapTrialKey(
            self.subject, self.trial, self.presentation_index, self.ratings, self.labels, self.face_video
        )

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


@dataclasses.dataclass(frozen=True)
class DeapLayoutReport:
    """The inventory of a DEAP directory, from `DeapDataset.layout_report()`.

    Args:
        root: the DEAP directory.
        layout: "python" (data_preprocessed_python/*.dat) or "matlab" (data_preprocessed_matlab/*.mat).
        dataset: "deap", or "synthetic-deap" for a directory written by `emorecog synth`.
        label_rule: the label rule in words, e.g. "high if rating > 5".
        trials_per_subject: ((subject, number of trials), ...).
        ratings_csv: path of metadata_csv/participant_ratings.csv, or None if it is absent (then the
            presentation order is unknown and no face video can be matched to its trial).
        subjects_without_video: subjects with no face video at all (s23..s32 in the real DEAP).
        missing_videos: ((subject, trial, presentation_index), ...) trials of subjects that have videos,
            whose own video file is absent.
        unmatched_videos: video files that match no trial (e.g. a presentation index not in the csv).
        label_counts: {target: (low, high)} over all trials.
        num_trials_with_video: trials whose face video was found.
    """

    root: str
    layout: str
    dataset: str
    label_rule: str
    trials_per_subject: tuple
    ratings_csv: object
    subjects_without_video: tuple
    missing_videos: tuple
    unmatched_videos: tuple
    label_counts: dict
    num_trials_with_video: int

    @property
    def subjects(self):
        return tuple(subject for subject, _ in self.trials_per_subject)

    @property
    def num_trials(self):
        return sum(count for _, count in self.trials_per_subject)

    def to_dict(self):
        """A JSON-ready dict (for stats files)."""
        result = dataclasses.asdict(self)
        result["trials_per_subject"] = dict(self.trials_per_subject)
        result["missing_videos"] = [
            {"subject": subject, "trial": trial, "presentation_index": index}
            for subject, trial, index in self.missing_videos
        ]
        result["label_counts"] = {
            target: {"low": low, "high": high} for target, (low, high) in self.label_counts.items()
        }
        result["num_trials"] = self.num_trials
        return result

    def lines(self):
        """The report as lines of text, for a terminal."""
        lines = [
            f"DEAP directory   {self.root} ({self.dataset}, layout: {self.layout})",
            f"subjects         {len(self.subjects)}: {', '.join(self.subjects)}",
            f"trials           {self.num_trials}, {self.num_trials_with_video} with face video",
            f"labels           {self.label_rule}; "
            + ", ".join(f"{target} low/high {low}/{high}" for target, (low, high) in self.label_counts.items()),
        ]
        if self.ratings_csv is None:
            lines.append("ratings csv      MISSING: presentation order unknown, face videos not matched to trials")
        if self.subjects_without_video:
            lines.append(f"no face video    {', '.join(self.subjects_without_video)} (EEG-only)")
        if self.missing_videos:
            by_subject = {}
            for subject, trial, index in self.missing_videos:
                by_subject.setdefault(subject, []).append(f"{trial} (presented {index})")
            for subject, trials in by_subject.items():
                lines.append(f"missing videos   {subject}: trials {', '.join(trials)} (EEG-only)")
        if self.unmatched_videos:
            lines.append(
                f"unmatched videos {len(self.unmatched_videos)}: {', '.join(self.unmatched_videos[:5])}"
                + (" ..." if len(self.unmatched_videos) > 5 else "")
            )
        return lines

    def __str__(self):
        return "\n".join(self.lines())


class DeapDataset:
    """A DEAP directory (real or written by `emorecog synth`), read safely and lazily.

    It implements the reader interface of `emorecog.datasets.dataset_reader` (`list_trials`, `load_trial`).

    Args:
        root: the directory holding `data_preprocessed_python/` (or `data_preprocessed_matlab/`),
            optionally `face_video/` and `metadata_csv/participant_ratings.csv`.
        label_rule: how ratings become binary labels; default `LabelRule()` (high if rating > 5.0).

    Raises:
        DeapFormatError: `root` is not a directory, has neither data folder (unknown layout), its data
            folder holds no `sXX.dat`/`sXX.mat`, or participant_ratings.csv is malformed.

    Example:
        >>> dataset = DeapDataset("/data/deap")
        >>> for key in dataset.trial_keys():
        ...     trial = dataset.read_trial(key.subject, key.trial)
        ...     trial.eeg.shape, trial.label("valence"), trial.face_video
    """

    source_format = "deap"

    def __init__(self, root, label_rule=None):
        self.root = os.path.abspath(os.fspath(root))
        self.label_rule = LabelRule() if label_rule is None else label_rule
        if not isinstance(self.label_rule, LabelRule):
            raise TypeError(f"label_rule must be a LabelRule, got {type(self.label_rule).__name__}")
        if not os.path.isdir(self.root):
            raise DeapFormatError(f"{self.root}: not a directory (expected a DEAP directory)")
        self.layout = self._detect_layout()
        data_dir, extension = _LAYOUTS[self.layout]
        self.data_dir = os.path.join(self.root, data_dir)
        self._subject_files = {}
        for name in sorted(os.listdir(self.data_dir)):
            match = _SUBJECT_FILE.match(name)
            if match and name.endswith(extension):
                self._subject_files[subject_name(match.group(1))] = os.path.join(self.data_dir, name)
        if not self._subject_files:
            raise DeapFormatError(f"{self.data_dir}: no subject files (expected s01{extension} ... s32{extension})")
        self.ratings_csv = os.path.join(self.root, METADATA_DIR, PARTICIPANT_RATINGS_CSV)
        if not os.path.lexists(self.ratings_csv):  # anything else there is read, and refused if unreadable
            self.ratings_csv = None
        self._presentation = self._read_presentation_order()
        self._labels_cache = {}  # subject -> validated labels [trials, 4] (small)
        self._open_subject = None  # (subject, data, labels, path) of the last subject read; one at a time

    def __getstate__(self):
        # Ship the arguments only: a worker reopens files itself instead of receiving a subject's arrays.
        return {"root": self.root, "label_rule": self.label_rule}

    def __setstate__(self, state):
        self.__init__(state["root"], state["label_rule"])

    def __repr__(self):
        return f"DeapDataset({self.root!r}, layout={self.layout!r}, subjects={len(self._subject_files)})"

    # -- listing -------------------------------------------------------------------------------
    @property
    def name(self):
        """'synthetic-deap' for a directory written by `emorecog synth`, else 'deap'."""
        return "synthetic-deap" if os.path.isfile(os.path.join(self.root, GROUND_TRUTH_FILE)) else "deap"

    def subjects(self):
        """Subjects with a data file, sorted: ['s01', 's02', ...]."""
        return list(self._subject_files)

    def num_trials(self, subject):
        """How many trials the subject's data file holds (40 in DEAP)."""
        return len(self._subject_labels(subject))

    def trial_keys(self, subject=None):
        """Every (subject, trial) with its ratings, labels, presentation index and face video path.

        Only the labels arrays are read; no EEG is held.

        Args:
            subject: list only this subject's trials (e.g. to skip a subject whose file is bad);
                default: all subjects.
        """
        keys = []
        for subject in self.subjects() if subject is None else [subject]:
            labels = self._subject_labels(subject)
            for index in range(labels.shape[0]):
                keys.append(self._trial_key(subject, index + 1, labels[index]))
        return keys

    def list_trials(self):
        """A `TrialListing` (the reader interface ExampleGen uses): keys of every readable subject's trials.

        A subject whose data file cannot be read, or that has face videos or ratings rows but no data file,
        is listed as unreadable with its reason; a refused file (`RefusedFileError`) raises.
        """
        unreadable = []
        for subject, evidence in self._subjects_without_data_file().items():
            data_file = os.path.join(self.data_dir, subject + _LAYOUTS[self.layout][1])
            unreadable.append(
                UnreadableTrial(
                    subject,
                    None,
                    f"subject {subject}: data file {data_file} is missing, but the subject has {evidence}",
                )
            )
        keys = []
        for subject in self.subjects():
            try:
                keys.extend(self.trial_keys(subject))
            except DeapFormatError as error:
                unreadable.append(UnreadableTrial(subject, None, f"subject {subject}: {error}"))
        return TrialListing(tuple(keys), tuple(unreadable))

    def load_trial(self, key):
        """The `DeapTrial` of a key from `list_trials()`."""
        return self.read_trial(key.subject, key.trial)

    def input_files(self):
        """Files outside the DEAP directory that trials read: none."""
        return []

    # -- reading -------------------------------------------------------------------------------
    def trials(self, subject):
        """The subject's trials in video order (trial = Experiment_id = 1..N), one `DeapTrial` at a time."""
        for trial in range(1, self.num_trials(subject) + 1):
            yield self.read_trial(subject, trial)

    def read_trial(self, subject, trial):
        """One trial as a `DeapTrial` (validated: finite samples, expected shapes).

        Args:
            subject: "s01".
            trial: the video id (Experiment_id), 1..N.
        """
        data, labels, path = self._subject_arrays(subject)
        if not isinstance(trial, (int, np.integer)) or not 1 <= trial <= data.shape[0]:
            raise DeapFormatError(f"{path}: subject {subject} has trials 1..{data.shape[0]}, not {trial!r}")
        trial = int(trial)
        block = np.asarray(data[trial - 1], dtype=np.float32)
        bad = ~np.isfinite(block)
        if bad.any():
            channel = int(np.argmax(bad.any(axis=1)))
            names = EEG_CHANNELS + PERIPHERAL_CHANNELS
            raise DeapFormatError(
                f"{path}: field 'data', subject {subject} trial {trial} channel {channel + 1} ({names[channel]}): "
                f"{int(bad[channel].sum())} NaN/inf samples, first at sample {int(np.argmax(bad[channel]))} (of the "
                f"whole trial, {BASELINE_SAMPLES} baseline samples first); expected finite values"
            )
        key = self._trial_key(subject, trial, labels[trial - 1])
        num_eeg = len(EEG_CHANNELS)
        return DeapTrial(
            subject=subject,
            trial=trial,
            presentation_index=key.presentation_index,
            eeg=np.ascontiguousarray(block[:num_eeg, BASELINE_SAMPLES:]),
            eeg_baseline=np.ascontiguousarray(block[:num_eeg, :BASELINE_SAMPLES]),
            eeg_channels=EEG_CHANNELS,
            peripheral=np.ascontiguousarray(block[num_eeg:]),
            peripheral_channels=PERIPHERAL_CHANNELS,
            sampling_rate=SAMPLING_RATE_HZ,
            ratings=key.ratings,
            labels=key.labels,
            face_video=key.face_video,
            source_file=path,
        )

    # -- the layout report ---------------------------------------------------------------------
    def layout_report(self):
        """A `DeapLayoutReport`: subjects, trials, label balance, subjects and trials without face video."""
        keys = self.trial_keys()
        trials_per_subject = tuple((subject, self.num_trials(subject)) for subject in self.subjects())
        video_root = os.path.join(self.root, FACE_VIDEO_DIR)
        subjects_without_video, missing = [], []
        for subject in self.subjects():
            subject_dir = os.path.join(video_root, subject)
            has_any = os.path.isdir(subject_dir) and any(_VIDEO_FILE.match(name) for name in os.listdir(subject_dir))
            if not has_any:
                subjects_without_video.append(subject)
                continue
            for key in keys:
                if key.subject == subject and key.face_video is None:
                    missing.append((subject, key.trial, key.presentation_index))
        matched = {os.path.normpath(key.face_video) for key in keys if key.face_video is not None}
        unmatched = []
        if os.path.isdir(video_root):
            for directory, _, names in sorted(os.walk(video_root)):
                for name in sorted(names):
                    path = os.path.normpath(os.path.join(directory, name))
                    if name.endswith(".avi") and path not in matched:
                        unmatched.append(os.path.relpath(path, self.root))
        label_counts = {}
        for target in TARGETS:
            high = sum(key.label(target) for key in keys)
            label_counts[target] = (len(keys) - high, high)
        return DeapLayoutReport(
            root=self.root,
            layout=self.layout,
            dataset=self.name,
            label_rule=self.label_rule.describe(),
            trials_per_subject=trials_per_subject,
            ratings_csv=self.ratings_csv,
            subjects_without_video=tuple(subjects_without_video),
            missing_videos=tuple(missing),
            unmatched_videos=tuple(unmatched),
            label_counts=label_counts,
            num_trials_with_video=sum(key.face_video is not None for key in keys),
        )

    # -- internals -----------------------------------------------------------------------------
    def _subjects_without_data_file(self):
        """{subject: what shows it exists} for subjects with face videos or ratings rows but no data file."""
        evidence = {}
        video_root = os.path.join(self.root, FACE_VIDEO_DIR)
        if os.path.isdir(video_root):
            for name in os.listdir(video_root):
                if re.fullmatch(r"s\d{2}", name) and os.listdir(os.path.join(video_root, name)):
                    evidence.setdefault(name, []).append(f"face videos in {os.path.join(video_root, name)}")
        for subject in self._presentation:
            evidence.setdefault(subject, []).append(f"rows in {self.ratings_csv}")
        present = set(self.subjects())
        return {subject: " and ".join(found) for subject, found in sorted(evidence.items()) if subject not in present}

    def _detect_layout(self):
        for layout, (data_dir, _) in _LAYOUTS.items():
            if os.path.isdir(os.path.join(self.root, data_dir)):
                return layout
        raise DeapFormatError(
            f"{self.root}: unknown layout: expected a DEAP directory holding {PYTHON_DATA_DIR}/sXX.dat or "
            f"{MATLAB_DATA_DIR}/sXX.mat (pass the directory that contains the data folder, not the folder)"
        )

    def _subject_file(self, subject):
        try:
            return self._subject_files[subject]
        except KeyError:
            raise DeapFormatError(
                f"{self.data_dir}: no data file for subject {subject!r}; have {', '.join(self._subject_files)}"
            ) from None

    def _subject_arrays(self, subject):
        """(data [trials, 40, samples], labels [trials, 4], path) of a subject, validated; cached for one."""
        path = self._subject_file(subject)
        cached = self._open_subject  # one read: another thread may replace it meanwhile
        if cached is not None and cached[0] == subject:
            return cached[1:]
        self._open_subject = None  # let the previous subject's arrays go before opening the next
        if self.layout == "python":
            content = self._load_pickle(path)
        else:
            content = self._load_mat(path, ("data", "labels"))
        data = self._checked_data(path, content)
        labels = self._checked_labels(path, content, data.shape[0])
        self._check_ratings_agree(subject, path, labels)
        # A copy: a view would keep the subject's whole memory-mapped file alive after the next subject
        # replaces it, and the pages read stay in the worker's resident memory (RSS grew with the subjects).
        self._labels_cache[subject] = np.array(labels)
        self._open_subject = (subject, data, labels, path)
        return data, labels, path

    def _subject_labels(self, subject):
        if subject not in self._labels_cache:
            path = self._subject_file(subject)
            if self.layout == "python":
                self._subject_arrays(subject)  # memory-mapped: only the labels are actually read
            else:
                labels = self._checked_labels(path, self._load_mat(path, ("labels",)), None)
                self._check_ratings_agree(subject, path, labels)
                self._labels_cache[subject] = labels
        return self._labels_cache[subject]

    @staticmethod
    def _load_pickle(path):
        try:
            return load_safe_pickle(path)
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, OSError) as error:
            raise DeapFormatError(
                f"{path}: not a readable DEAP pickle (expected a Python 2 pickle of a dict with 'data' and "
                f"'labels'): {_without_path(error, path)}"
            ) from error

    @staticmethod
    def _load_mat(path, variable_names):
        try:
            return load_safe_mat(path, variable_names)
        except UnsafeMatFileError:
            raise
        except (MatFileError, OSError) as error:
            raise DeapFormatError(
                f"{path}: not a readable MATLAB file ({_without_path(error, path)}); expected variables "
                "'data' [trials, 40, samples] and 'labels' [trials, 4]"
            ) from error

    @staticmethod
    def _checked_data(path, content):
        if "data" not in content:
            raise DeapFormatError(f"{path}: field 'data' is missing (expected [trials, 40, samples])")
        data = content["data"]
        if not isinstance(data, np.ndarray) or data.dtype.kind not in "iuf":
            raise DeapFormatError(
                f"{path}: field 'data' is {type(data).__name__} "
                f"{getattr(data, 'dtype', '')}, expected a numeric array [trials, 40, samples]"
            )
        if data.ndim != 3:
            raise DeapFormatError(
                f"{path}: field 'data' has shape {data.shape}, expected 3 dimensions [trials, 40, samples]"
            )
        if data.shape[1] != NUM_CHANNELS:
            raise DeapFormatError(
                f"{path}: field 'data' has {data.shape[1]} channels (shape {data.shape}), expected {NUM_CHANNELS} "
                f"(32 EEG + 8 peripheral, shape [trials, 40, samples])"
            )
        if data.shape[0] < 1:
            raise DeapFormatError(f"{path}: field 'data' holds no trials (shape {data.shape})")
        if data.shape[2] <= BASELINE_SAMPLES:
            raise DeapFormatError(
                f"{path}: field 'data' has {data.shape[2]} samples per trial, expected more than the "
                f"{BASELINE_SAMPLES}-sample baseline (8064 = 63 s at {SAMPLING_RATE_HZ} Hz in DEAP)"
            )
        return data

    @staticmethod
    def _checked_labels(path, content, num_trials):
        if "labels" not in content:
            raise DeapFormatError(f"{path}: field 'labels' is missing (expected [trials, 4])")
        labels = content["labels"]
        if (
            not isinstance(labels, np.ndarray)
            or labels.dtype.kind not in "iuf"
            or labels.ndim != 2
            or (labels.shape[1] != len(LABEL_COLUMNS))
        ):
            raise DeapFormatError(
                f"{path}: field 'labels' has shape {getattr(labels, 'shape', type(labels).__name__)}, expected "
                f"[trials, {len(LABEL_COLUMNS)}] ({', '.join(LABEL_COLUMNS)})"
            )
        if num_trials is not None and labels.shape[0] != num_trials:
            raise DeapFormatError(
                f"{path}: field 'labels' has {labels.shape[0]} rows but field 'data' has {num_trials} trials"
            )
        labels = np.array(labels, dtype=np.float64)
        low, high = RATING_RANGE
        bad = ~np.isfinite(labels) | (labels < low) | (labels > high)
        if bad.any():
            row, column = (int(index) for index in np.argwhere(bad)[0])
            raise DeapFormatError(
                f"{path}: field 'labels', trial {row + 1} {LABEL_COLUMNS[column]} = {labels[row, column]!r}, "
                f"expected a rating in [{low:g}, {high:g}]"
            )
        return labels

    def _trial_key(self, subject, trial, rating_row):
        ratings = tuple(float(value) for value in rating_row)
        presentation_index = self._presentation.get(subject, {}).get(trial)
        face_video = None
        if presentation_index is not None:
            candidate = os.path.join(self.root, face_video_name(subject, presentation_index))
            if os.path.isfile(candidate):
                face_video = candidate
        return DeapTrialKey(subject, trial, presentation_index, ratings, self.label_rule.labels(ratings), face_video)

    def _read_presentation_order(self):
        """{subject: {video id (Experiment_id): presentation index (Trial)}} from participant_ratings.csv.

        Also keeps the csv's ratings per (subject, video id) with their line numbers, when it has the rating
        columns, for `_check_ratings_agree`.
        """
        self._csv_ratings = {}
        if self.ratings_csv is None:
            return {}
        order = {}
        try:
            with (
                open_regular_file(self.ratings_csv) as binary,
                io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as handle,
            ):
                reader = csv.DictReader(handle)
                columns = [column.strip() for column in (reader.fieldnames or [])]
                needed = ("Participant_id", "Trial", "Experiment_id")
                missing = [column for column in needed if column not in columns]
                if missing:
                    raise DeapFormatError(
                        f"{self.ratings_csv}: missing column(s) {', '.join(missing)}; expected the columns "
                        f"{', '.join(PARTICIPANT_RATINGS_COLUMNS)}"
                    )
                rating_columns = [name.capitalize() for name in LABEL_COLUMNS]
                has_ratings = all(column in columns for column in rating_columns)
                for line_number, row in enumerate(reader, start=2):
                    row = {str(key).strip(): value for key, value in row.items()}
                    subject, presentation_index, video_id = self._csv_row_identity(row, line_number)
                    subject_order = order.setdefault(subject, {})
                    if video_id in subject_order:
                        raise DeapFormatError(
                            f"{self.ratings_csv}, line {line_number}: participant {subject_number(subject)} lists "
                            f"Experiment_id {video_id} twice (expected each video once per participant)"
                        )
                    if presentation_index in subject_order.values():
                        raise DeapFormatError(
                            f"{self.ratings_csv}, line {line_number}: participant {subject_number(subject)} lists "
                            f"Trial {presentation_index} twice (expected each presentation index once)"
                        )
                    subject_order[video_id] = presentation_index
                    if has_ratings:
                        self._csv_ratings.setdefault(subject, {})[video_id] = (
                            line_number,
                            self._csv_row_ratings(row, rating_columns, line_number),
                        )
        except UnicodeDecodeError as error:
            raise DeapFormatError(
                f"{self.ratings_csv}: not a UTF-8 text CSV (undecodable byte at position "
                f"{error.start}); expected the columns {', '.join(PARTICIPANT_RATINGS_COLUMNS)}"
            ) from None
        except csv.Error as error:
            raise DeapFormatError(
                f"{self.ratings_csv}: not a readable CSV ({error}); expected the columns "
                f"{', '.join(PARTICIPANT_RATINGS_COLUMNS)}"
            ) from None
        except OSError as error:
            raise DeapFormatError(
                f"{self.ratings_csv}: cannot be read: {_without_path(error, self.ratings_csv)}"
            ) from None
        return order

    def _csv_row_identity(self, row, line_number):
        try:
            return subject_name(int(row["Participant_id"])), int(row["Trial"]), int(row["Experiment_id"])
        except (TypeError, ValueError):
            raise DeapFormatError(
                f"{self.ratings_csv}, line {line_number}: Participant_id, Trial and Experiment_id must be "
                f"integers, got {_cell(row.get('Participant_id'))}, {_cell(row.get('Trial'))}, "
                f"{_cell(row.get('Experiment_id'))}"
            ) from None

    def _csv_row_ratings(self, row, rating_columns, line_number):
        try:
            return tuple(float(row[column]) for column in rating_columns)
        except (TypeError, ValueError):
            raise DeapFormatError(
                f"{self.ratings_csv}, line {line_number}: {', '.join(rating_columns)} must be numbers, got "
                + ", ".join(_cell(row.get(column)) for column in rating_columns)
            ) from None

    def _check_ratings_agree(self, subject, path, labels):
        """Refuse a subject whose csv ratings differ from its data file's labels (e.g. swapped Experiment_id:
        face videos would be paired with the wrong trials)."""
        disagreeing = []
        for video_id, (line_number, csv_ratings) in sorted(self._csv_ratings.get(subject, {}).items()):
            if not 1 <= video_id <= labels.shape[0]:
                raise DeapFormatError(
                    f"{self.ratings_csv}, line {line_number}: participant {subject_number(subject)} lists "
                    f"Experiment_id {video_id}, but {path} holds trials 1..{labels.shape[0]}"
                )
            if np.max(np.abs(np.asarray(csv_ratings) - labels[video_id - 1])) > RATINGS_AGREEMENT_TOLERANCE:
                disagreeing.append((line_number, video_id, csv_ratings, labels[video_id - 1]))
        if disagreeing:
            shown = "; ".join(
                f"line {line} (Experiment_id {video}): {_ratings_text(csv_row)} vs trial {video}: "
                f"{_ratings_text(dat_row)}"
                for line, video, csv_row, dat_row in disagreeing[:4]
            )
            more = f" (and {len(disagreeing) - 4} more rows)" if len(disagreeing) > 4 else ""
            raise DeapFormatError(
                f"{self.ratings_csv}: participant {subject_number(subject)} ({subject}): the csv ratings of "
                f"{len(disagreeing)} row(s) disagree with field 'labels' of {path}: {shown}{more}; expected the "
                f"same ratings (to {RATINGS_AGREEMENT_TOLERANCE}); a swapped Experiment_id would pair face "
                "videos with the wrong trials"
            )


def _without_path(error, path):
    """An error's message without its leading "<path>: " (the caller names the file already)."""
    message = str(error)
    return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message


def _cell(value, limit=20):
    """A csv cell for an error message, shortened (a binary file can put anything in a cell)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _ratings_text(ratings):
    return "/".join(f"{value:g}" for value in ratings)
