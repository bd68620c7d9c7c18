"""Your own recordings, listed in a CSV manifest: one row per trial, EEG files read by MNE.

Columns (header row required; order free; extra columns are ignored):

    subject              subject id (letters, digits, ".", "_", "-"; e.g. "sub-01")              required
    trial                integer trial id, unique within the subject                            required
    eeg_file             the recording: .edf, .bdf, .fif, .vhdr (BrainVision) or .set (EEGLAB) required
    stimulus_onset_s     seconds from the recording's first sample to the stimulus start       required
    stimulus_duration_s  seconds of stimulus (the trial)                                        required
    valence, arousal     ratings on the 1..9 scale                                              required
    dominance, liking    ratings on the 1..9 scale                                              optional
    baseline_s           seconds before the onset used as baseline [default 30, at most the onset]
    video_file           the face video of the trial                                            optional
    video_onset_s        seconds into the video at which the stimulus starts          required with a video
    montage              MNE standard montage name or montage file; must be the run's --montage optional
    eeg_channels         channels to read, separated by ";" [default: every channel of the montage]

Relative paths resolve against the manifest's folder; every path must be a regular file. Channels are
matched by name (any case) to the montage: a name the montage does not know is refused here, naming the line
and channel; a channel the recording lacks fails that trial, naming the file and channel.

Every problem of the manifest itself raises `ManifestError` naming the file, line and column.
"""

import csv
import io
import math
import os
import re

from emorecog.datasets.dataset_reader import NOT_RATED, RATING_RANGE, LabelRule, TrialKey, TrialListing
from emorecog.datasets.eeg_recording import (
    RecordingError,
    check_regular_file,
    montage_channel_names,
    read_recorded_trial,
)
from emorecog.datasets.regular_file import open_regular_file

REQUIRED_COLUMNS = ("subject", "trial", "eeg_file", "stimulus_onset_s", "stimulus_duration_s", "valence", "arousal")
OPTIONAL_COLUMNS = ("dominance", "liking", "baseline_s", "video_file", "video_onset_s", "montage", "eeg_channels")
DEFAULT_BASELINE_SECONDS = 30.0
MAX_MANIFEST_BYTES = 16 << 20


class ManifestError(ValueError):
    """The manifest is not as documented (the message names the file, line and column)."""


