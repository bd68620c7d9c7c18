"""EEG recordings read through MNE: a synthetic MAHNOB-HCI (real BDF files, session.xml, colour videos) and a
CSV manifest over EDF and FIF files written by MNE, each run ingest -> train -> evaluate -> export at tiny
size; the readers' reports and errors."""

import csv
import json
import os
import shutil

import mne
import numpy as np
import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli
from emorecog.components.example_gen import ExampleGenError, run_example_gen
from emorecog.datasets.deap import DeapDataset
from emorecog.datasets.mahnob import MahnobDataset, MahnobFormatError
from emorecog.datasets.manifest import ManifestDataset, ManifestError
from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap
from emorecog.datasets.synthetic.mahnob import MahnobLayout, write_synthetic_mahnob

# 2 subjects x 7 rated sessions of 5-6.5 s at 256 Hz, 2 s before and 1 s after each stimulus, one unrated
# session; samples at 4 fps of the first 5 s -> T = 20 frames of 8x8 EEG images and 16x16 face crops.
# (7 per subject: the 5:1:1 split then gives every split 2 trials.)
TINY_MAHNOB = SynthConfig(subjects=2, trials=7, duration_s=5, fps=8, width=96, height=80, event_window_s=2.0, seed=3)
TINY_LAYOUT = MahnobLayout(pre_stimulus_s=2, post_stimulus_s=1)
TINY_RECORDINGS = SynthConfig(
    subjects=2, trials=7, duration_s=5, fps=8, width=96, height=80, event_window_s=2.0, seed=4
)


def _tiny_preprocess(**overrides):
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig
    from tests.tiny_pipeline import TINY_PREPROCESS

    return PreprocessConfig(**{**TINY_PREPROCESS, "trial_seconds": 5.0, **overrides})


