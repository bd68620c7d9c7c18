"""Synthetic MAHNOB-HCI: emotion-elicitation sessions in MAHNOB-HCI's on-disk layout, with the planted event
of the synthetic DEAP (`physiology` for the EEG, `face` for the video).

`write_synthetic_mahnob(out_dir, SynthConfig(...), MahnobLayout(...))` writes

    Sessions/<id>/session.xml      <session feltVlnc feltArsl feltCtrl feltPred feltEmo isStim mediaFile
                                   cutLenSec ...><subject id="N"/>...</session>, integer ratings 1..9
    Sessions/<id>/Part_<N>_S_Trial<k>_emotion.bdf
                                   BDF (24 bit, written by edfio) at `sampling_rate` Hz: the 32 EEG channels
                                   named and ordered as MNE's `biosemi32` montage (BioSemi's order, not
                                   DEAP's), EXG1-3, GSR1, Resp, Temp and the trigger channel `Status` with
                                   two events: stimulus start and end; `pre_stimulus_s` of recording before
                                   the stimulus and `post_stimulus_s` after it
    Sessions/<id>/P<N>-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_<k>.avi
                                   the colour face video (MJPEG), starting with the recording
    ground_truth.json              the planted windows (seconds from the stimulus start), in the synthetic
                                   DEAP's format; never read by training

Stimulus lengths differ between sessions, as MAHNOB-HCI's clips do: `duration_s` plus 0, 0.5, 1 or 1.5 s;
the event window always lies in the first `duration_s` seconds. The EEG is rendered at 128 Hz (the
synthetic physiology's rate) and resampled to `sampling_rate`. `sessions_without_ratings` extra sessions
hold only a session.xml without felt ratings (as MAHNOB-HCI's unrated sessions), which the reader reports.
"""

import dataclasses
import json
import os

import numpy as np

from emorecog.datasets.dataset_reader import GROUND_TRUTH_FILE, LabelRule
from emorecog.datasets.deap import BASELINE_SAMPLES, EEG_CHANNELS, SAMPLING_RATE_HZ
from emorecog.datasets.mahnob import SESSION_FILE, SESSIONS_DIR
from emorecog.datasets.synthetic.deap import (
    GROUND_TRUTH_FORMAT,
    WINDOW_MARGIN_S,
    SynthConfig,
    draw_ratings,
    planted_effects_description,
    seeded_rng,
    write_synthetic_folder,
    write_trial_video,
)
from emorecog.datasets.synthetic.face import SyntheticFace
from emorecog.datasets.synthetic.physiology import SyntheticPhysiology

PERIPHERAL_CHANNELS = (("EXG1", 0), ("EXG2", 1), ("EXG3", 2), ("GSR1", 4), ("Resp", 5), ("Temp", 7))
STATUS_PULSE_SAMPLES = 5
STIMULUS_EXTRA_S = (0.0, 0.5, 1.0, 1.5)
_SESSION_LENGTH = 7  # random-stream purpose, beside synthetic/deap.py's


@dataclasses.dataclass(frozen=True)
class MahnobLayout:
    """What makes the synthetic MAHNOB-HCI recordings MAHNOB-like.

    Args:
        pre_stimulus_s: seconds recorded before the stimulus (MAHNOB-HCI: about 30).
        post_stimulus_s: seconds recorded after it (MAHNOB-HCI: about 30).
        sampling_rate: BDF sampling rate (the public release: 256 Hz).
        sessions_without_ratings: extra sessions whose session.xml has no felt ratings.
    """

    pre_stimulus_s: int = 30
    post_stimulus_s: int = 30
    sampling_rate: int = 256
    sessions_without_ratings: int = 1

    def __post_init__(self):
        if not (isinstance(self.pre_stimulus_s, int) and self.pre_stimulus_s >= 1):
            raise ValueError(f"MahnobLayout: pre_stimulus_s must be an int >= 1, got {self.pre_stimulus_s!r}")
        if not (isinstance(self.post_stimulus_s, int) and self.post_stimulus_s >= 0):
            raise ValueError(f"MahnobLayout: post_stimulus_s must be an int >= 0, got {self.post_stimulus_s!r}")
        if self.sampling_rate % SAMPLING_RATE_HZ:
            raise ValueError(
                f"MahnobLayout: sampling_rate must be a multiple of {SAMPLING_RATE_HZ}, got {self.sampling_rate!r}"
            )
        if self.sessions_without_ratings < 0:
            raise ValueError("MahnobLayout: sessions_without_ratings must be >= 0")


def session_id(subject_number, session_number, sessions_per_subject):
    """MAHNOB-HCI numbers emotion sessions with even ids: 2, 4, 6, ..."""
    return 2 * ((subject_number - 1) * sessions_per_subject + session_number)


