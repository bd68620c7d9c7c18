"""Synthetic DEAP: a directory in DEAP's exact on-disk layout with a known, planted, label-dependent event.

`write_synthetic_deap(out_dir, SynthConfig(...))` writes

    data_preprocessed_python/sXX.dat      Python 2 protocol-2 pickles (as DEAP's) of
                                          {"data": float64 [trials, 40, 128 * (3 + duration_s)],
                                           "labels": float64 [trials, 4]}, trials in video order
    face_video/sXX/sXX_trialYY.avi        MJPEG AVI, YY = presentation order; the video covers the
                                          stimulus part only (frame k is at k / fps seconds after the
                                          3 s baseline ends)
    metadata_csv/participant_ratings.csv  DEAP's columns, a shuffled presentation order per subject
    ground_truth.json                     what was planted; never read by training
    emorecog_folder.json                  written by emorecog synth, and the list of files it wrote

Every trial of every subject has one hidden event window (`event_window_s` long, at a random time of the
stimulus part). Inside it, and only there, the EEG carries a frontal alpha asymmetry that depends on the
valence label and a frontal/central beta burst whose strength depends on the arousal label
(see `physiology`), and the face smiles or frowns with valence and opens or narrows its eyes
(and raises or lowers its brows) with arousal. Outside the window nothing depends on the labels. The
label-dependent part of every effect is scaled by (1 - difficulty): difficulty 1 plants windows without
label information.

Ratings are drawn so that high/low (by the default `LabelRule`, > 5) are balanced per subject for valence
and for arousal: high ratings in [5.5, 9], low ones in [1, 4.5], so > 5 and >= 5 agree.

Randomness: every subject and trial has its own stream derived from (seed, subject, trial), so the same
seed writes the same bytes (videos included), and a subject's data do not depend on how many subjects are
generated. The directory is written in a hidden sibling folder and renamed into place when complete;
`--force` replaces only a directory this writer made and that holds nothing else.
"""

import concurrent.futures
import csv
import dataclasses
import json
import multiprocessing
import os
import shutil

import numpy as np

from emorecog.datasets.dataset_reader import GROUND_TRUTH_FILE, LabelRule
from emorecog.datasets.deap import (
    BASELINE_SAMPLES,
    BASELINE_SECONDS,
    FACE_VIDEO_DIR,
    LABEL_COLUMNS,
    METADATA_DIR,
    PARTICIPANT_RATINGS_COLUMNS,
    PARTICIPANT_RATINGS_CSV,
    PYTHON_DATA_DIR,
    SAMPLING_RATE_HZ,
    face_video_name,
    subject_name,
)
from emorecog.datasets.safe_pickle import dump_python2_pickle
from emorecog.datasets.synthetic.face import SyntheticFace
from emorecog.datasets.synthetic.physiology import (
    AROUSAL_CHANNELS,
    BETA_BURST_BAND_HZ,
    BLINK_WEIGHTS,
    EFFECT_ASYMMETRY,
    VALENCE_LEFT,
    VALENCE_RIGHT,
    WINDOW_EDGE_S,
    SyntheticPhysiology,
)
from emorecog.output_folders import (
    FOLDER_MARKER_FILE,
    files_under,
    folder_state,
    new_staging_folder,
    publish_staged_folder,
    read_folder_marker,
    refuse_foreign_content,
    refuse_foreign_folder,
    remove_abandoned_staging,
    write_folder_marker,
)
from emorecog.output_lock import OutputLock

SYNTH_WRITER = "emorecog synth"

