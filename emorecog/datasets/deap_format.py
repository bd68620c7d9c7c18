"""Facts about DEAP's on-disk format (Koelstra et al. 2012) that the reader and the generator share.

Layout of a DEAP directory:

    data_preprocessed_python/sXX.dat      Python 2 pickle: {"data": [trials, 40, samples], "labels": [trials, 4]}
    data_preprocessed_matlab/sXX.mat      the same two arrays as a MATLAB file
    face_video/sXX/sXX_trialYY.avi        YY = presentation order (s01..s22 only in the real DEAP)
    metadata_csv/participant_ratings.csv  Participant_id, Trial (presentation), Experiment_id (video), ...

Trials in the data files are in video order (Experiment_id 1..40). Each trial is 63 s at 128 Hz = 8064
samples: a 3 s pre-trial baseline (384 samples) then the 60 s stimulus part (7680 samples). The reader
accepts any length longer than the baseline, so shorter synthetic trials read the same way.
"""

from emorecog.features import RATING_NAMES

SAMPLING_RATE_HZ = 128
BASELINE_SECONDS = 3
BASELINE_SAMPLES = SAMPLING_RATE_HZ * BASELINE_SECONDS

# Channels 1-32 of the preprocessed files (Geneva order), then channels 33-40.
EEG_CHANNELS = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)
PERIPHERAL_CHANNELS = ("hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration", "Plethysmograph", "Temperature")
NUM_CHANNELS = len(EEG_CHANNELS) + len(PERIPHERAL_CHANNELS)

# Columns of the `labels` array, in order (ratings on a continuous 1..9 scale).
LABEL_COLUMNS = RATING_NAMES
RATING_RANGE = (1.0, 9.0)

PYTHON_DATA_DIR = "data_preprocessed_python"
MATLAB_DATA_DIR = "data_preprocessed_matlab"
FACE_VIDEO_DIR = "face_video"
METADATA_DIR = "metadata_csv"
PARTICIPANT_RATINGS_CSV = "participant_ratings.csv"
PARTICIPANT_RATINGS_COLUMNS = (
    "Participant_id", "Trial", "Experiment_id", "Start_time",
    "Valence", "Arousal", "Dominance", "Liking", "Familiarity",
)
# Written by `emorecog synth` only; its presence tells a synthetic directory from the real DEAP.
GROUND_TRUTH_FILE = "ground_truth.json"


class RefusedFileError(Exception):
    """A data file holds what only a crafted file would (code to run, a decompression or memo bomb, ...).

    Not a ValueError: unlike a `DeapFormatError` it is never skipped as one bad trial; a run stops on it.
    """


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