def write_synthetic_mahnob(out_dir, config=None, layout=None, overwrite=False, progress=None):
    """Write a synthetic MAHNOB-HCI folder (layout in the module docstring) atomically.

    Args:
        out_dir: the folder to create (it will hold `Sessions/` and `ground_truth.json`).
        config: a `SynthConfig`: subjects, `trials` = rated sessions per subject, `duration_s` = the shortest
            stimulus, video size and rate, difficulty, seed, event windows, missing videos.
        layout: a `MahnobLayout`.
        overwrite: replace `out_dir` if emorecog synth wrote it.
        progress: optional callable (sessions done, total).

    Returns:
        The absolute path of the written folder.
    """
    config = SynthConfig() if config is None else config
    layout = MahnobLayout() if layout is None else layout
    return write_synthetic_folder(out_dir, lambda root: _write_into(root, config, layout, progress), overwrite)


def _write_into(root, config, layout, progress):
    sessions_root = os.path.join(root, SESSIONS_DIR)
    os.makedirs(sessions_root)
    numbers = list(range(1, config.subjects + 1))
    with_video = numbers[: config.subjects - config.subjects_without_video]
    pairs = [(number, session) for number in with_video for session in range(1, config.trials + 1)]
    dropped = {
        pairs[i] for i in seeded_rng(config, 4).choice(len(pairs), size=config.missing_trial_videos, replace=False)
    }
    total = config.subjects * config.trials
    truth_subjects = {}
    for number in numbers:
        truth_subjects[f"P{number:02d}"] = _write_subject(
            sessions_root, config, layout, number, number in with_video, dropped
        )
        if progress is not None:
            progress(number * config.trials, total)
    first_unrated = 2 * total + 2
    for index in range(layout.sessions_without_ratings):
        folder = os.path.join(sessions_root, str(first_unrated + 2 * index))
        os.makedirs(folder)
        _write_session_xml(os.path.join(folder, SESSION_FILE), 1 + index % config.subjects, None, None, None)
    truth = {
        "format": GROUND_TRUTH_FORMAT,
        "layout": "mahnob-hci",
        "note": "What emorecog synth planted. For tests and analysis only: training never reads this file.",
        "config": dataclasses.asdict(config),
        "mahnob_layout": dataclasses.asdict(layout),
        "time_reference": "event_window_s counts from the stimulus start (the first Status event); the video "
        "starts with the recording, pre_stimulus_s before the stimulus",
        "planted_effects": planted_effects_description(config),
        "subjects": truth_subjects,
    }
    with open(os.path.join(root, GROUND_TRUTH_FILE), "w") as handle:
        json.dump(truth, handle, indent=1)


def _write_subject(sessions_root, config, layout, number, has_video, dropped):
    import mne

    traits_rng = seeded_rng(config, number, 0)
    physiology = SyntheticPhysiology.random(traits_rng)
    face = SyntheticFace.random(traits_rng)
    ratings = np.clip(np.round(draw_ratings(seeded_rng(config, number, 1), config.trials)), 1, 9)
    channel_names = mne.channels.make_standard_montage("biosemi32").ch_names
    geneva_row = {name.lower(): index for index, name in enumerate(EEG_CHANNELS)}
    trials = []
    for session in range(1, config.trials + 1):
        identifier = session_id(number, session, config.trials)
        folder = os.path.join(sessions_root, str(identifier))
        os.makedirs(folder)
        rng = seeded_rng(config, number, session, 2)
        stimulus_s = config.duration_s + float(
            seeded_rng(config, number, session, _SESSION_LENGTH).choice(STIMULUS_EXTRA_S)
        )
        recording_s = layout.pre_stimulus_s + stimulus_s + layout.post_stimulus_s
        samples = int(round(recording_s * SAMPLING_RATE_HZ))
        window_s = float(config.event_window_s)
        latest_start_s = config.duration_s - window_s - WINDOW_MARGIN_S
        window_start_s = float(np.round(rng.uniform(WINDOW_MARGIN_S, latest_start_s), 3))
        labels = LabelRule().labels(ratings[session - 1])
        # The physiology renders DEAP-like trials whose stimulus starts at sample BASELINE_SAMPLES; here the
        # recording's stimulus starts pre_stimulus_s in, and its blink times are shifted back accordingly.
        window_start = int(round((layout.pre_stimulus_s + window_start_s) * SAMPLING_RATE_HZ))
        data, blink_times_s = physiology.trial(
            rng,
            samples,
            window_start,
            int(round(window_s * SAMPLING_RATE_HZ)),
            valence_high=bool(labels[0]),
            arousal_high=bool(labels[1]),
            effect=config.effect,
        )
        blinks_in_recording = [t + BASELINE_SAMPLES / SAMPLING_RATE_HZ for t in blink_times_s]
        bdf_name = f"Part_{number}_S_Trial{session}_emotion.bdf"
        _write_bdf(os.path.join(folder, bdf_name), data, layout, channel_names, geneva_row, stimulus_s)
        video = None
        if has_video and (number, session) not in dropped:
            video = f"P{number}-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_{session}.avi"
            video_config = dataclasses.replace(config, duration_s=int(np.ceil(recording_s)))
            write_trial_video(
                os.path.join(folder, video),
                video_config,
                face,
                seeded_rng(config, number, session, 3),
                layout.pre_stimulus_s + window_start_s,
                round(layout.pre_stimulus_s + window_start_s + window_s, 3),
                bool(labels[0]),
                bool(labels[1]),
                blinks_in_recording,
            )
        _write_session_xml(os.path.join(folder, SESSION_FILE), number, ratings[session - 1], stimulus_s, bdf_name)
        trials.append(
            {
                "trial": identifier,
                "session": session,
                "event_window_s": [window_start_s, round(window_start_s + window_s, 3)],
                "stimulus_s": stimulus_s,
                "ratings": {
                    "feltVlnc": float(ratings[session - 1][0]),
                    "feltArsl": float(ratings[session - 1][1]),
                    "feltCtrl": float(ratings[session - 1][2]),
                },
                "labels": {"valence": labels[0], "arousal": labels[1]},
                "face_video": None if video is None else os.path.join(SESSIONS_DIR, str(identifier), video),
            }
        )
    return {"has_video": has_video, "appearance": face.to_dict(), "physiology": physiology.to_dict(), "trials": trials}