GROUND_TRUTH_FORMAT = "emorecog-synthetic-deap-ground-truth/1"
VIDEO_FOURCC = "MJPG"
WINDOW_MARGIN_S = 0.5
LOOK_AWAY_S = (0.3, 0.8)
BLINK_CLOSED_S = 0.08  # eyes drawn closed within this time of a blink peak
# Random streams, one per (subject, trial, purpose): spawn keys of numpy's SeedSequence.
_SUBJECT_TRAITS, _SUBJECT_RATINGS, _TRIAL_EEG, _TRIAL_VIDEO, _DATASET = range(5)


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What `write_synthetic_deap` generates.

    Args:
        subjects: number of subjects (s01..).
        trials: trials per subject (DEAP: 40).
        duration_s: seconds of the stimulus part of a trial (DEAP: 60); the 3 s baseline is added.
        fps: face video frame rate (DEAP: 50).
        width, height: face video size in pixels (DEAP: 720 x 576).
        difficulty: 0 (strongest label effects, little pixel noise) .. 1 (windows carry no label
            information). The label-dependent part of each effect is scaled by 1 - difficulty.
        seed: seed of every random stream; the same seed writes the same bytes.
        event_window_s: length of the hidden event window of each trial (the shortest, with
            event_window_max_s).
        event_window_max_s: if set, each trial's window length is drawn uniformly from
            [event_window_s, event_window_max_s]; None: every window is event_window_s long.
        look_away_episodes: per trial, episodes of 0.3-0.8 s without a face (the head turned away or out
            of frame), placed outside the event window.
        subjects_without_video: the last this-many subjects get no face video (as s23-s32 in DEAP).
        missing_trial_videos: this many trial videos of the other subjects are left out (as in DEAP).
        video_quality: MJPEG quality, 1..100.

    The defaults make a small set that `make demo` generates in seconds; `SynthConfig.deap_size()` makes
    DEAP-sized trials for benchmarks.
    """

    subjects: int = 6
    trials: int = 16
    duration_s: int = 20
    fps: int = 10
    width: int = 160
    height: int = 120
    difficulty: float = 0.3
    seed: int = 0
    event_window_s: float = 3.0
    event_window_max_s: float = None
    look_away_episodes: int = 1
    subjects_without_video: int = 0
    missing_trial_videos: int = 0
    video_quality: int = 90

    def __post_init__(self):
        def require(condition, message):
            if not condition:
                raise ValueError(f"SynthConfig: {message}")

        for name in (
            "subjects",
            "trials",
            "duration_s",
            "fps",
            "width",
            "height",
            "seed",
            "look_away_episodes",
            "subjects_without_video",
            "missing_trial_videos",
            "video_quality",
        ):
            value = getattr(self, name)
            require(isinstance(value, int) and not isinstance(value, bool), f"{name} must be an int, got {value!r}")
        require(1 <= self.subjects <= 99, f"subjects must be 1..99 (names s01..s99), got {self.subjects}")
        require(1 <= self.trials <= 99, f"trials must be 1..99 (video names _trial01.._trial99), got {self.trials}")
        require(
            self.fps >= 1 and self.width >= 32 and self.height >= 32,
            f"fps >= 1 and frames of at least 32 x 32 pixels needed, got {self.fps} fps, {self.width}x{self.height}",
        )
        require(0.0 <= float(self.difficulty) <= 1.0, f"difficulty must be in [0, 1], got {self.difficulty}")
        require(self.seed >= 0, f"seed must be >= 0, got {self.seed}")
        require(
            float(self.event_window_s) >= 4 * WINDOW_EDGE_S,
            f"event_window_s must be >= {4 * WINDOW_EDGE_S} s, got {self.event_window_s}",
        )
        require(
            self.event_window_max_s is None or float(self.event_window_max_s) >= float(self.event_window_s),
            f"event_window_max_s ({self.event_window_max_s}) must be >= event_window_s ({self.event_window_s})",
        )
        require(
            self.duration_s >= self.longest_event_window_s + 2 * WINDOW_MARGIN_S,
            f"duration_s ({self.duration_s}) must exceed the longest event window ({self.longest_event_window_s}) + "
            f"{2 * WINDOW_MARGIN_S} s",
        )
        require(self.look_away_episodes >= 0, "look_away_episodes must be >= 0")
        require(
            0 <= self.subjects_without_video <= self.subjects,
            f"subjects_without_video must be in 0..subjects, got {self.subjects_without_video}",
        )
        with_video = (self.subjects - self.subjects_without_video) * self.trials
        require(
            0 <= self.missing_trial_videos <= with_video,
            f"missing_trial_videos must be in 0..{with_video}, got {self.missing_trial_videos}",
        )
        require(1 <= self.video_quality <= 100, f"video_quality must be 1..100, got {self.video_quality}")

    @classmethod
    def deap_size(cls, **overrides):
        """DEAP-sized trials: 40 trials of 60 s (+3 s baseline), video at 50 fps, 720 x 576."""
        preset = dict(trials=40, duration_s=60, fps=50, width=720, height=576)
        preset.update(overrides)
        return cls(**preset)

    @property
    def longest_event_window_s(self):
        return float(self.event_window_s if self.event_window_max_s is None else self.event_window_max_s)

    @property
    def effect(self):
        """The label-dependent effect size e = 1 - difficulty."""
        return 1.0 - float(self.difficulty)

    @property
    def samples_per_trial(self):
        return BASELINE_SAMPLES + self.duration_s * SAMPLING_RATE_HZ

    @property
    def frames_per_trial(self):
        return self.duration_s * self.fps


def seeded_rng(config, *key):
    """The generator of one purpose (`key`) of a synthetic dataset: independent streams from `config.seed`."""
    return np.random.default_rng(np.random.SeedSequence(entropy=config.seed, spawn_key=key))


def draw_ratings(rng, trials):
    """float64 [trials, 4] ratings (valence, arousal, dominance, liking) with balanced high/low labels."""
    ratings = np.empty((trials, len(LABEL_COLUMNS)))
    for column in (0, 1):  # valence, arousal: half high, half low, shuffled
        high = rng.permutation(np.arange(trials) < (trials + int(rng.integers(2))) // 2)
        ratings[:, column] = np.where(high, rng.uniform(5.5, 9.0, trials), rng.uniform(1.0, 4.5, trials))
    ratings[:, 2] = rng.uniform(1.0, 9.0, trials)
    ratings[:, 3] = np.clip(ratings[:, 0] + rng.normal(0.0, 1.5, trials), 1.0, 9.0)
    return np.round(ratings, 2)


def _smooth_path(rng, times, amplitude, frequencies=(0.03, 0.35), components=3):
    """A smooth random trajectory at `times`: a sum of slow sinusoids, peak about `amplitude`."""
    path = np.zeros_like(times)
    for _ in range(components):
        frequency = rng.uniform(*frequencies)
        path += np.sin(2 * np.pi * frequency * times + rng.uniform(0, 2 * np.pi))
    return amplitude * path / components * 1.5


def _place_look_aways(rng, config, window_start_s, window_end_s):
    """Frame index ranges [(first, last_exclusive), ...] without a face, clear of the event window."""
    blocked = (window_start_s - WINDOW_MARGIN_S, window_end_s + WINDOW_MARGIN_S)
    episodes = []
    for _ in range(config.look_away_episodes):
        length_s = rng.uniform(*LOOK_AWAY_S)
        for _attempt in range(20):
            start_s = rng.uniform(0.0, config.duration_s - length_s)
            end_s = start_s + length_s
            clear_of_window = end_s <= blocked[0] or start_s >= blocked[1]
            clear_of_others = all(end_s <= a / config.fps or start_s >= b / config.fps for a, b in episodes)
            first = int(np.ceil(start_s * config.fps))  # frames whose time lies in [start_s, end_s)
            last = min(int(np.ceil(end_s * config.fps)), config.frames_per_trial)
            if clear_of_window and clear_of_others and first < last:
                episodes.append((first, last))
                break
    return sorted(episodes)


def write_trial_video(path, config, face, rng, window_start_s, window_end_s, valence_high, arousal_high, blink_times_s):
    """Render and write one trial's face video; returns (no-face frame indices, look-away episodes)."""
    import cv2

    width, height, fps = config.width, config.height, config.fps
    times = np.arange(config.frames_per_trial) / fps
    effect = config.effect
    valence_sign = 1.0 if valence_high else -1.0
    arousal_sign = 1.0 if arousal_high else -1.0

    # expression envelope: the EEG window's raised-cosine shape, at frame times
    inside = (times >= window_start_s) & (times < window_end_s)
    edge_position = np.minimum(times - window_start_s, window_end_s - times) / WINDOW_EDGE_S
    expression = np.where(inside, 0.5 - 0.5 * np.cos(np.pi * np.clip(edge_position, 0.0, 1.0)), 0.0)

    look_aways = _place_look_aways(rng, config, window_start_s, window_end_s)
    no_face = np.zeros(config.frames_per_trial, bool)
    kinds = []
    for first, last in look_aways:
        no_face[first:last] = True
        kinds.append("turned_away" if rng.random() < 0.5 else "out_of_frame")

    centre_x = width / 2 + _smooth_path(rng, times, 0.06 * width)
    centre_y = height * 0.44 + _smooth_path(rng, times, 0.04 * height)
    scale = 1.0 + _smooth_path(rng, times, 0.05)
    roll = _smooth_path(rng, times, 6.0)
    yaw = _smooth_path(rng, times, 0.35)
    brightness = 1.0 + _smooth_path(rng, times, 0.12, frequencies=(0.02, 0.15))
    brightness += np.where(times >= rng.uniform(0, config.duration_s), rng.choice((-0.15, 0.15)), 0.0)  # a lamp
    side_light = _smooth_path(rng, times, 0.2, frequencies=(0.01, 0.1))
    neutral_mouth = rng.uniform(-0.15, 0.15) + _smooth_path(rng, times, 0.08, frequencies=(0.1, 0.5))
    mouth = neutral_mouth + expression * valence_sign * effect * 1.0
    eye_open = 1.0 + _smooth_path(rng, times, 0.05, frequencies=(0.1, 0.5)) + expression * arousal_sign * effect * 0.5
    brow = expression * arousal_sign * effect * 0.8
    for blink in blink_times_s:
        eye_open[np.abs(times - blink) < BLINK_CLOSED_S] = 0.0

    noise_std = 1.0 + 4.0 * float(config.difficulty)
    noise_bank = rng.normal(0.0, noise_std, size=(8, height, width, 1)).astype(np.float32)
    noise_choice = rng.integers(len(noise_bank), size=config.frames_per_trial)
    x_ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :, None]

    # OpenCV's own MJPEG AVI writer: every frame a JPEG (exact seeking), no FFmpeg needed, same bytes each run.
    writer = cv2.VideoWriter(
        path, cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*VIDEO_FOURCC), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot open an {VIDEO_FOURCC} AVI writer for {path}")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, config.video_quality)
    kind_of_frame = {}
    for (first, last), kind in zip(look_aways, kinds):
        for index in range(first, last):
            kind_of_frame[index] = kind
    try:
        for index in range(config.frames_per_trial):
            centre = (centre_x[index], centre_y[index])
            if kind_of_frame.get(index) == "out_of_frame":
                centre = (centre_x[index] + 2.0 * width, centre_y[index])  # stepped out of the picture
            frame = face.draw(
                height,
                width,
                centre,
                scale=scale[index],
                roll_deg=roll[index],
                yaw=yaw[index],
                mouth_curve=mouth[index],
                eye_open=eye_open[index],
                brow_raise=brow[index],
                turned_away=kind_of_frame.get(index) == "turned_away",
            )
            lit = frame.astype(np.float32)
            lit *= brightness[index] * (1.0 + side_light[index] * x_ramp)
            lit += noise_bank[noise_choice[index]]
            writer.write(np.clip(lit, 0, 255, out=lit).astype(np.uint8))
    finally:
        writer.release()
    episodes = [{"frames": [first, last], "kind": kind} for (first, last), kind in zip(look_aways, kinds)]
    return [int(i) for i in np.flatnonzero(no_face)], episodes


