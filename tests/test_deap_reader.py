"""The DEAP reader on synthetic DEAP directories: layouts, records, face-video mapping, reports, bad input."""

import json
import os
import pickle
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from emorecog.datasets.dataset_reader import LabelRule
from emorecog.datasets.deap import (
    BASELINE_SAMPLES,
    EEG_CHANNELS,
    PERIPHERAL_CHANNELS,
    DeapDataset,
    DeapFormatError,
)
from emorecog.datasets.safe_pickle import UnsafePickleError, dump_python2_pickle
from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

# DEAP documentation ("data_preprocessed_python"): EEG channels 1-32 in the Geneva order, then 33-40.
GENEVA_ORDER = (
    "Fp1 AF3 F3 F7 FC5 FC1 C3 T7 CP5 CP1 P3 P7 PO3 O1 Oz Pz Fp2 AF4 Fz F4 F8 FC6 FC2 Cz C4 T8 CP6 CP2 P4 P8 PO4 O2"
).split()
SMALL = SynthConfig(subjects=2, trials=4, duration_s=5, fps=5, width=96, height=72, event_window_s=2.0, seed=3)


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    return write_synthetic_deap(tmp_path_factory.mktemp("deap") / "synthetic", SMALL)


@pytest.fixture(scope="module")
def ground_truth(synthetic_dir):
    with open(os.path.join(synthetic_dir, "ground_truth.json")) as handle:
        return json.load(handle)


@pytest.fixture
def copy_of(synthetic_dir, tmp_path):
    """A writable copy of the synthetic directory (videos hard-linked or copied)."""
    destination = tmp_path / "copy"
    shutil.copytree(synthetic_dir, destination)
    return destination


def raw_subject(root, subject):
    with open(os.path.join(root, "data_preprocessed_python", f"{subject}.dat"), "rb") as handle:
        return pickle.load(handle, encoding="latin1")  # trusted: we wrote it


def write_subject(root, subject, content):
    path = os.path.join(root, "data_preprocessed_python", f"{subject}.dat")
    with open(path, "wb") as handle:
        dump_python2_pickle(content, handle)
    return path


