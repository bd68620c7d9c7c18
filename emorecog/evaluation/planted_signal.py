"""The planted event windows of a synthetic DEAP dataset (`emorecog synth`'s ground_truth.json).

The file lists, per subject and DEAP video id, `event_window_s` = [start, end] in seconds from the start
of the stimulus part (after DEAP's 3 s baseline) — the same origin as sample frame 0 — so at `fps` frames
per second the window covers frames floor(start * fps) .. ceil(end * fps) - 1.
"""

import json
import math

GROUND_TRUTH_FORMAT_PREFIX = "emorecog-synthetic-deap-ground-truth/"


def load_ground_truth(path):
    """The parsed ground_truth.json; raises ValueError naming the file if it is not one."""
    with open(path) as handle:
        truth = json.load(handle)
    if not str(truth.get("format", "")).startswith(GROUND_TRUTH_FORMAT_PREFIX) or "subjects" not in truth:
        raise ValueError(
            f"{path} is not an emorecog synthetic ground truth (format {truth.get('format')!r}, "
            f"expected {GROUND_TRUTH_FORMAT_PREFIX}N with 'subjects')"
        )
    return truth


def planted_frame_windows(truth, subject, trial, target, fps):
    """The planted windows of one trial as [(first_frame, last_frame)], or None if the trial is unknown.

    Args:
        truth: a `load_ground_truth` result.
        subject: e.g. "s01".
        trial: DEAP video id (the record's `trial`).
        target: "valence" or "arousal" (the synthetic window carries both; kept for other ground truths).
        fps: frames per second of the samples.
    """
    del target  # one window per trial carries both labels' effects
    for entry in truth.get("subjects", {}).get(subject, {}).get("trials", []):
        if int(entry["trial"]) == int(trial):
            start_s, end_s = entry["event_window_s"]
            return [(int(math.floor(start_s * fps)), int(math.ceil(end_s * fps)) - 1)]
    return None


def glimpses_inside_window(glimpse_frames, windows):
    """How many of a sample's glimpses (frame indices, -1 = none) fall inside any of `windows`."""
    frames = [int(frame) for frame in glimpse_frames if int(frame) >= 0]
    return sum(any(first <= frame <= last for first, last in windows) for frame in frames)
