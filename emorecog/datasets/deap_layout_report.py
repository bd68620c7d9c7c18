"""`DeapLayoutReport`: what a DEAP directory holds and lacks (missing videos are reported, not fatal)."""

import dataclasses


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
        result["label_counts"] = {target: {"low": low, "high": high}
                                  for target, (low, high) in self.label_counts.items()}
        result["num_trials"] = self.num_trials
        return result

    def lines(self):
        """The report as lines of text, for a terminal."""
        lines = [
            f"DEAP directory   {self.root} ({self.dataset}, layout: {self.layout})",
            f"subjects         {len(self.subjects)}: {', '.join(self.subjects)}",
            f"trials           {self.num_trials}, {self.num_trials_with_video} with face video",
            f"labels           {self.label_rule}; " + ", ".join(
                f"{target} low/high {low}/{high}" for target, (low, high) in self.label_counts.items()),
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
            lines.append(f"unmatched videos {len(self.unmatched_videos)}: {', '.join(self.unmatched_videos[:5])}"
                         + (" ..." if len(self.unmatched_videos) > 5 else ""))
        return lines

    def __str__(self):
        return "\n".join(self.lines())