def planted_effects_description(config):
    """What the generator planted and where, for ground_truth.json (shared by the DEAP and MAHNOB layouts)."""
    effect = config.effect
    return {
        "label_rule": LabelRule().describe(),
        "effect_size": effect,
        "outside_window": "no signal depends on the labels outside the event window",
        "eeg": {
            "added_after_common_average_reference": True,
            "window_edges": f"raised cosine, {WINDOW_EDGE_S} s at each end, inside the window",
            "valence": {
                "effect": "frontal alpha asymmetry: an alpha burst (individual alpha peak +- 1.5 Hz)",
                "right_channels": list(VALENCE_RIGHT),
                "left_channels": list(VALENCE_LEFT),
                "right_amplitude_factor_high": 1.0 + EFFECT_ASYMMETRY * effect,
                "left_amplitude_factor_high": 1.0 - EFFECT_ASYMMETRY * effect,
                "low_valence": "mirrored: the left side gets the larger burst",
            },
            "arousal": {
                "effect": f"beta burst {BETA_BURST_BAND_HZ[0]:g}-{BETA_BURST_BAND_HZ[1]:g} Hz on frontal and "
                "central channels",
                "channels": list(AROUSAL_CHANNELS),
                "amplitude_factor_high": 1.0 + EFFECT_ASYMMETRY * effect,
                "amplitude_factor_low": 1.0 - EFFECT_ASYMMETRY * effect,
            },
            "blinks": {
                "weights": BLINK_WEIGHTS,
                "also_on": ["vEOG (x2.5)", "hEOG (x0.1)"],
                "times": "blinks_s per trial, seconds from the stimulus start",
            },
        },
        "face": {
            "valence": f"mouth curvature +-{effect:.2f} (smile for high, frown for low) inside the window",
            "arousal": f"eye opening 1 +-{0.5 * effect:.2f} and brows +-{0.8 * effect:.2f} (wide/raised for "
            "high, narrow/lowered for low) inside the window",
            "blinks": "eyes drawn closed within 0.08 s of each EEG blink peak",
            "no_face_frames": "look-away episodes outside the window: head turned away or out of frame",
        },
    }


