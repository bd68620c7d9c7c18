"""`DeapTrialKey`: what identifies and labels one DEAP trial, without its samples."""

import dataclasses

from emorecog.features import RATING_NAMES, TARGETS


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