def _write_bdf(path, data, layout, channel_names, geneva_row, stimulus_s):
    """A BDF of the 32 EEG rows (in biosemi32 order), some peripheral rows and the Status trigger channel."""
    import edfio
    from scipy import signal as scipy_signal

    factor = layout.sampling_rate // SAMPLING_RATE_HZ
    resampled = scipy_signal.resample_poly(data, factor, 1, axis=1) if factor > 1 else data
    rate = layout.sampling_rate
    # A BDF data record (1 s here) holds a whole number of samples: pad the end to whole seconds.
    resampled = np.pad(resampled, ((0, 0), (0, -resampled.shape[1] % rate)), mode="edge")
    signals = []
    for name in channel_names:
        signals.append(_bdf_signal(edfio, resampled[geneva_row[name.lower()]], rate, name, "uV"))
    for name, row in PERIPHERAL_CHANNELS:
        signals.append(_bdf_signal(edfio, resampled[32 + row], rate, name, "uV"))
    status = np.zeros(resampled.shape[1])
    start = layout.pre_stimulus_s * rate
    end = start + int(round(stimulus_s * rate))
    status[start : start + STATUS_PULSE_SAMPLES] = 1
    status[end : end + STATUS_PULSE_SAMPLES] = 2
    digital = (-8388608, 8388607)
    signals.append(
        edfio.BdfSignal(
            status, rate, label="Status", physical_dimension="Boolean", physical_range=digital, digital_range=digital
        )
    )
    edfio.Bdf(signals, data_record_duration=1).write(path)


def _bdf_signal(edfio, values, rate, label, unit):
    bound = float(np.ceil(np.max(np.abs(values)) * 1.1 + 1.0))
    return edfio.BdfSignal(
        np.asarray(values, dtype=np.float64), rate, label=label, physical_dimension=unit, physical_range=(-bound, bound)
    )


def _write_session_xml(path, subject_number, ratings, stimulus_s, bdf_name):
    """session.xml as MAHNOB-HCI's: felt ratings as attributes (absent for an unrated session)."""
    from xml.sax.saxutils import quoteattr

    attributes = {"cutNr": "1", "isStim": "1" if ratings is not None else "0", "mediaFile": "synthetic.avi"}
    if ratings is not None:
        attributes.update(
            {
                "feltVlnc": str(int(ratings[0])),
                "feltArsl": str(int(ratings[1])),
                "feltCtrl": str(int(ratings[2])),
                "feltPred": "5",
                "feltEmo": "0",
                "cutLenSec": f"{stimulus_s:g}",
            }
        )
    text = " ".join(f"{name}={quoteattr(value)}" for name, value in attributes.items())
    track = f'\n  <track type="Physiological" filename={quoteattr(bdf_name)}/>' if bdf_name else ""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            f'<?xml version="1.0" encoding="utf-8"?>\n<session {text}>\n  <subject id="{subject_number}" '
            f"/>{track}\n</session>\n"
        )