class ManifestDataset:
    """Trials listed in a CSV manifest (see the module docstring for the columns).

    Args:
        path: the manifest CSV.
        label_rule: how ratings become binary labels; default `LabelRule()`.
        montage: the run's montage (MNE standard name or file); rows may name it, never another.
    """

    source_format = "manifest"
    name = "manifest"

    def __init__(self, path, label_rule=None, montage="biosemi32"):
        self.root = os.path.abspath(os.fspath(path))
        self.label_rule = LabelRule() if label_rule is None else label_rule
        self.montage = montage
        self._montage_channels = montage_channel_names(montage)
        self._keys = self._read()

    def __getstate__(self):
        return {"path": self.root, "label_rule": self.label_rule, "montage": self.montage}

    def __setstate__(self, state):
        self.__init__(state["path"], state["label_rule"], state["montage"])

    def __repr__(self):
        return f"ManifestDataset({self.root!r}, trials={len(self._keys)})"

    def list_trials(self):
        return TrialListing(tuple(self._keys))

    def input_files(self):
        """The recordings and videos the manifest names (their changes must invalidate a cached output)."""
        files = {key.source_file for key in self._keys} | {key.face_video for key in self._keys if key.face_video}
        return sorted(files)

    def load_trial(self, key):
        def stimulus_samples(raw, rate):
            start = round(key.stimulus_onset_s * rate)
            stop = start + round(key.stimulus_duration_s * rate)
            if stop > raw.n_times:
                raise RecordingError(
                    f"EEG recording {key.source_file}: subject {key.subject} trial {key.trial}: the stimulus ends "
                    f"at {key.stimulus_onset_s + key.stimulus_duration_s:g} s, the recording lasts "
                    f"{raw.n_times / rate:.2f} s"
                )
            return start, stop

        return read_recorded_trial(key, key.eeg_channels or self._montage_channels, stimulus_samples)

    # -- reading the manifest ---------------------------------------------------------------------
    def _read(self):
        try:
            with open_regular_file(self.root) as binary:
                content = binary.read(MAX_MANIFEST_BYTES + 1)
        except OSError as error:
            raise ManifestError(f"manifest {error}") from None
        if len(content) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"manifest {self.root}: larger than {MAX_MANIFEST_BYTES >> 20} MB, not a manifest")
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ManifestError(f"manifest {self.root}: not UTF-8 text (undecodable byte at {error.start})") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [str(column).strip() for column in (reader.fieldnames or [])]
        missing = [column for column in REQUIRED_COLUMNS if column not in columns]
        if missing:
            raise ManifestError(
                f"manifest {self.root}: missing column(s) {', '.join(missing)}; expected at least "
                f"{', '.join(REQUIRED_COLUMNS)}"
            )
        keys, seen = [], {}
        try:
            for line, row in enumerate(reader, start=2):
                row = {str(name).strip(): (value or "").strip() for name, value in row.items() if name is not None}
                if not any(row.values()):
                    continue
                key = self._row_key(row, line)
                identity = (key.subject, key.trial)
                if identity in seen:
                    raise ManifestError(
                        f"manifest {self.root}, line {line}: subject {key.subject} trial {key.trial} "
                        f"is listed again (first on line {seen[identity]})"
                    )
                seen[identity] = line
                keys.append(key)
        except csv.Error as error:
            raise ManifestError(f"manifest {self.root}: not a readable CSV ({error})") from None
        if not keys:
            raise ManifestError(f"manifest {self.root}: no trial rows")
        return keys

    def _row_key(self, row, line):
        where = f"manifest {self.root}, line {line}"

        def number(column, default=None, minimum=None):
            text = row.get(column, "")
            if text == "":
                if default is None:
                    raise ManifestError(f"{where}: column {column} is empty")
                return default
            try:
                value = float(text)
            except ValueError:
                raise ManifestError(f"{where}: column {column} = {text[:20]!r} is not a number") from None
            if not math.isfinite(value) or (minimum is not None and value < minimum):
                raise ManifestError(
                    f"{where}: column {column} = {text[:20]!r}, expected a finite number"
                    + (f" >= {minimum:g}" if minimum is not None else "")
                )
            return value

        def rating(column, required):
            value = number(column, None if required else NOT_RATED)
            if (required or value != NOT_RATED) and not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
                raise ManifestError(f"{where}: column {column} = {value:g}, expected a rating in 1..9")
            return value

        def path(column, what):
            text = row.get(column, "")
            full = os.path.join(os.path.dirname(self.root), text)
            try:
                return check_regular_file(full, f"{what} ({where}, column {column})")
            except RecordingError as error:
                raise ManifestError(str(error)) from None

        subject = row.get("subject", "")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", subject):
            raise ManifestError(
                f"{where}: column subject = {subject[:20]!r}, expected 1-64 letters, digits, '.', "
                "'_' or '-' (it names files and folders)"
            )
        try:
            trial = int(row.get("trial", ""))
        except ValueError:
            raise ManifestError(f"{where}: column trial = {row.get('trial', '')[:20]!r} is not an integer") from None
        ratings = (
            rating("valence", True),
            rating("arousal", True),
            rating("dominance", False),
            rating("liking", False),
        )
        onset = number("stimulus_onset_s", minimum=0.0)
        duration = number("stimulus_duration_s", minimum=0.0)
        if duration <= 0:
            raise ManifestError(f"{where}: column stimulus_duration_s must be positive")
        video, video_onset = None, None
        if row.get("video_file"):
            video = path("video_file", "face video")
            video_onset = number("video_onset_s", minimum=0.0)
        montage = row.get("montage", "")
        if montage and _montage_identity(montage, self.root) != _montage_identity(self.montage, None):
            raise ManifestError(
                f"{where}: column montage = {montage!r}, but this run's montage is {self.montage!r}; "
                "all trials of a run share one montage (pass --montage)"
            )
        channels = None
        if row.get("eeg_channels"):
            channels = tuple(name.strip() for name in row["eeg_channels"].split(";") if name.strip())
            known = {name.lower(): name for name in self._montage_channels}
            for name in channels:
                if name.lower() not in known:
                    raise ManifestError(
                        f"{where}: column eeg_channels names {name!r}, which montage {self.montage!r} "
                        f"does not know; known names: {', '.join(self._montage_channels)}"
                    )
            channels = tuple(known[name.lower()] for name in channels)
        return TrialKey(
            subject=subject,
            trial=trial,
            ratings=ratings,
            labels=self.label_rule.labels(ratings),
            face_video=video,
            source_file=path("eeg_file", "EEG recording"),
            stimulus_onset_s=onset,
            stimulus_duration_s=duration,
            baseline_s=min(number("baseline_s", DEFAULT_BASELINE_SECONDS, minimum=0.0), onset),
            face_video_onset_s=video_onset,
            eeg_channels=channels,
        )


def _montage_identity(montage, manifest_path):
    """A montage name, or the absolute path of a montage file (relative to the manifest's folder)."""
    if manifest_path is not None:
        candidate = os.path.join(os.path.dirname(manifest_path), montage)
        if os.path.isfile(candidate):
            return os.path.realpath(candidate)
    return os.path.realpath(montage) if os.path.isfile(montage) else montage
