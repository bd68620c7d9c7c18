"""Synthetic DEAP: layout, determinism, the planted EEG and face effects, MediaPipe detection, the CLI."""

import csv
import dataclasses
import json
import os
import pickle
import pickletools

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import signal

from emorecog.datasets.deap import EEG_CHANNELS, DeapDataset
from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap
from emorecog.datasets.synthetic.face import SyntheticFace

TINY = SynthConfig(subjects=2, trials=3, duration_s=3, fps=4, width=64, height=48, event_window_s=1.0, seed=11)
# EEG-only (no videos to write): enough trials to compare labels, quick to generate.
EEG_SET = SynthConfig(subjects=2, trials=8, duration_s=10, subjects_without_video=2, seed=5)


def files_of(root):
    return sorted(
        os.path.relpath(os.path.join(directory, name), root) for directory, _, names in os.walk(root) for name in names
    )


def read_bytes(root):
    result = {}
    for name in files_of(root):
        with open(os.path.join(root, name), "rb") as handle:
            result[name] = handle.read()
    return result


def load_truth(root):
    with open(os.path.join(root, "ground_truth.json")) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_synthetic_deap(tmp_path_factory.mktemp("tiny") / "deap", TINY)


@pytest.fixture(scope="module")
def eeg_dir(tmp_path_factory):
    return write_synthetic_deap(tmp_path_factory.mktemp("eeg") / "deap", EEG_SET)


# -- configuration ----------------------------------------------------------------------------------


