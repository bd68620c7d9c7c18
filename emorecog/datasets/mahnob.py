"""The MAHNOB-HCI reader (emotion-elicitation sessions): session.xml ratings, the BDF recording through MNE,
the stimulus cut by its `Status` events, and the colour face video aligned by the same events.

Layout (the public release's, as TorchEEG's `MAHNOBDataset` reads it; `--mahnob DIR` is the folder holding
`Sessions/`, or `Sessions/` itself):

    Sessions/<session id>/session.xml
        <session ... feltVlnc="7" feltArsl="3" feltCtrl="6" feltPred="5" feltEmo="1" isStim="1"
                 mediaFile="69.avi" cutLenSec="88.7"> <subject id="1" .../> ... </session>
    Sessions/<session id>/Part_1_N_Trial1_emotion.bdf
        32 BioSemi EEG channels named as in MNE's `biosemi32` montage, peripheral channels (EXG, GSR, Resp,
        Temp, ...) and the trigger channel `Status`, whose first two events mark the stimulus start and end;
        about 30 s of recording precede the stimulus. The sampling rate is read from the file (256 Hz in the
        public release; the preprocessor resamples to the pipeline's rate).
    Sessions/<session id>/P1-Rec1-<date>_C1 trigger _C_Section_<n>.avi
        the colour (camera 1) face video; it starts with the recording, so the stimulus starts
        `start event / sampling rate` seconds into it.

Trial identity: subject "P01" (from `<subject id>`), trial = the session id (an integer folder name).
Ratings (valence, arousal, dominance, liking) = (feltVlnc, feltArsl, feltCtrl, not rated): MAHNOB-HCI has no
liking rating. Labels come from the same `LabelRule` as DEAP's. The baseline is the (up to) 30 s before the
stimulus.

Sessions without felt ratings (e.g. `isStim="0"`), without a BDF recording or with an unreadable session.xml
are listed as unreadable with their reason (ExampleGen reports or stops on them as `on_error` says);
sessions without a colour video are EEG-only trials. session.xml is parsed only when it is small and holds
no DOCTYPE (no entity expansion).
"""

import os
import re
import xml.etree.ElementTree as ElementTree

from emorecog.datasets.dataset_reader import (
    GROUND_TRUTH_FILE,
    NOT_RATED,
    RATING_RANGE,
    LabelRule,
    TrialKey,
    TrialListing,
    UnreadableTrial,
)
from emorecog.datasets.eeg_recording import montage_channel_names, read_recorded_trial, stimulus_events

SESSIONS_DIR = "Sessions"
SESSION_FILE = "session.xml"
STIMULUS_CHANNEL = "Status"
BASELINE_SECONDS = 30.0
# The colour camera's video (MAHNOB-HCI has one colour and five monochrome cameras).
COLOUR_VIDEO = re.compile(r"C1 trigger.*\.avi$", re.IGNORECASE)
# session.xml is a few hundred bytes: anything far larger is not one.
MAX_SESSION_FILE_BYTES = 1 << 20
RATING_ATTRIBUTES = ("feltVlnc", "feltArsl", "feltCtrl")


class MahnobFormatError(ValueError):
    """A MAHNOB-HCI folder or session file is not as expected (the message names the file)."""