def write_synthetic_deap(out_dir, config=None, overwrite=False, progress=None, workers=1):
    """Write a synthetic DEAP directory (layout in the module docstring) atomically.

    The directory carries `emorecog_folder.json` listing every file written; only such a directory, holding
    nothing else, is ever replaced (`overwrite`); any other non-empty folder is refused.

    Args:
        out_dir: the directory to create.
        config: a `SynthConfig` (default: `SynthConfig()`).
        overwrite: replace `out_dir` if it is a synthetic DEAP directory written by emorecog (else
            FileExistsError).
        progress: optional callable `progress(trials_done, trials_total)` (called as subjects finish).
        workers: processes writing subjects in parallel (None: one per CPU core, at most one per subject);
            the output does not depend on it. More than 1 starts "spawn" processes, so a calling script
            needs the usual `if __name__ == "__main__":` guard.

    Returns:
        The absolute path of the written directory.

    Raises:
        FileExistsError: `out_dir` is a synthetic DEAP directory and `overwrite` is False.
        emorecog.output_folders.OutputFolderError: `out_dir` holds files emorecog synth did not write, or
            another process is writing it.
    """
    config = SynthConfig() if config is None else config
    return write_synthetic_folder(out_dir, lambda root: _write_into(root, config, progress, workers), overwrite)


