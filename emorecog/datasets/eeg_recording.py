"""EEG recordings read by MNE (EDF, BDF, FIF, BrainVision, EEGLAB): channels matched by name to a montage,
stimulus events from a trigger channel, and the stimulus and baseline parts cut out in seconds.

MAHNOB-HCI's reader and the manifest reader load their trials through `read_recorded_trial`; they differ
only in where the stimulus lies (MAHNOB-HCI: the `Status` events, `stimulus_events`; a manifest: its onset
and duration columns). DEAP's preprocessed arrays do not need this module. MNE opens a file lazily
(`preload=False`), so only the samples of the cut parts are read. Every error is a `RecordingError` naming
the file and, where it applies, the channel.
"""

import os
import stat

import numpy as np

from emorecog.datasets.dataset_reader import RecordedTrial

# What `mne.io.read_raw` opens, by file name ending (BrainVision is read through its .vhdr header).
RECORDING_SUFFIXES = (".edf", ".bdf", ".fif", ".fif.gz", ".vhdr", ".set")


class RecordingError(ValueError):
    """An EEG recording cannot be used (the message names the file and, where it applies, the channel)."""


def check_regular_file(path, what="file"):
    """Refuse a path that is not a regular file (a FIFO would block MNE, a folder or dangling link deserves a
    message that says so). Returns the absolute path."""
    path = os.path.abspath(os.fspath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise RecordingError(f"{what} {path}: dangling symbolic link to {os.readlink(path)!r}") from None
        raise RecordingError(f"{what} {path}: no such file") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (FIFO, device or socket)"
        raise RecordingError(f"{what} {path} is {kind}, expected a regular file")
    return path


def read_recorded_trial(key, channel_names, stimulus_samples):
    """The `RecordedTrial` of a `TrialKey`: its recording opened by MNE, the channels picked by name, the
    stimulus part and the baseline just before it cut out.

    Args:
        key: a `TrialKey`; its `source_file` is the recording, `baseline_s` the seconds of baseline wanted.
        channel_names: the channels to read (the montage's spelling, matched in any case), in row order.
        stimulus_samples: function (raw, sampling_rate) -> (start, stop) sample indices of the stimulus part
            in the MNE Raw; it raises `RecordingError` naming the file when they cannot be found.

    The stimulus starts `key.face_video_onset_s` seconds into the face video, or, when that is None, at
    the same time as in the recording (the video starts with the recording, as MAHNOB-HCI's).

    Raises:
        RecordingError: the file is not a readable recording, lacks a channel, or its stimulus part lies
            outside it or holds NaN/inf samples.
    """
    path = key.source_file
    raw = _open_recording(path)
    rate = float(raw.info["sfreq"])
    channels = _match_channels(raw, channel_names, path)
    start, stop = stimulus_samples(raw, rate)
    eeg, baseline = _cut_recording(raw, channels, start, stop, round(key.baseline_s * rate), path)
    face_video_start_s = None
    if key.face_video is not None:
        face_video_start_s = start / rate if key.face_video_onset_s is None else key.face_video_onset_s
    return RecordedTrial(
        subject=key.subject,
        trial=key.trial,
        eeg=eeg,
        eeg_baseline=baseline,
        eeg_channels=tuple(channel_names),
        sampling_rate=rate,
        ratings=key.ratings,
        labels=key.labels,
        face_video=key.face_video,
        face_video_start_s=face_video_start_s,
        source_file=path,
    )


def _open_recording(path):
    """An MNE Raw of `path` (not loaded into memory). RecordingError for an unknown or unreadable file."""
    import mne

    path = check_regular_file(path, "EEG recording")
    if not path.lower().endswith(RECORDING_SUFFIXES):
        raise RecordingError(
            f"EEG recording {path}: unknown file type; expected one of "
            f"{', '.join(RECORDING_SUFFIXES)} (EDF, BDF, FIF, BrainVision, EEGLAB)"
        )
    try:
        return mne.io.read_raw(path, preload=False, verbose="ERROR")
    except Exception as error:  # MNE raises many types for a broken file; all mean "cannot read it"
        raise RecordingError(f"EEG recording {path} cannot be read by MNE: {type(error).__name__}: {error}") from error


def montage_channel_names(montage):
    """The channel names of an MNE standard montage (e.g. 'biosemi32') or of a montage file."""
    import mne

    if os.path.isfile(montage):
        return list(mne.channels.read_custom_montage(montage).ch_names)
    try:
        return list(mne.channels.make_standard_montage(montage).ch_names)
    except ValueError as error:
        raise RecordingError(f"unknown montage {montage!r}: neither an MNE standard montage nor a file") from error


def _match_channels(raw, wanted, path):
    """The recording's own names of the `wanted` channels (matched case-insensitively), in `wanted` order.

    Raises:
        RecordingError: a wanted channel the file lacks, named with the file.
    """
    by_lower = {}
    for name in raw.ch_names:
        by_lower.setdefault(name.strip().lower(), name)
    found, missing = [], []
    for name in wanted:
        (found if name.lower() in by_lower else missing).append(by_lower.get(name.lower(), name))
    if missing:
        raise RecordingError(
            f"EEG recording {path}: no channel {missing[0]!r}"
            + (f" (nor {', '.join(missing[1:4])}{' ...' if len(missing) > 4 else ''})" if len(missing) > 1 else "")
            + f"; it has {', '.join(raw.ch_names[:40])}{' ...' if len(raw.ch_names) > 40 else ''}"
        )
    return found


def stimulus_events(raw, path, stim_channel="Status"):
    """(start, end) sample indices of the stimulus from the first two events of `stim_channel`.

    MAHNOB-HCI marks the stimulus start and end with two trigger events in the BioSemi `Status` channel.
    """
    import mne

    if stim_channel not in raw.ch_names:
        raise RecordingError(f"EEG recording {path}: no trigger channel {stim_channel!r}")
    try:
        events = mne.find_events(raw, stim_channel=stim_channel, shortest_event=1, verbose="ERROR")
    except ValueError as error:
        raise RecordingError(f"EEG recording {path}: cannot read events of {stim_channel!r}: {error}") from error
    if len(events) < 2:
        raise RecordingError(
            f"EEG recording {path}: channel {stim_channel!r} holds {len(events)} event(s), "
            "expected two (stimulus start and end)"
        )
    start, end = int(events[0, 0]) - raw.first_samp, int(events[1, 0]) - raw.first_samp
    if end <= start:
        raise RecordingError(f"EEG recording {path}: the stimulus end event precedes its start")
    return start, end


def _cut_recording(raw, channels, start, stop, baseline_samples, path):
    """(eeg float32 [C, stop - start], baseline float32 [C, b] or None) of the named channels.

    The baseline is the `baseline_samples` (fewer if the file starts sooner) just before `start`.
    """
    if not 0 <= start < stop <= raw.n_times:
        raise RecordingError(
            f"EEG recording {path}: the stimulus part, samples {start}..{stop}, lies outside the recording of "
            f"{raw.n_times} samples ({raw.n_times / raw.info['sfreq']:.2f} s)"
        )
    first = max(0, start - int(baseline_samples))
    data = raw.get_data(picks=list(channels), start=first, stop=stop)
    data = np.asarray(data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if bad.any():
        channel = channels[int(np.argmax(bad.any(axis=1)))]
        raise RecordingError(f"EEG recording {path}: channel {channel!r} holds NaN or infinite samples")
    split = start - first
    baseline = np.ascontiguousarray(data[:, :split]) if split > 0 else None
    return np.ascontiguousarray(data[:, split:]), baseline