@pytest.fixture(scope="module")
def mahnob(tmp_path_factory):
    return write_synthetic_mahnob(tmp_path_factory.mktemp("mahnob") / "hci", TINY_MAHNOB, TINY_LAYOUT)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A folder of EDF (odd trials) and FIF (even trials) recordings written by MNE from a synthetic DEAP, its
    face videos beside them, and manifest.csv with relative paths."""
    base = tmp_path_factory.mktemp("recordings")
    deap = write_synthetic_deap(base / "deap", TINY_RECORDINGS)
    folder = base / "lab"
    os.makedirs(folder / "eeg")
    rows = []
    for key in DeapDataset(deap).trial_keys():
        trial = DeapDataset(deap).read_trial(key.subject, key.trial)
        rows.append(_write_recording(folder, trial))
    write_manifest(folder / "manifest.csv", rows)
    return str(folder)


def _write_recording(folder, trial):
    """One trial as an MNE recording (baseline + stimulus, EEG in volts, a peripheral channel); its row."""
    samples = np.concatenate([trial.eeg_baseline, trial.eeg], axis=1).astype(np.float64) * 1e-6
    names = list(trial.eeg_channels) + ["GSR1"]
    data = np.concatenate([samples, trial.peripheral[4:5] * 1e-6], axis=0)
    info = mne.create_info(names, trial.sampling_rate, ["eeg"] * len(trial.eeg_channels) + ["misc"])
    raw = mne.io.RawArray(data, info, verbose="ERROR")
    stem = f"eeg/{trial.subject}_trial{trial.trial:02d}"
    if trial.trial % 2:
        path = f"{stem}.edf"
        mne.export.export_raw(os.path.join(folder, path), raw, fmt="edf", verbose="ERROR")
    else:
        path = f"{stem}_raw.fif"
        raw.save(os.path.join(folder, path), verbose="ERROR")
    row = {
        "subject": trial.subject,
        "trial": trial.trial,
        "eeg_file": path,
        "stimulus_onset_s": trial.eeg_baseline.shape[1] / trial.sampling_rate,
        "stimulus_duration_s": trial.duration_s,
        "baseline_s": 3,
        "valence": trial.ratings[0],
        "arousal": trial.ratings[1],
        "dominance": trial.ratings[2],
        "liking": trial.ratings[3],
        "montage": "biosemi32",
        "video_file": "",
        "video_onset_s": "",
    }
    if trial.face_video is not None:
        video = os.path.join("video", os.path.basename(trial.face_video))
        os.makedirs(os.path.join(folder, "video"), exist_ok=True)
        shutil.copy(trial.face_video, os.path.join(folder, video))
        # The synthetic DEAP's video covers the stimulus part only: the stimulus starts at its first frame.
        row.update(video_file=video, video_onset_s=0)
    return row


def write_manifest(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _ingest_train_evaluate_export(source, source_format, base):
    """ExampleGen -> Trainer -> Evaluator -> Pusher at tiny size; the export answers in a clean process."""
    from emorecog.commands.demo import _predict_in_clean_process
    from emorecog.components.evaluator import run_evaluator
    from emorecog.components.pusher import push_run
    from emorecog.components.trainer import run_trainer
    from tests.tiny_pipeline import tiny_model_config, tiny_training_config

    examples = os.path.join(base, "examples")
    ingest = run_example_gen(
        source, examples, preprocess_config=_tiny_preprocess(), num_workers=1, source_format=source_format
    )
    run_dir = os.path.join(base, "run")
    run_trainer(examples, run_dir, tiny_model_config(), tiny_training_config(epochs=1), log=lambda line: None)
    evaluation = run_evaluator(run_dir, examples, split="test")
    with open(os.path.join(evaluation.output_dir, "metrics.json")) as handle:
        metrics = json.load(handle)
    version = push_run(run_dir, os.path.join(base, "saved_models"), "tiny", force=True)
    served = _predict_in_clean_process(os.path.dirname(version.output_dir), examples)
    with open(os.path.join(examples, "stats.json")) as handle:
        stats = json.load(handle)
    return ingest, stats, metrics, served


# -- MAHNOB-HCI ------------------------------------------------------------------------------------------


def test_synthetic_mahnob_has_the_layout_and_the_reader_finds_events_rate_and_channels(mahnob):
    sessions = sorted(os.listdir(os.path.join(mahnob, "Sessions")), key=int)
    assert sessions == [str(2 * number) for number in range(1, 16)]
    names = sorted(os.listdir(os.path.join(mahnob, "Sessions", "2")))
    assert names == [
        "P1-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_1.avi",
        "Part_1_S_Trial1_emotion.bdf",
        "session.xml",
    ]
    raw = mne.io.read_raw_bdf(os.path.join(mahnob, "Sessions", "2", names[1]), verbose="ERROR")
    assert raw.info["sfreq"] == 256 and raw.ch_names[:4] == ["Fp1", "AF3", "F7", "F3"] and "Status" in raw.ch_names
    events = mne.find_events(raw, stim_channel="Status", shortest_event=1, verbose="ERROR")
    assert events[0, 0] == 2 * 256 and len(events) == 2

    dataset = MahnobDataset(mahnob)
    listing = dataset.list_trials()
    assert [key.trial for key in listing.keys] == [2 * number for number in range(1, 15)]
    assert {key.subject for key in listing.keys} == {"P01", "P02"}
    assert [entry.subject for entry in listing.unreadable] == ["session 30"]
    assert "no felt ratings" in listing.unreadable[0].reason
    truth = json.load(open(os.path.join(mahnob, "ground_truth.json")))
    first = truth["subjects"]["P01"]["trials"][0]
    key = listing.keys[0]
    assert key.ratings[:2] == (first["ratings"]["feltVlnc"], first["ratings"]["feltArsl"])
    assert key.labels == (first["labels"]["valence"], first["labels"]["arousal"])
    trial = dataset.load_trial(key)
    assert trial.sampling_rate == 256 and trial.eeg.shape == (32, round(first["stimulus_s"] * 256))
    assert trial.eeg_baseline.shape == (32, 2 * 256)  # all the recording has before the stimulus (< 30 s)
    assert trial.face_video_start_s == 2.0 and trial.eeg_channels[:3] == ("Fp1", "AF3", "F7")
    # the reader takes each channel by its name: the BDF's Fp1 row is the trial's first row
    np.testing.assert_allclose(trial.eeg[0, :50], raw.get_data(picks=["Fp1"], start=512, stop=562)[0], atol=1e-9)


def test_mahnob_sessions_without_eeg_video_or_a_safe_session_file_are_reported(mahnob, tmp_path):
    copy = shutil.copytree(mahnob, tmp_path / "hci")
    os.remove(copy / "Sessions" / "4" / "Part_1_S_Trial2_emotion.bdf")
    os.remove(copy / "Sessions" / "6" / "P1-Rec1-2009.07.09.17.53.46_C1 trigger _C_Section_3.avi")
    with open(copy / "Sessions" / "8" / "session.xml", "w") as handle:
        handle.write('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaa">]><session feltVlnc="&a;"/>')
    dataset = MahnobDataset(copy)
    listing = dataset.list_trials()
    reasons = {entry.subject: entry.reason for entry in listing.unreadable}
    assert "no EEG recording (*.bdf)" in reasons["session 4"]
    assert "DOCTYPE" in reasons["session 8"] and "session.xml" in reasons["session 8"]
    assert [key.face_video for key in listing.keys if key.trial == 6] == [None]
    report = "\n".join(dataset.layout_report())
    assert "session 6 (P01): EEG-only" in report and "session 4" in report
    with pytest.raises(MahnobFormatError, match="no session folders"):
        MahnobDataset(tmp_path)


def test_inspect_reports_mahnob_sessions(mahnob):
    result = CliRunner().invoke(cli, ["inspect", "--mahnob", mahnob])
    assert result.exit_code == 0, result.output
    assert "sessions          15, 14 usable" in result.output and "session 30: " in result.output
    assert "session 2       P01: 5.0 s stimulus + 2.0 s baseline at 256 Hz, 32 EEG channels" in result.output


def test_mahnob_runs_ingest_train_evaluate_export(mahnob, tmp_path):
    ingest, stats, metrics, served = _ingest_train_evaluate_export(mahnob, "mahnob", tmp_path)
    assert stats["source_format"] == "mahnob" and stats["dataset"] == "synthetic-mahnob"
    assert ingest.metadata["parameters"]["source_format"] == "mahnob"
    assert stats["trials"]["written"] == 14 and stats["sample_shape"]["num_frames"] == 20
    assert [entry["subject"] for entry in stats["skipped"]] == ["session 30"]
    assert stats["face_detection"]["mean_detection_rate"] > 0.8
    assert {entry["subject"] for entry in stats["per_trial"]} == {"P01", "P02"}
    assert metrics["num_samples"] == 2 and 0 <= metrics["accuracy"] <= 1
    assert "accuracy" in metrics["majority_baseline"] and metrics["classical_baseline"]["available"]
    assert served["emorecog_importable"] is False and sum(served["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_ingest_takes_exactly_one_source(mahnob, tmp_path):
    runner = CliRunner()
    both = runner.invoke(cli, ["ingest", "--deap", str(tmp_path), "--mahnob", mahnob, "--out", str(tmp_path / "o")])
    assert both.exit_code == 2 and "exactly one input" in both.output
    none = runner.invoke(cli, ["ingest", "--out", str(tmp_path / "o")])
    assert none.exit_code == 2 and "--deap DIR, --mahnob DIR or --manifest FILE" in none.output


# -- manifests of EDF / FIF recordings -------------------------------------------------------------------


def test_manifest_reads_edf_and_fif_by_channel_name_with_relative_paths(recordings):
    dataset = ManifestDataset(os.path.join(recordings, "manifest.csv"))
    keys = dataset.list_trials().keys
    assert len(keys) == 14 and {os.path.splitext(key.source_file)[1] for key in keys} == {".edf", ".fif"}
    assert all(os.path.isabs(key.source_file) and key.source_file.startswith(recordings) for key in keys)
    edf = dataset.load_trial(keys[0])
    fif = dataset.load_trial(keys[1])
    reference = DeapDataset(os.path.join(os.path.dirname(recordings), "deap")).read_trial("s01", 1)
    assert edf.eeg.shape == (32, 640) and edf.eeg_baseline.shape == (32, 384) and fif.eeg.shape == (32, 640)
    # biosemi32 order; the recording holds DEAP's Geneva order: Fz is row 18 there, row 30 here
    assert edf.eeg_channels[30] == "Fz"
    np.testing.assert_allclose(edf.eeg[30] * 1e6, reference.channel("Fz"), atol=0.05)  # EDF: 16-bit resolution
    assert sorted(dataset.input_files()) == dataset.input_files() and len(dataset.input_files()) == 14 + 14


def test_manifest_runs_ingest_train_evaluate_export(recordings, tmp_path):
    ingest, stats, metrics, served = _ingest_train_evaluate_export(
        os.path.join(recordings, "manifest.csv"), "manifest", tmp_path
    )
    assert stats["source_format"] == "manifest" and stats["trials"]["written"] == 14
    assert stats["eeg_only_policy"]["trials_without_video"] == []
    assert stats["face_detection"]["mean_detection_rate"] > 0.8
    assert len(ingest.metadata["parameters"]["source_files"]) == 28
    assert "accuracy" in metrics["majority_baseline"] and metrics["classical_baseline"]["available"]
    assert served["emorecog_importable"] is False


def _rows(recordings):
    with open(os.path.join(recordings, "manifest.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def test_manifest_errors_name_the_file_line_column_and_channel(recordings, tmp_path):
    folder = shutil.copytree(recordings, tmp_path / "lab")
    rows = _rows(folder)

    def refused(changed, pattern):
        write_manifest(folder / "bad.csv", changed)
        with pytest.raises(ManifestError, match=pattern):
            ManifestDataset(folder / "bad.csv")

    refused([{**rows[0], "eeg_channels": "Fp1;Xyz"}], r"line 2: column eeg_channels names 'Xyz'.*biosemi32")
    refused([{**rows[0], "eeg_file": "eeg"}], r"EEG recording .*line 2, column eeg_file.*is a directory")
    refused([{**rows[0], "eeg_file": "eeg/none.edf"}], r"line 2, column eeg_file.*no such file")
    refused([{**rows[0], "valence": "12"}], r"line 2: column valence = 12, expected a rating in 1..9")
    refused([{**rows[0], "montage": "biosemi64"}], r"line 2: column montage = 'biosemi64'.*--montage")
    refused([rows[0], rows[0]], r"line 3: subject s01 trial 1 is listed again \(first on line 2\)")
    refused([{key: value for key, value in rows[0].items() if key != "arousal"}], r"missing column\(s\) arousal")
    os.mkfifo(folder / "eeg" / "pipe.edf")
    refused([{**rows[0], "eeg_file": "eeg/pipe.edf"}], r"pipe.edf is not a regular file")


def test_a_recording_without_a_montage_channel_is_one_error_line_naming_file_and_channel(recordings, tmp_path):
    folder = shutil.copytree(recordings, tmp_path / "lab")
    rows = _rows(folder)[:2]
    raw = mne.io.read_raw(folder / rows[0]["eeg_file"], preload=True, verbose="ERROR").drop_channels(["Oz"])
    mne.export.export_raw(folder / "eeg" / "no_oz.edf", raw, fmt="edf", verbose="ERROR")
    write_manifest(folder / "no_oz.csv", [{**rows[0], "eeg_file": "eeg/no_oz.edf"}, rows[1]])
    with pytest.raises(ExampleGenError, match=r"no_oz.edf: no channel 'Oz'"):
        run_example_gen(
            folder / "no_oz.csv",
            tmp_path / "out",
            preprocess_config=_tiny_preprocess(),
            num_workers=1,
            on_error="stop",
            source_format="manifest",
        )
    result = CliRunner().invoke(
        cli,
        [
            "ingest",
            "--manifest",
            str(folder / "no_oz.csv"),
            "--out",
            str(tmp_path / "o"),
            "--on-error",
            "stop",
            "--workers",
            "1",
            "--fps",
            "4",
            "--image-size",
            "8",
            "--face-size",
            "16",
            "--trial-seconds",
            "5",
        ],
    )
    assert result.exit_code == 1
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "no_oz.edf" in error_lines[0] and "'Oz'" in error_lines[0]