def write_synthetic_folder(out_dir, write_into, overwrite=False):
    """Write a synthetic dataset folder atomically: `write_into(staging_folder)` fills it, then it is renamed
    into place with `emorecog_folder.json` listing its files. Only a folder emorecog synth wrote, holding
    nothing else, is ever replaced (`overwrite`). Returns the absolute path."""
    out_dir = os.path.abspath(os.fspath(out_dir))
    with OutputLock(out_dir):
        state = folder_state(out_dir)
        if state == "present":
            marker = read_folder_marker(out_dir)
            if marker is None or marker.get("written_by") != SYNTH_WRITER:
                raise refuse_foreign_folder(out_dir, "emorecog synth writes a folder of its own")
            if not overwrite:
                raise FileExistsError(
                    f"{out_dir} already exists (a synthetic dataset folder of emorecog synth); "
                    "replace it with --force (overwrite=True)"
                )
            refuse_foreign_content(out_dir, marker.get("files", []), SYNTH_WRITER)
        remove_abandoned_staging(out_dir)
        staging = new_staging_folder(out_dir)
        try:
            write_into(staging)
            write_folder_marker(staging, SYNTH_WRITER, files=files_under(staging) + [FOLDER_MARKER_FILE])
            publish_staged_folder(staging, out_dir, state)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return out_dir