def write_csv_ratings(root, subject, labels):
    """Put `labels` [trials, 4] (video order) into participant_ratings.csv, as the data file holds them."""
    import csv

    path = os.path.join(root, "metadata_csv", "participant_ratings.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if f"s{int(row['Participant_id']):02d}" == subject:
            values = labels[int(row["Experiment_id"]) - 1]
            row.update(
                {name: f"{value:.2f}" for name, value in zip(("Valence", "Arousal", "Dominance", "Liking"), values)}
            )
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# -- reading ----------------------------------------------------------------------------------------


def test_layout_and_subjects(synthetic_dir):
    dataset = DeapDataset(synthetic_dir)
    assert dataset.layout == "python"
    assert dataset.name == "synthetic-deap"
    assert dataset.subjects() == ["s01", "s02"]
    assert dataset.num_trials("s01") == 4


def test_trial_record_shapes_channels_and_values(synthetic_dir):
    dataset = DeapDataset(synthetic_dir)
    trial = dataset.read_trial("s02", 3)
    samples = SMALL.duration_s * 128
    assert trial.subject == "s02" and trial.trial == 3
    assert trial.eeg.shape == (32, samples) and trial.eeg.dtype == np.float32
    assert trial.eeg_baseline.shape == (32, BASELINE_SAMPLES) and trial.eeg_baseline.dtype == np.float32
    assert trial.peripheral.shape == (8, BASELINE_SAMPLES + samples)
    assert list(trial.eeg_channels) == GENEVA_ORDER == list(EEG_CHANNELS)
    assert trial.peripheral_channels == PERIPHERAL_CHANNELS and trial.peripheral_channels[:2] == ("hEOG", "vEOG")
    assert trial.sampling_rate == 128 and trial.duration_s == SMALL.duration_s
    raw = raw_subject(synthetic_dir, "s02")
    np.testing.assert_array_equal(trial.eeg, raw["data"][2, :32, 384:].astype(np.float32))
    np.testing.assert_array_equal(trial.eeg_baseline, raw["data"][2, :32, :384].astype(np.float32))
    np.testing.assert_array_equal(trial.peripheral, raw["data"][2, 32:].astype(np.float32))
    np.testing.assert_array_equal(trial.channel("Fz"), trial.eeg[GENEVA_ORDER.index("Fz")])
    assert trial.ratings == tuple(float(v) for v in raw["labels"][2])
    with pytest.raises(ValueError):
        trial.eeg[0, 0] = 1.0  # records are read-only


def test_labels_and_ratings_match_ground_truth(synthetic_dir, ground_truth):
    dataset = DeapDataset(synthetic_dir)
    for key in dataset.trial_keys():
        truth = ground_truth["subjects"][key.subject]["trials"][key.trial - 1]
        assert key.rating("valence") == truth["ratings"]["valence"]
        assert key.label("valence") == truth["labels"]["valence"]
        assert key.label("arousal") == truth["labels"]["arousal"]


def test_trial_keys_cover_every_trial_and_agree_with_records(synthetic_dir):
    dataset = DeapDataset(synthetic_dir)
    keys = dataset.trial_keys()
    assert [(k.subject, k.trial) for k in keys] == [(s, t) for s in ("s01", "s02") for t in range(1, 5)]
    for key in keys:
        assert dataset.read_trial(key.subject, key.trial).key == key
    assert dataset.trial_keys("s02") == keys[4:]


def test_trials_iterates_in_video_order(synthetic_dir):
    trials = list(DeapDataset(synthetic_dir).trials("s01"))
    assert [trial.trial for trial in trials] == [1, 2, 3, 4]


def test_dataset_pickles_without_arrays(synthetic_dir):
    dataset = DeapDataset(synthetic_dir)
    dataset.read_trial("s01", 1)
    shipped = pickle.dumps(dataset)
    assert len(shipped) < 2000  # arguments only, not the subject's samples (Beam workers reopen files)
    clone = pickle.loads(shipped)
    np.testing.assert_array_equal(clone.read_trial("s01", 2).eeg, dataset.read_trial("s01", 2).eeg)


def test_face_video_mapping_follows_presentation_order(synthetic_dir, ground_truth):
    import cv2

    dataset = DeapDataset(synthetic_dir)
    shuffled = 0
    for key in dataset.trial_keys():
        truth = ground_truth["subjects"][key.subject]["trials"][key.trial - 1]
        assert key.presentation_index == truth["presentation_index"]
        expected = os.path.join(synthetic_dir, truth["face_video"])
        assert key.face_video == expected
        assert os.path.basename(key.face_video) == f"{key.subject}_trial{key.presentation_index:02d}.avi"
        shuffled += key.presentation_index != key.trial
        capture = cv2.VideoCapture(key.face_video)
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == SMALL.duration_s * SMALL.fps
        capture.release()
    assert shuffled > 0  # the presentation order really differs from the video order


def test_matlab_layout_reads_the_same_trials(synthetic_dir, tmp_path):
    from scipy import io as scipy_io

    root = tmp_path / "matlab"
    (root / "data_preprocessed_matlab").mkdir(parents=True)
    shutil.copytree(os.path.join(synthetic_dir, "metadata_csv"), root / "metadata_csv")
    for subject in ("s01", "s02"):
        scipy_io.savemat(root / "data_preprocessed_matlab" / f"{subject}.mat", raw_subject(synthetic_dir, subject))
    matlab, python = DeapDataset(root), DeapDataset(synthetic_dir)
    assert matlab.layout == "matlab" and matlab.name == "deap"
    assert matlab.subjects() == python.subjects()
    for key in matlab.trial_keys():
        assert key.labels == python.read_trial(key.subject, key.trial).labels
        assert key.face_video is None  # no face_video/ copied
    np.testing.assert_array_equal(matlab.read_trial("s02", 4).eeg, python.read_trial("s02", 4).eeg)


def test_python_layout_preferred_when_both_exist(copy_of):
    (copy_of / "data_preprocessed_matlab").mkdir()
    assert DeapDataset(copy_of).layout == "python"


# -- reports ----------------------------------------------------------------------------------------


def test_layout_report_complete_dataset(synthetic_dir):
    report = DeapDataset(synthetic_dir).layout_report()
    assert report.subjects == ("s01", "s02") and report.num_trials == 8
    assert report.num_trials_with_video == 8
    assert report.missing_videos == () and report.subjects_without_video == () and report.unmatched_videos == ()
    assert sum(report.label_counts["valence"]) == 8
    assert "high if rating > 5" in str(report)
    json.dumps(report.to_dict())


def test_missing_videos_reported_not_fatal(copy_of):
    dataset = DeapDataset(copy_of)
    key = next(k for k in dataset.trial_keys() if k.subject == "s01" and k.trial == 2)
    os.remove(key.face_video)
    shutil.rmtree(copy_of / "face_video" / "s02")
    dataset = DeapDataset(copy_of)
    report = dataset.layout_report()
    assert report.missing_videos == (("s01", 2, key.presentation_index),)
    assert report.subjects_without_video == ("s02",)
    assert report.num_trials_with_video == 3
    assert "missing videos" in str(report) and "s02" in str(report)
    trial = dataset.read_trial("s01", 2)
    assert trial.face_video is None and trial.eeg.shape[0] == 32  # EEG-only, still usable
    assert all(t.face_video is None for t in dataset.trials("s02"))


def test_synthetic_missing_videos_match_ground_truth(tmp_path):
    config = SynthConfig(
        subjects=3,
        trials=3,
        duration_s=3,
        fps=2,
        width=64,
        height=48,
        event_window_s=1.0,
        subjects_without_video=1,
        missing_trial_videos=2,
    )
    root = write_synthetic_deap(tmp_path / "gaps", config)
    with open(os.path.join(root, "ground_truth.json")) as handle:
        truth = json.load(handle)
    dropped = {
        (subject, t["trial"])
        for subject, info in truth["subjects"].items()
        for t in info["trials"]
        if t["video_dropped"]
    }
    report = DeapDataset(root).layout_report()
    assert report.subjects_without_video == ("s03",)
    assert {(subject, trial) for subject, trial, _ in report.missing_videos} == dropped and len(dropped) == 2


def test_unmatched_video_reported(copy_of):
    shutil.copy(next((copy_of / "face_video" / "s01").iterdir()), copy_of / "face_video" / "s01" / "s01_trial09.avi")
    assert DeapDataset(copy_of).layout_report().unmatched_videos == ("face_video/s01/s01_trial09.avi",)


def test_without_ratings_csv_presentation_unknown(copy_of):
    os.remove(copy_of / "metadata_csv" / "participant_ratings.csv")
    dataset = DeapDataset(copy_of)
    assert all(k.presentation_index is None and k.face_video is None for k in dataset.trial_keys())
    report = dataset.layout_report()
    assert report.ratings_csv is None and "MISSING" in str(report)
    assert dataset.read_trial("s01", 1).eeg.shape[0] == 32


# -- label rule -------------------------------------------------------------------------------------


def test_label_rule_default_is_strictly_greater_than_five():
    rule = LabelRule()
    assert (rule.label(5.0), rule.label(5.01), rule.label(4.99), rule.label(9.0)) == (0, 1, 0, 1)
    assert LabelRule(inclusive=True).label(5.0) == 1
    assert LabelRule(threshold=4.5).label(4.6) == 1
    assert rule.labels((6.0, 2.0, 1.0, 1.0)) == (1, 0)
    assert rule.describe() == "high if rating > 5" and LabelRule(4.5, True).describe() == "high if rating >= 4.5"
    with pytest.raises(ValueError):
        LabelRule(threshold=float("nan"))


def test_label_rule_applied_by_dataset(copy_of):
    content = raw_subject(copy_of, "s01")
    content["labels"][0, :2] = 5.0  # exactly the threshold
    content["labels"][1, :2] = 4.7
    write_subject(copy_of, "s01", content)
    write_csv_ratings(copy_of, "s01", content["labels"])
    default = DeapDataset(copy_of).read_trial("s01", 1)
    assert default.labels == (0, 0)
    assert DeapDataset(copy_of, label_rule=LabelRule(inclusive=True)).read_trial("s01", 1).labels == (1, 1)
    assert DeapDataset(copy_of, label_rule=LabelRule(threshold=4.5)).read_trial("s01", 2).labels == (1, 1)


# -- bad input --------------------------------------------------------------------------------------


def assert_format_error(callable_, *fragments):
    with pytest.raises(DeapFormatError) as caught:
        callable_()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_unknown_layout(tmp_path):
    (tmp_path / "face_video").mkdir()
    assert_format_error(lambda: DeapDataset(tmp_path), str(tmp_path), "unknown layout", "data_preprocessed_python")


def test_not_a_directory(tmp_path):
    assert_format_error(lambda: DeapDataset(tmp_path / "absent"), "not a directory")


def test_empty_data_folder(tmp_path):
    (tmp_path / "data_preprocessed_python").mkdir()
    assert_format_error(lambda: DeapDataset(tmp_path), "no subject files", "s01.dat")


def test_wrong_channel_count(copy_of):
    content = raw_subject(copy_of, "s01")
    content["data"] = content["data"][:, :39]
    path = write_subject(copy_of, "s01", content)
    assert_format_error(lambda: DeapDataset(copy_of).read_trial("s01", 1), path, "'data'", "39 channels", "40")


@pytest.mark.parametrize(
    "field, value, fragments",
    [
        ("data", np.zeros((4, 40)), ("'data'", "3 dimensions")),
        ("data", np.zeros((4, 40, 300)), ("'data'", "300 samples", "384")),
        ("labels", np.full((4, 3), 5.0), ("'labels'", "[trials, 4]")),
        ("labels", np.full((3, 4), 5.0), ("'labels'", "3 rows", "4 trials")),
        ("labels", np.full((4, 4), 12.0), ("'labels'", "trial 1 valence", "[1, 9]")),
    ],
)
def test_wrong_shapes_and_values(copy_of, field, value, fragments):
    content = raw_subject(copy_of, "s01")
    content[field] = value
    path = write_subject(copy_of, "s01", content)
    assert_format_error(lambda: DeapDataset(copy_of).read_trial("s01", 1), path, *fragments)


def test_missing_field(copy_of):
    content = raw_subject(copy_of, "s02")
    del content["labels"]
    path = write_subject(copy_of, "s02", content)
    assert_format_error(lambda: DeapDataset(copy_of).trial_keys(), path, "'labels' is missing")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_samples_name_trial_and_channel(copy_of, bad_value):
    content = raw_subject(copy_of, "s01")
    content["data"][1, GENEVA_ORDER.index("F3"), 500] = bad_value
    path = write_subject(copy_of, "s01", content)
    dataset = DeapDataset(copy_of)
    assert_format_error(lambda: dataset.read_trial("s01", 2), path, "trial 2", "F3", "NaN/inf", "sample 500")
    assert dataset.read_trial("s01", 1).eeg.shape[0] == 32  # the other trials stay readable


def test_truncated_file(copy_of):
    path = copy_of / "data_preprocessed_python" / "s01.dat"
    path.write_bytes(path.read_bytes()[:5000])
    assert_format_error(lambda: DeapDataset(copy_of).read_trial("s01", 1), str(path), "truncated")


def test_non_pickle_file(copy_of):
    path = copy_of / "data_preprocessed_python" / "s02.dat"
    path.write_text("Participant_id,Trial\n1,1\n")
    assert_format_error(lambda: DeapDataset(copy_of).read_trial("s02", 1), str(path), "not a readable DEAP pickle")


def test_pickle_of_wrong_type(copy_of):
    path = write_subject(copy_of, "s02", [1, 2, 3])
    with pytest.raises(UnsafePickleError, match="refused opcode EMPTY_LIST, which builds a list") as caught:
        DeapDataset(copy_of).read_trial("s02", 1)
    assert str(path) in str(caught.value)
    path = write_subject(copy_of, "s02", {"data": np.ones((1, 40, 500))})  # a dict of arrays, but no labels
    assert_format_error(lambda: DeapDataset(copy_of).read_trial("s02", 1), path, "field 'labels' is missing")


def test_non_mat_file(tmp_path):
    (tmp_path / "data_preprocessed_matlab").mkdir()
    path = tmp_path / "data_preprocessed_matlab" / "s01.mat"
    path.write_bytes(b"\x00" * 100)
    assert_format_error(lambda: DeapDataset(tmp_path).trial_keys(), str(path), "not a readable MATLAB file")


def test_malicious_dat_refused_not_run(copy_of, tmp_path):
    marker = tmp_path / "PWNED"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = copy_of / "data_preprocessed_python" / "s02.dat"
    path.write_bytes(pickle.dumps({"data": Exploit(), "labels": np.ones((1, 4))}, protocol=2))
    with pytest.raises(UnsafePickleError, match="refused global"):
        DeapDataset(copy_of).read_trial("s02", 1)
    assert not marker.exists()


def test_unknown_subject_and_trial(synthetic_dir):
    dataset = DeapDataset(synthetic_dir)
    assert_format_error(lambda: dataset.read_trial("s09", 1), "no data file for subject 's09'")
    assert_format_error(lambda: dataset.read_trial("s01", 5), "trials 1..4", "5")


def test_ratings_csv_missing_column(copy_of):
    path = copy_of / "metadata_csv" / "participant_ratings.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line.split(",", 1)[1] for line in lines) + "\n")  # drop Participant_id
    assert_format_error(lambda: DeapDataset(copy_of), str(path), "Participant_id")


def test_ratings_csv_duplicate_video(copy_of):
    path = copy_of / "metadata_csv" / "participant_ratings.csv"
    lines = path.read_text().splitlines()
    lines.append(lines[1])
    path.write_text("\n".join(lines) + "\n")
    assert_format_error(lambda: DeapDataset(copy_of), str(path), "twice")


# -- CLI --------------------------------------------------------------------------------------------


def test_inspect_command(synthetic_dir):
    from emorecog.cli import main

    result = CliRunner().invoke(main, ["inspect", "--deap", synthetic_dir])
    assert result.exit_code == 0, result.output
    assert "s01, s02" in result.output
    assert "valence low/high" in result.output and "8 with face video" in result.output
    assert "[32, 640] stimulus + [32, 384] baseline" in result.output
    assert "read             8 trials" in result.output


def test_inspect_command_threshold_and_bad_dir(synthetic_dir, tmp_path):
    from emorecog.cli import main

    result = CliRunner().invoke(main, ["inspect", "--deap", synthetic_dir, "--label-threshold", "0.5", "--keys-only"])
    assert result.exit_code == 0 and "valence low/high 0/8" in result.output
    result = CliRunner().invoke(main, ["inspect", "--deap", str(tmp_path)])
    assert result.exit_code != 0 and "unknown layout" in result.output