class MahnobDataset:
    """A MAHNOB-HCI folder (real or written by `emorecog synth --format mahnob`), read lazily.

    Args:
        root: the folder holding `Sessions/` (or the `Sessions/` folder itself).
        label_rule: how ratings become binary labels; default `LabelRule()` (high if rating > 5).
        montage: the montage whose channels are read (default `biosemi32`, MAHNOB-HCI's 32 electrodes).
    """

    source_format = "mahnob"

    def __init__(self, root, label_rule=None, montage="biosemi32"):
        self.root = os.path.abspath(os.fspath(root))
        self.label_rule = LabelRule() if label_rule is None else label_rule
        self.montage = montage
        if not os.path.isdir(self.root):
            raise MahnobFormatError(f"{self.root}: not a directory (expected a MAHNOB-HCI folder with Sessions/)")
        nested = os.path.join(self.root, SESSIONS_DIR)
        self.sessions_dir = nested if os.path.isdir(nested) else self.root
        self._session_dirs = sorted(
            (
                name
                for name in os.listdir(self.sessions_dir)
                if name.isdigit() and os.path.isdir(os.path.join(self.sessions_dir, name))
            ),
            key=int,
        )
        if not self._session_dirs:
            raise MahnobFormatError(
                f"{self.sessions_dir}: no session folders (expected {SESSIONS_DIR}/<id>/"
                f"{SESSION_FILE} with the session's .bdf recording)"
            )

    def __getstate__(self):
        return {"root": self.root, "label_rule": self.label_rule, "montage": self.montage}

    def __setstate__(self, state):
        self.__init__(state["root"], state["label_rule"], state["montage"])

    def __repr__(self):
        return f"MahnobDataset({self.root!r}, sessions={len(self._session_dirs)})"

    @property
    def name(self):
        """'synthetic-mahnob' for a folder written by `emorecog synth --format mahnob`, else 'mahnob'."""
        return "synthetic-mahnob" if os.path.isfile(os.path.join(self.root, GROUND_TRUTH_FILE)) else "mahnob"

    def input_files(self):
        return []

    def list_trials(self):
        """A `TrialListing` of every session with felt ratings and a recording; the others with reasons."""
        keys, unreadable = [], []
        for session in self._session_dirs:
            try:
                keys.append(self._session_key(session))
            except MahnobFormatError as error:
                unreadable.append(
                    UnreadableTrial(f"session {session}", None, str(error), (os.path.join(self.sessions_dir, session),))
                )
        return TrialListing(tuple(keys), tuple(unreadable))

    def load_trial(self, key):
        """The `RecordedTrial` of a key from `list_trials()`: the stimulus part and the baseline before it."""
        return read_recorded_trial(
            key,
            montage_channel_names(self.montage),
            lambda raw, rate: stimulus_events(raw, key.source_file, STIMULUS_CHANNEL),
        )

    def layout_report(self):
        """Lines of text: sessions, subjects, trials with video, and every session that cannot be used."""
        listing = self.list_trials()
        subjects = sorted({key.subject for key in listing.keys})
        with_video = sum(key.face_video is not None for key in listing.keys)
        lines = [
            f"MAHNOB-HCI folder {self.root} ({self.name})",
            f"sessions          {len(self._session_dirs)}, {len(listing.keys)} usable, {with_video} with "
            "colour face video",
            f"subjects          {len(subjects)}: {', '.join(subjects)}",
            f"labels            {self.label_rule.describe()}",
        ]
        for key in listing.keys:
            if key.face_video is None:
                lines.append(f"no face video     session {key.trial} ({key.subject}): EEG-only")
        for entry in listing.unreadable:
            lines.append(f"not used          {entry.subject}: {entry.reason}")
        return lines

    def _session_key(self, session):
        folder = os.path.join(self.sessions_dir, session)
        attributes, subject_id = self._read_session_file(os.path.join(folder, SESSION_FILE))
        where = os.path.join(folder, SESSION_FILE)
        unrated = any(name not in attributes for name in RATING_ATTRIBUTES[:2])
        if attributes.get("isStim", "1").strip() == "0" or unrated:
            raise MahnobFormatError(
                f"{where}: no felt ratings (feltVlnc, feltArsl): not a rated emotion-elicitation session"
            )
        ratings = []
        for name in RATING_ATTRIBUTES:
            if name not in attributes:
                ratings.append(NOT_RATED)
                continue
            try:
                value = float(attributes[name])
            except ValueError:
                raise MahnobFormatError(f"{where}: {name}={attributes[name][:20]!r} is not a number") from None
            if not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
                raise MahnobFormatError(f"{where}: {name}={value:g}, expected a rating in 1..9")
            ratings.append(value)
        ratings = (*ratings, NOT_RATED)
        if subject_id is None or not subject_id.isdigit():
            raise MahnobFormatError(f'{where}: no <subject id="N"> element with a numeric id')
        names = sorted(os.listdir(folder))
        recordings = [name for name in names if name.lower().endswith(".bdf")]
        if not recordings:
            raise MahnobFormatError(f"{folder}: no EEG recording (*.bdf)")
        if len(recordings) > 1:
            raise MahnobFormatError(f"{folder}: several EEG recordings, expected one: {', '.join(recordings)}")
        videos = [name for name in names if COLOUR_VIDEO.search(name)]
        return TrialKey(
            subject=f"P{int(subject_id):02d}",
            trial=int(session),
            ratings=ratings,
            labels=self.label_rule.labels(ratings),
            face_video=os.path.join(folder, videos[0]) if videos else None,
            source_file=os.path.join(folder, recordings[0]),
            baseline_s=BASELINE_SECONDS,
        )

    @staticmethod
    def _read_session_file(path):
        """(attributes of <session>, the <subject> element's id or None)."""
        try:
            with open(path, "rb") as handle:
                content = handle.read(MAX_SESSION_FILE_BYTES + 1)
        except FileNotFoundError:
            raise MahnobFormatError(f"{path}: missing (no ratings for this session)") from None
        except OSError as error:
            raise MahnobFormatError(f"{path}: cannot be read: {error.strerror}") from None
        if len(content) > MAX_SESSION_FILE_BYTES:
            raise MahnobFormatError(f"{path}: larger than {MAX_SESSION_FILE_BYTES} bytes, not a session file")
        if b"<!DOCTYPE" in content.upper() or b"<!ENTITY" in content.upper():
            raise MahnobFormatError(
                f"{path}: holds a DOCTYPE or ENTITY declaration, which a session file does "
                "not need (refused: entities are never expanded)"
            )
        try:
            element = ElementTree.fromstring(content)
        except ElementTree.ParseError as error:
            raise MahnobFormatError(f"{path}: not readable XML ({error})") from None
        if element.tag != "session":
            raise MahnobFormatError(f"{path}: root element <{element.tag}>, expected <session>")
        subject = element.find("subject")
        return dict(element.attrib), (None if subject is None else subject.get("id"))