def _write_into(root, config, progress, workers):
    for directory in (PYTHON_DATA_DIR, FACE_VIDEO_DIR, METADATA_DIR):
        os.makedirs(os.path.join(root, directory))
    subjects = [subject_name(number) for number in range(1, config.subjects + 1)]
    with_video = subjects[: config.subjects - config.subjects_without_video]
    pairs = [(subject, trial) for subject in with_video for trial in range(1, config.trials + 1)]
    dataset_rng = seeded_rng(config, _DATASET)
    dropped = sorted(pairs[i] for i in dataset_rng.choice(len(pairs), size=config.missing_trial_videos, replace=False))
    jobs = [
        (root, config, number, subject in with_video, [t for s, t in dropped if s == subject])
        for number, subject in enumerate(subjects, start=1)
    ]

    results = {}
    total = config.subjects * config.trials
    workers = min(os.cpu_count() or 1, config.subjects) if workers is None else max(1, int(workers))
    if workers == 1:
        for job in jobs:
            results[job[2]] = _write_subject(*job)
            if progress is not None:
                progress(len(results) * config.trials, total)
    else:
        # Subjects are independent random streams: any number of processes writes the same bytes.
        context = multiprocessing.get_context("spawn")  # no fork of a parent that may hold TF/MediaPipe threads
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(_write_subject, *job): job[2] for job in jobs}
            for future in concurrent.futures.as_completed(futures):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(len(results) * config.trials, total)

    csv_rows = [row for number in sorted(results) for row in results[number][0]]
    truth_subjects = {subject_name(number): results[number][1] for number in sorted(results)}
    with open(os.path.join(root, METADATA_DIR, PARTICIPANT_RATINGS_CSV), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PARTICIPANT_RATINGS_COLUMNS)
        writer.writerows(csv_rows)

    truth = {
        "format": GROUND_TRUTH_FORMAT,
        "note": "What emorecog synth planted. For tests and analysis only: training never reads this file.",
        "config": dataclasses.asdict(config),
        "sampling_rate_hz": SAMPLING_RATE_HZ,
        "baseline_s": BASELINE_SECONDS,
        "time_reference": "event_window_s, blinks_s and video frames count from the start of the stimulus part "
        "(EEG sample 384 of each trial in the data file); frame k is at k / fps seconds",
        "video": {
            "codec": VIDEO_FOURCC,
            "container": "avi",
            "fps": config.fps,
            "frames_per_trial": config.frames_per_trial,
            "width": config.width,
            "height": config.height,
            "covers": "the stimulus part only (no baseline)",
        },
        "planted_effects": planted_effects_description(config),
        "subjects": truth_subjects,
    }
    with open(os.path.join(root, GROUND_TRUTH_FILE), "w") as handle:
        json.dump(truth, handle, indent=1)