def test_config_defaults_are_small_and_deap_size_is_deap():
    config = SynthConfig()
    assert (config.subjects, config.trials, config.duration_s, config.fps) == (6, 16, 20, 10)
    assert config.samples_per_trial == 384 + 20 * 128 and config.frames_per_trial == 200
    deap = SynthConfig.deap_size(subjects=1, trials=1)
    assert (deap.duration_s, deap.fps, deap.width, deap.height) == (60, 50, 720, 576)
    assert deap.samples_per_trial == 8064 and deap.trials == 1
    assert SynthConfig.deap_size().trials == 40


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (dict(difficulty=1.5), "difficulty"),
        (dict(subjects=0), "subjects"),
        (dict(trials=100), "trials"),
        (dict(duration_s=3, event_window_s=3.0), "duration_s"),
        (dict(duration_s=2.5), "int"),
        (dict(subjects_without_video=7), "subjects_without_video"),
        (dict(missing_trial_videos=1000), "missing_trial_videos"),
    ],
)
def test_config_rejects_bad_values(overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        SynthConfig(**overrides)


# -- layout -----------------------------------------------------------------------------------------


def test_layout_files(tiny_dir):
    names = files_of(tiny_dir)
    assert "ground_truth.json" in names and "metadata_csv/participant_ratings.csv" in names
    assert [n for n in names if n.endswith(".dat")] == [
        "data_preprocessed_python/s01.dat",
        "data_preprocessed_python/s02.dat",
    ]
    assert sorted(n for n in names if n.startswith("face_video/s01/")) == [
        f"face_video/s01/s01_trial{i:02d}.avi" for i in (1, 2, 3)
    ]
    assert not any(name.startswith(".") for name in os.listdir(os.path.dirname(tiny_dir)))  # no staging left


def test_dat_is_a_python2_pickle_of_deap_arrays(tiny_dir):
    path = os.path.join(tiny_dir, "data_preprocessed_python", "s01.dat")
    with open(path, "rb") as handle:
        raw = handle.read()
    assert max(opcode.proto for opcode, _, _ in pickletools.genops(raw)) <= 2
    content = pickle.loads(raw, encoding="latin1")
    assert content["data"].shape == (3, 40, 384 + 3 * 128) and content["data"].dtype == np.float64
    assert content["labels"].shape == (3, 4)
    assert np.all((content["labels"] >= 1) & (content["labels"] <= 9))


def test_ratings_csv_has_deap_columns_and_shuffled_order(tiny_dir):
    with open(os.path.join(tiny_dir, "metadata_csv", "participant_ratings.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "Participant_id",
        "Trial",
        "Experiment_id",
        "Start_time",
        "Valence",
        "Arousal",
        "Dominance",
        "Liking",
        "Familiarity",
    ]
    labels = {}
    for subject in ("s01", "s02"):
        with open(os.path.join(tiny_dir, "data_preprocessed_python", f"{subject}.dat"), "rb") as handle:
            labels[subject] = pickle.load(handle, encoding="latin1")["labels"]
    for participant in (1, 2):
        mine = [row for row in rows if int(row["Participant_id"]) == participant]
        assert [int(row["Trial"]) for row in mine] == [1, 2, 3]
        assert sorted(int(row["Experiment_id"]) for row in mine) == [1, 2, 3]
        starts = [int(row["Start_time"]) for row in mine]
        assert starts == sorted(starts)
        for row in mine:  # the csv ratings are the .dat labels of that video
            video = int(row["Experiment_id"])
            assert float(row["Valence"]) == pytest.approx(labels[f"s0{participant}"][video - 1, 0])


def test_presentation_order_is_shuffled_per_subject(eeg_dir):
    with open(os.path.join(eeg_dir, "metadata_csv", "participant_ratings.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    orders = [[int(row["Experiment_id"]) for row in rows if row["Participant_id"] == str(number)] for number in (1, 2)]
    assert all(sorted(order) == list(range(1, 9)) for order in orders)
    assert orders[0] != list(range(1, 9)) and orders[0] != orders[1]


def test_labels_balanced_per_subject(eeg_dir):
    dataset = DeapDataset(eeg_dir)
    for subject in dataset.subjects():
        keys = [k for k in dataset.trial_keys() if k.subject == subject]
        for target in ("valence", "arousal"):
            high = sum(k.label(target) for k in keys)
            assert high in (len(keys) // 2, (len(keys) + 1) // 2)
        assert all(abs(k.rating("valence") - 5.0) >= 0.5 for k in keys)  # > 5 and >= 5 agree


def test_ground_truth_windows_and_no_face_frames(tiny_dir):
    truth = load_truth(tiny_dir)
    assert truth["config"]["seed"] == 11 and truth["video"]["frames_per_trial"] == 12
    for info in truth["subjects"].values():
        for trial in info["trials"]:
            start, end = trial["event_window_s"]
            assert 0.0 < start and end < TINY.duration_s and end - start == pytest.approx(1.0)
            for frame in trial["no_face_frames"]:
                assert not start - 0.5 <= frame / TINY.fps <= end + 0.5


def test_video_frames_and_size(tiny_dir):
    import cv2

    capture = cv2.VideoCapture(os.path.join(tiny_dir, "face_video", "s02", "s02_trial03.avi"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(4.0)
    capture.release()
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)


# -- determinism and atomicity ----------------------------------------------------------------------


def test_same_seed_same_bytes(tiny_dir, tmp_path):
    again = write_synthetic_deap(tmp_path / "again", TINY)
    assert read_bytes(again) == read_bytes(tiny_dir)  # .dat, .avi, .csv and .json, byte for byte


def test_other_seed_other_data(tiny_dir, tmp_path):
    other = write_synthetic_deap(tmp_path / "other", dataclasses.replace(TINY, seed=12))
    assert (
        read_bytes(other)["data_preprocessed_python/s01.dat"]
        != read_bytes(tiny_dir)["data_preprocessed_python/s01.dat"]
    )


def test_parallel_workers_write_the_same_bytes(tiny_dir, tmp_path):
    parallel = write_synthetic_deap(tmp_path / "parallel", TINY, workers=2)
    assert read_bytes(parallel) == read_bytes(tiny_dir)


def test_subject_data_independent_of_subject_count(tiny_dir, tmp_path):
    one = write_synthetic_deap(tmp_path / "one", dataclasses.replace(TINY, subjects=1))
    assert (
        read_bytes(one)["data_preprocessed_python/s01.dat"] == read_bytes(tiny_dir)["data_preprocessed_python/s01.dat"]
    )


def test_existing_output_needs_overwrite_and_failure_leaves_nothing(tmp_path):
    target = tmp_path / "out"
    write_synthetic_deap(target, TINY)
    with pytest.raises(FileExistsError):
        write_synthetic_deap(target, TINY)
    write_synthetic_deap(target, TINY, overwrite=True)

    def fail(done, total):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_synthetic_deap(tmp_path / "never", TINY, progress=fail)
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no partial directory, no staging left over


# -- the planted EEG signal -------------------------------------------------------------------------


def band_power(eeg, band, channels, segment):
    sos = signal.butter(4, band, btype="band", fs=128, output="sos")
    filtered = signal.sosfiltfilt(sos, eeg[[EEG_CHANNELS.index(c) for c in channels]], axis=1)
    return float(np.mean(filtered[:, segment] ** 2))


def window_features(root):
    """Per trial: labels, alpha asymmetry log(R/L) and frontal beta power inside and outside the window."""
    dataset, truth = DeapDataset(root), load_truth(root)
    left, right = ("F3", "AF3", "F7", "FC5"), ("F4", "AF4", "F8", "FC6")
    beta_channels = ("Fz", "FC1", "FC2", "C3", "C4", "Cz")
    rows = []
    for key in dataset.trial_keys():
        trial = dataset.read_trial(key.subject, key.trial)
        start, end = (
            int(round(t * 128)) for t in truth["subjects"][key.subject]["trials"][key.trial - 1]["event_window_s"]
        )
        inside = np.zeros(trial.eeg.shape[1], bool)
        inside[start:end] = True
        outside = np.ones_like(inside)
        outside[max(0, start - 64) : end + 64] = False  # everything else, with a 0.5 s guard
        asymmetry = [
            np.log(band_power(trial.eeg, (8, 13), right, s) / band_power(trial.eeg, (8, 13), left, s))
            for s in (inside, outside)
        ]
        beta = [np.log(band_power(trial.eeg, (15, 25), beta_channels, s)) for s in (inside, outside)]
        rows.append((key.label("valence"), key.label("arousal"), *asymmetry, *beta))
    return np.array(rows)


def label_difference(rows, label_column, value_column):
    high, low = rows[rows[:, label_column] == 1], rows[rows[:, label_column] == 0]
    return high[:, value_column].mean() - low[:, value_column].mean()


def test_valence_alpha_asymmetry_only_inside_window(eeg_dir):
    rows = window_features(eeg_dir)
    assert label_difference(rows, 0, 2) > 0.8  # inside: high valence -> more right-frontal alpha
    assert abs(label_difference(rows, 0, 3)) < 0.3  # outside: no valence information


def test_arousal_beta_power_only_inside_window(eeg_dir):
    rows = window_features(eeg_dir)
    inside_gain = rows[:, 4] - rows[:, 5]  # log beta power inside minus outside, per trial
    high, low = inside_gain[rows[:, 1] == 1], inside_gain[rows[:, 1] == 0]
    assert high.mean() - low.mean() > 0.6
    assert abs(label_difference(rows, 1, 5)) < 0.4  # outside: beta power does not tell arousal


def test_difficulty_one_plants_no_label_information(tmp_path):
    root = write_synthetic_deap(tmp_path / "hard", dataclasses.replace(EEG_SET, difficulty=1.0))
    rows = window_features(root)
    assert abs(label_difference(rows, 0, 2)) < 0.3
    inside_gain = rows[:, 4] - rows[:, 5]
    assert abs(inside_gain[rows[:, 1] == 1].mean() - inside_gain[rows[:, 1] == 0].mean()) < 0.3
    assert inside_gain.mean() > 0.3  # the window (a burst) is still there, it just carries no label


def test_background_is_1_over_f_with_individual_alpha_peak(eeg_dir):
    dataset, truth = DeapDataset(eeg_dir), load_truth(eeg_dir)
    trial = dataset.read_trial("s01", 1)
    frequencies, power = signal.welch(trial.eeg, fs=128, nperseg=256, axis=1)
    occipital = power[EEG_CHANNELS.index("O1")]
    in_range = (frequencies >= 6) & (frequencies <= 30)
    peak = frequencies[in_range][np.argmax(occipital[in_range])]
    assert abs(peak - truth["subjects"]["s01"]["physiology"]["alpha_peak_hz"]) <= 1.5
    temporal = power[EEG_CHANNELS.index("T7")]
    low = temporal[(frequencies >= 4.5) & (frequencies <= 7)].mean()
    high = temporal[(frequencies >= 30) & (frequencies <= 40)].mean()
    assert low > 3 * high
    assert temporal[frequencies >= 55].mean() < 0.05 * low  # DEAP's 4-45 Hz band-pass


def test_blinks_on_frontal_channels_and_veog(eeg_dir):
    dataset, truth = DeapDataset(eeg_dir), load_truth(eeg_dir)
    fp1, o1, veog = [], [], []
    for key in dataset.trial_keys()[:4]:
        trial = dataset.read_trial(key.subject, key.trial)
        for blink in truth["subjects"][key.subject]["trials"][key.trial - 1]["blinks_s"]:
            sample = int(round(blink * 128))
            if 0 <= sample < trial.eeg.shape[1]:
                fp1.append(abs(trial.channel("Fp1")[sample]))
                o1.append(abs(trial.channel("O1")[sample]))
                veog.append(abs(trial.peripheral[1, 384 + sample]))
    assert len(fp1) >= 3
    assert np.median(fp1) > 3 * np.median(o1)
    assert np.median(veog) > np.median(fp1)


# -- the face video ---------------------------------------------------------------------------------


def sclera_pixels(frame):
    return int(np.all(frame >= 240, axis=2).sum())


def mouth_bend(frame, face):
    """Mean row of the mouth colour in the middle minus at the corners (> 0: the middle is lower, a smile)."""
    mask = np.all(np.abs(frame.astype(int) - np.array([60, 60, 150])) <= 2, axis=2)
    rows, columns = np.nonzero(mask)
    middle = np.abs(columns - columns.mean()) < 0.25 * np.ptp(columns)
    return rows[middle].mean() - rows[~middle].mean()


def test_face_expression_parameters_change_the_drawing():
    face = SyntheticFace(
        skin=(160, 188, 230),
        hair=(40, 55, 80),
        hair_style="short",
        eye_colour=(60, 60, 60),
        shirt=(120, 80, 60),
        background=(200, 210, 205),
        face_width=0.4,
        glasses=False,
    )
    draw = lambda **kwargs: face.draw(240, 320, (160, 110), **kwargs)  # noqa: E731
    assert (
        sclera_pixels(draw(eye_open=1.5))
        > sclera_pixels(draw(eye_open=1.0))
        > sclera_pixels(draw(eye_open=0.5))
        > sclera_pixels(draw(eye_open=0.0))
        == 0
    )
    assert mouth_bend(draw(mouth_curve=1.0), face) > 1.0
    assert mouth_bend(draw(mouth_curve=-1.0), face) < -1.0
    away = draw(turned_away=True)
    assert not np.any(np.all(away == np.array(face.skin), axis=2))  # no skin: the face is not visible


def test_subject_appearances_differ(tiny_dir):
    truth = load_truth(tiny_dir)
    appearances = [info["appearance"] for info in truth["subjects"].values()]
    assert appearances[0] != appearances[1]


def test_mediapipe_finds_the_synthetic_faces(tmp_path):
    import cv2

    from emorecog.preprocessing.face_detector import FaceDetector

    config = SynthConfig(subjects=4, trials=2, duration_s=6, fps=10, event_window_s=2.0, look_away_episodes=2, seed=21)
    root = write_synthetic_deap(tmp_path / "faces", config)
    truth = load_truth(root)
    with_face = [0, 0]  # [frames, detected]
    without_face = [0, 0]
    with FaceDetector() as detector:
        for info in truth["subjects"].values():
            for trial in info["trials"]:
                no_face = set(trial["no_face_frames"])
                capture = cv2.VideoCapture(os.path.join(root, trial["face_video"]))
                index = 0
                while True:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    found = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)) is not None
                    counts = without_face if index in no_face else with_face
                    counts[0] += 1
                    counts[1] += found
                    index += 1
                capture.release()
                assert index == config.frames_per_trial
    assert with_face[0] > 350 and without_face[0] >= 16
    assert with_face[1] / with_face[0] >= 0.95
    assert without_face[1] / without_face[0] <= 0.25


# -- CLI --------------------------------------------------------------------------------------------


def test_synth_command(tmp_path):
    from emorecog.cli import main

    out = tmp_path / "cli"
    arguments = [
        "synth",
        "--out",
        str(out),
        "--subjects",
        "1",
        "--trials",
        "2",
        "--duration",
        "3",
        "--fps",
        "4",
        "--width",
        "64",
        "--height",
        "48",
        "--event-window",
        "1",
        "--seed",
        "4",
        "--workers",
        "1",
    ]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "2/2 trials" in result.output
    assert load_truth(out)["config"]["seed"] == 4
    assert len(DeapDataset(out).trial_keys()) == 2
    again = CliRunner().invoke(main, arguments)
    assert again.exit_code != 0 and "exists" in again.output
    forced = CliRunner().invoke(main, arguments + ["--force"])
    assert forced.exit_code == 0, forced.output


def test_synth_command_rejects_bad_options(tmp_path):
    from emorecog.cli import main

    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "x"), "--duration", "2"])
    assert result.exit_code == 2 and "duration_s" in result.output
    assert not (tmp_path / "x").exists()
    result = CliRunner().invoke(main, ["synth", "--help"])
    assert result.exit_code == 0 and "ground_truth.json" in result.output and "--deap-size" in result.output


@pytest.mark.slow
def test_deap_size_trial(tmp_path):
    import cv2

    root = write_synthetic_deap(tmp_path / "full", SynthConfig.deap_size(subjects=1, trials=1))
    trial = DeapDataset(root).read_trial("s01", 1)
    assert trial.eeg.shape == (32, 7680) and trial.eeg_baseline.shape == (32, 384)
    assert trial.peripheral.shape == (8, 8064)
    capture = cv2.VideoCapture(trial.face_video)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3000
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (720, 576)
    capture.release()