def _write_subject(root, config, number, has_video, dropped_trials):
    """Write one subject's .dat and videos; returns (participant_ratings rows, ground-truth entry)."""
    subject = subject_name(number)
    traits_rng = seeded_rng(config, number, _SUBJECT_TRAITS)
    physiology = SyntheticPhysiology.random(traits_rng)
    face = SyntheticFace.random(traits_rng)
    ratings_rng = seeded_rng(config, number, _SUBJECT_RATINGS)
    ratings = draw_ratings(ratings_rng, config.trials)
    presentation = ratings_rng.permutation(config.trials) + 1  # presentation index of video id t + 1
    familiarity = ratings_rng.integers(1, 6, size=config.trials)
    gaps_s = ratings_rng.uniform(10.0, 20.0, size=config.trials)
    first_start_s = ratings_rng.uniform(60.0, 300.0)
    if has_video:
        os.makedirs(os.path.join(root, FACE_VIDEO_DIR, subject))

    data = np.empty((config.trials, 40, config.samples_per_trial))
    truth_trials = []
    for trial in range(1, config.trials + 1):
        eeg_rng = seeded_rng(config, number, trial, _TRIAL_EEG)
        window_s = float(config.event_window_s)
        if config.event_window_max_s is not None:
            window_s = float(np.round(eeg_rng.uniform(config.event_window_s, config.event_window_max_s), 3))
        window_length = int(round(window_s * SAMPLING_RATE_HZ))
        window_start_s = float(
            np.round(eeg_rng.uniform(WINDOW_MARGIN_S, config.duration_s - window_s - WINDOW_MARGIN_S), 3)
        )
        window_start = BASELINE_SAMPLES + int(round(window_start_s * SAMPLING_RATE_HZ))
        labels = LabelRule().labels(ratings[trial - 1])
        data[trial - 1], blink_times_s = physiology.trial(
            eeg_rng,
            config.samples_per_trial,
            window_start,
            window_length,
            valence_high=bool(labels[0]),
            arousal_high=bool(labels[1]),
            effect=config.effect,
        )
        presentation_index = int(presentation[trial - 1])
        video_path, no_face_frames, episodes = None, [], []
        if has_video and trial not in dropped_trials:
            video_path = face_video_name(subject, presentation_index)
            stimulus_blinks = [t for t in blink_times_s if 0.0 <= t < config.duration_s]
            no_face_frames, episodes = write_trial_video(
                os.path.join(root, video_path),
                config,
                face,
                seeded_rng(config, number, trial, _TRIAL_VIDEO),
                window_start_s,
                round(window_start_s + window_s, 3),
                bool(labels[0]),
                bool(labels[1]),
                stimulus_blinks,
            )
        truth_trials.append(
            {
                "trial": trial,
                "presentation_index": presentation_index,
                "event_window_s": [window_start_s, round(window_start_s + window_s, 3)],
                "ratings": dict(zip(LABEL_COLUMNS, (float(r) for r in ratings[trial - 1]))),
                "labels": {"valence": labels[0], "arousal": labels[1]},
                "face_video": video_path,
                "video_dropped": has_video and trial in dropped_trials,
                "no_face_frames": no_face_frames,
                "look_away_episodes": episodes,
                "blinks_s": [round(t, 4) for t in blink_times_s],
            }
        )

    with open(os.path.join(root, PYTHON_DATA_DIR, f"{subject}.dat"), "wb") as handle:
        dump_python2_pickle({"data": data, "labels": ratings.astype(np.float64)}, handle)

    start_times_s = first_start_s + np.concatenate(
        [[0.0], np.cumsum(BASELINE_SECONDS + config.duration_s + gaps_s[:-1])]
    )
    video_of_presentation = {int(p): t + 1 for t, p in enumerate(presentation)}
    rows = []
    for presentation_index in range(1, config.trials + 1):
        trial = video_of_presentation[presentation_index]
        rows.append(
            [
                number,
                presentation_index,
                trial,
                int(round(start_times_s[presentation_index - 1] * 1e6)),
                *(f"{value:.2f}" for value in ratings[trial - 1]),
                int(familiarity[trial - 1]),
            ]
        )
    truth = {
        "has_video": has_video,
        "appearance": face.to_dict(),
        "physiology": physiology.to_dict(),
        "trials": truth_trials,
    }
    return rows, truth
