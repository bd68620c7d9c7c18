"""ExampleGen end to end on a small synthetic DEAP with the real Beam runner, the tf.data reader, and
`emorecog ingest` / `emorecog show-images`.

Most runs use one in-process Beam worker (`num_workers=1`) to keep the suite quick on a shared CPU; the
default configuration (multi-process DirectRunner, one worker per core) runs in `test_default_runner_*`.
"""

import dataclasses
import glob
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from emorecog import features, splits
from emorecog.components import beam_runner, component, example_gen
from emorecog.datasets import tfrecord_reader
from emorecog.datasets.deap import DeapDataset
from emorecog.datasets.safe_pickle import dump_python2_pickle
from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap
from emorecog.preprocessing.trial_preprocessor import record_schema_for

# 3 subjects x 7 trials of 5 s (T = 40 frames at 8 fps); s03 has no video, one other trial video is missing.
SMALL = SynthConfig(subjects=3, trials=7, duration_s=5, subjects_without_video=1, missing_trial_videos=1)
# 3 subjects x 2 trials for the runs that damage the input (5:1:1 of 2 trials: all go to train).
TINY = SynthConfig(subjects=3, trials=2, duration_s=5, subjects_without_video=1)
IN_PROCESS = {"num_workers": 1}


@pytest.fixture(scope="module")
def small_deap(tmp_path_factory):
    root = tmp_path_factory.mktemp("deap") / "small"
    write_synthetic_deap(root, SMALL)
    return str(root)


@pytest.fixture(scope="module")
def ingested(small_deap, tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest") / "tfrecords"
    run = example_gen.run_example_gen(small_deap, out, **IN_PROCESS)
    return run


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("deap") / "tiny"
    write_synthetic_deap(root, TINY)
    return str(root)


@pytest.fixture()
def tiny_deap(tiny_template, tmp_path):
    """A fresh copy of the tiny synthetic DEAP that a test may damage."""
    return shutil.copytree(tiny_template, tmp_path / "deap")


def read_split(data_dir, split):
    """Every decoded record of a split as NumPy arrays (inputs + context)."""
    rows = {"subject": [np.zeros(0, object)], "trial": [np.zeros(0, np.int64)]}
    dataset = tfrecord_reader.make_dataset(data_dir, split, batch_size=8, with_context=True)
    for inputs, label, context in dataset:
        for key, value in {**inputs, **context, "label": label}.items():
            rows.setdefault(key, []).append(value.numpy())
    return {key: np.concatenate(values) for key, values in rows.items()}


# -- the output ----------------------------------------------------------------------------------------------


def test_output_has_the_tfx_layout(ingested):
    out = ingested.output_dir
    assert sorted(os.listdir(out)) == sorted(
        ["Split-train", "Split-eval", "Split-test", "schema.json", "stats.json", component.METADATA_FILE]
    )
    for split in splits.SPLIT_NAMES:
        names = os.listdir(os.path.join(out, f"Split-{split}"))
        assert names and all(re.fullmatch(r"data_tfrecord-\d{5}-of-\d{5}\.gz", name) for name in names), names
    siblings = os.listdir(os.path.dirname(out))
    assert not [name for name in siblings if component.PARTIAL_MARK in name]


def test_schema_json_is_the_schema_module_at_the_trial_length(ingested):

    schema = features.read_schema(os.path.join(ingested.output_dir, "schema.json"))
    shape = features.SampleShape(num_frames=5 * 8, image_size=32, face_size=64)
    assert schema == json.loads(json.dumps(features.schema_dict(record_schema_for(shape))))


def test_records_hold_band_energies_that_the_reader_turns_into_examplegens_images(ingested, small_deap):
    """Reader images = the preprocessor's InterpolationOperator(energies) of the same trial, to 2e-5."""
    import tensorflow as tf

    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor

    files = tfrecord_reader.split_files(ingested.output_dir, "train")
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    decoded = {
        key: value.numpy()
        for key, value in features.decode_examples(
            records, tfrecord_reader.read_record_schema(ingested.output_dir)
        ).items()
    }
    dataset = DeapDataset(small_deap)
    with TrialPreprocessor() as preprocessor:
        for row in (0, len(decoded["trial"]) - 1):
            trial = dataclasses.replace(
                dataset.read_trial(decoded["subject"][row].decode(), int(decoded["trial"][row])), face_video=None
            )
            energy = preprocessor.process(trial)[0][features.EEG_BAND_ENERGY_KEY]
            images = preprocessor.interpolation_operator(trial.eeg_channels)(energy)
            np.testing.assert_array_equal(decoded["eeg_band_energy"][row], energy)
            # float32 sums of 32 products of energies up to tens of dB: rounding reaches ~1e-5 on a few pixels
            np.testing.assert_allclose(decoded["eeg"][row], images, rtol=0, atol=2e-5)


def test_output_does_not_depend_on_the_number_of_workers(small_deap, ingested, tmp_path):
    """Two worker processes write the same bytes as one (shard contents and order come from the plan)."""
    two = example_gen.run_example_gen(small_deap, tmp_path / "two", num_workers=2)
    for split in splits.SPLIT_NAMES:
        one_files = tfrecord_reader.split_files(ingested.output_dir, split)
        two_files = tfrecord_reader.split_files(two.output_dir, split)
        assert [os.path.basename(path) for path in one_files] == [os.path.basename(path) for path in two_files]
        for one_file, two_file in zip(one_files, two_files):
            with open(one_file, "rb") as first, open(two_file, "rb") as second:
                assert first.read() == second.read(), one_file
    assert not os.path.exists(os.path.join(two.output_dir, ".records"))


def test_records_stay_small_and_carry_the_schema_version(ingested):
    stats = tfrecord_reader.read_stats(ingested.output_dir)
    assert stats["records"]["schema_version"] == 2
    # 5 s trials: 40 JPEG crops + 40 x 32 x 3 energies; a 60 s trial is 12x this
    assert stats["records"]["stored_bytes_per_trial_with_face"]["max"] * 12 < 2_000_000


def test_old_output_is_refused_with_its_schema_version(ingested, tmp_path):
    old = shutil.copytree(ingested.output_dir, tmp_path / "old")
    schema = json.loads((old / "schema.json").read_text())
    del schema["schema_version"]
    (old / "schema.json").write_text(json.dumps(schema))
    with pytest.raises(features.RecordSchemaVersionError, match="schema version 1"):
        tfrecord_reader.make_dataset(old, "train", batch_size=2)


def test_metadata_records_config_hash_inputs_and_summary(ingested, small_deap):
    metadata = component.read_metadata(ingested.output_dir)
    assert metadata["component"] == "ExampleGen"
    assert metadata["inputs"]["source"] == os.path.abspath(small_deap)
    assert metadata["parameters"]["source_format"] == "deap"
    assert metadata["config_hash"] == component.config_hash("ExampleGen", metadata["parameters"])
    assert metadata["summary"]["trials"]["written"] == 21
    assert any(flag == "--direct_num_workers=1" for flag in metadata["beam_flags"])


def test_stats_count_every_trial_by_split_and_label(ingested, small_deap):
    stats = tfrecord_reader.read_stats(ingested.output_dir)
    keys = DeapDataset(small_deap).trial_keys()
    assert stats["trials"]["listed"] == len(keys) == 21
    assert stats["trials"]["written"] == 21 and stats["skipped"] == []
    assert sum(split["samples"] for split in stats["splits"].values()) == 21
    assert stats["splits"]["train"]["samples"] == 15  # 7 trials per subject: 5 / 1 / 1
    for target in features.TARGETS:
        high = sum(split["labels"][target]["1"] for split in stats["splits"].values())
        assert high == sum(key.label(target) for key in keys)
    by_trial = {(row["subject"], row["trial"]): row for row in stats["per_trial"]}
    for key in keys:
        assert by_trial[(key.subject, key.trial)]["labels"] == {"valence": key.labels[0], "arousal": key.labels[1]}


def test_stats_report_detection_rates_and_the_eeg_only_policy(ingested, small_deap):
    stats = tfrecord_reader.read_stats(ingested.output_dir)
    without_video = {(key.subject, key.trial) for key in DeapDataset(small_deap).trial_keys() if not key.has_face_video}
    assert len(without_video) == 8  # s03's 7 trials and one missing video
    assert {(row["subject"], row["trial"]) for row in stats["eeg_only_policy"]["trials_without_video"]} == without_video
    assert stats["eeg_only_policy"]["policy"] == "write"
    assert stats["trials"]["eeg_only_written"] == 8
    for row in stats["per_trial"]:
        if (row["subject"], row["trial"]) in without_video:
            assert row["eeg_only"] and row["detection_rate"] is None
        else:
            assert 0.5 < row["detection_rate"] <= 1.0
    assert stats["face_detection"]["trials_with_video"] == 13
    assert 0.8 < stats["face_detection"]["mean_detection_rate"] <= 1.0


def test_no_trial_is_in_two_splits(ingested, small_deap):
    seen = {}
    for split in splits.SPLIT_NAMES:
        records = read_split(ingested.output_dir, split)
        for subject, trial in zip(records["subject"], records["trial"]):
            key = (subject.decode(), int(trial))
            assert key not in seen, f"{key} in {seen.get(key)} and {split}"
            seen[key] = split
    assert set(seen) == {(key.subject, key.trial) for key in DeapDataset(small_deap).trial_keys()}


def test_reader_returns_the_documented_shapes_and_labels(ingested):
    dataset = tfrecord_reader.make_dataset(ingested.output_dir, "train", batch_size=4, target="arousal")
    inputs, label = next(iter(dataset))
    assert inputs["eeg"].shape == (4, 40, 32, 32, 3) and inputs["eeg"].dtype.name == "float32"
    assert inputs["face"].shape == (4, 40, 64, 64, 3) and inputs["face"].dtype.name == "uint8"
    assert inputs["face_present"].shape == (4, 40) and inputs["face_present"].dtype.name == "float32"
    assert label.shape == (4,) and label.dtype.name == "int64"
    assert sorted(inputs) == sorted(features.MODEL_INPUT_KEYS)


def test_reader_shuffles_repeats_and_counts(ingested):
    assert tfrecord_reader.count_records(ingested.output_dir, "train") == 15
    dataset = tfrecord_reader.make_dataset(
        ingested.output_dir, "train", batch_size=4, shuffle=True, repeat=True, seed=1, drop_remainder=True
    )
    batches = list(dataset.take(6))  # 24 samples > 15: only possible when repeating
    assert all(inputs["eeg"].shape[0] == 4 for inputs, _ in batches)


def test_eeg_only_records_have_no_face_and_video_records_do(ingested):
    records = read_split(ingested.output_dir, "train")
    stats = tfrecord_reader.read_stats(ingested.output_dir)
    eeg_only = {(row["subject"], row["trial"]) for row in stats["eeg_only_policy"]["trials_without_video"]}
    for index, (subject, trial) in enumerate(zip(records["subject"], records["trial"])):
        present = records["face_present"][index]
        if (subject.decode(), int(trial)) in eeg_only:
            assert present.sum() == 0 and records["face"][index].max() < 8  # black crops
        else:
            assert present.mean() > 0.5 and records["face"][index].std() > 10


def test_eeg_normalisation_comes_from_the_train_split_only(ingested):
    normalization = tfrecord_reader.read_eeg_normalization(ingested.output_dir)
    train = read_split(ingested.output_dir, "train")["eeg"].astype(np.float64).reshape(-1, 3)
    np.testing.assert_allclose(normalization["mean"], train.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(normalization["std"], train.std(axis=0), rtol=1e-5)
    assert normalization["count"] == train.shape[0] and normalization["split"] == "train"
    mean, std = tfrecord_reader.eeg_band_statistics(ingested.output_dir)
    assert mean == normalization["mean"] and std == normalization["std"]


def test_records_carry_context_and_config_hash(ingested):
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    records = read_split(ingested.output_dir, "eval")
    assert set(records["dataset"]) == {b"synthetic-deap"}
    assert set(records["config_hash"]) == {PreprocessConfig().config_hash().encode()}
    assert set(records["fps"]) == {8} and set(records["num_frames"]) == {40}
    assert np.all((records["ratings"] >= 1) & (records["ratings"] <= 9))


# -- caching and atomic output -------------------------------------------------------------------------------


def test_same_inputs_and_config_are_skipped(ingested, small_deap):
    before = os.stat(os.path.join(ingested.output_dir, "stats.json")).st_mtime_ns
    again = example_gen.run_example_gen(small_deap, ingested.output_dir, **IN_PROCESS)
    assert again.skipped
    assert os.stat(os.path.join(ingested.output_dir, "stats.json")).st_mtime_ns == before


def test_runner_options_do_not_change_the_config_hash(ingested, small_deap):
    again = example_gen.run_example_gen(
        small_deap, ingested.output_dir, num_workers=1, beam_options=["direct_runner_bundle_repeat=0"]
    )
    assert again.skipped


def test_changed_config_writes_anew(tiny_deap, tmp_path):
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    out = tmp_path / "out"
    first = example_gen.run_example_gen(tiny_deap, out, **IN_PROCESS)
    changed = example_gen.run_example_gen(
        tiny_deap, out, preprocess_config=PreprocessConfig(face_size=32), **IN_PROCESS
    )
    assert not changed.skipped and changed.metadata["config_hash"] != first.metadata["config_hash"]
    assert tfrecord_reader.read_sample_shape(out).face_size == 32
    inputs, _ = next(iter(tfrecord_reader.make_dataset(out, "train", batch_size=1)))
    assert inputs["face"].shape == (1, 40, 32, 32, 3)


def test_failed_run_leaves_previous_output_and_nothing_partial(tiny_deap, tmp_path):
    out = tmp_path / "out"
    example_gen.run_example_gen(tiny_deap, out, **IN_PROCESS)
    before = (out / "stats.json").read_text()
    corrupt_video(tiny_deap, "s02", 2)  # the rerun fails in the middle of the Beam pipeline
    with pytest.raises(example_gen.ExampleGenError):
        example_gen.run_example_gen(tiny_deap, out, on_error="stop", **IN_PROCESS)
    assert (out / "stats.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["deap", "out"]


def test_failed_first_run_leaves_no_output(tiny_deap, tmp_path):
    corrupt_video(tiny_deap, "s01", 1)
    with pytest.raises(example_gen.ExampleGenError):
        example_gen.run_example_gen(tiny_deap, tmp_path / "out", on_error="stop", **IN_PROCESS)
    assert sorted(os.listdir(tmp_path)) == ["deap"]


def test_killed_run_leaves_no_visible_output(tiny_deap, tmp_path):
    """SIGKILL in the middle of the pipeline: OUT never appears; the next run cleans up and succeeds."""
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        from emorecog.components import example_gen
        example_gen.run_example_gen({str(tiny_deap)!r}, {str(out)!r}, num_workers=1,
                                    progress=lambda done, total: print(done, flush=True))
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        if int(line) >= 1:
            break
    process.kill()
    process.wait()
    assert not out.exists()
    assert [name for name in os.listdir(tmp_path) if component.PARTIAL_MARK in name]  # the hidden staging dir
    run = example_gen.run_example_gen(tiny_deap, out, **IN_PROCESS)
    assert not run.skipped and sorted(os.listdir(tmp_path)) == ["deap", "out"]


# -- splits through the component -----------------------------------------------------------------------------


def test_subject_split_puts_each_subject_in_one_split(tiny_deap, tmp_path):
    run = example_gen.run_example_gen(
        tiny_deap, tmp_path / "out", split_config=splits.SplitConfig(mode="subject"), **IN_PROCESS
    )
    stats = tfrecord_reader.read_stats(run.output_dir)
    subjects = [set(stats["splits"][name]["subjects"]) for name in splits.SPLIT_NAMES]
    assert all(len(group) == 1 for group in subjects) and len(set.union(*subjects)) == 3
    assert stats["split_config"]["mode"] == "subject"


def test_leave_one_subject_out_fold(tiny_deap, tmp_path):
    config = splits.SplitConfig(mode="subject", fold=2, folds="loso")
    run = example_gen.run_example_gen(tiny_deap, tmp_path / "out", split_config=config, **IN_PROCESS)
    stats = tfrecord_reader.read_stats(run.output_dir)
    assert stats["splits"]["test"]["subjects"] == ["s03"] and stats["splits"]["eval"]["subjects"] == ["s01"]
    assert stats["splits"]["train"]["subjects"] == ["s02"]


# -- EEG-only and bad input ------------------------------------------------------------------------------------


def corrupt_video(root, subject, presentation_index):
    path = os.path.join(root, "face_video", subject, f"{subject}_trial{presentation_index:02d}.avi")
    with open(path, "wb") as handle:
        handle.write(b"RIFF\x00\x00\x00\x00AVI garbage" * 100)
    return path


def trial_of_video(root, subject, presentation_index):
    key = [
        key
        for key in DeapDataset(root).trial_keys()
        if key.subject == subject and key.presentation_index == presentation_index
    ]
    return key[0].trial


def shorten_video(root, subject, presentation_index, keep_frames):
    import cv2

    path = os.path.join(root, "face_video", subject, f"{subject}_trial{presentation_index:02d}.avi")
    capture = cv2.VideoCapture(path)
    frames = []
    while len(frames) < keep_frames:
        ok, frame = capture.read()
        assert ok
        frames.append(frame)
    capture.release()
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), TINY.fps, (TINY.width, TINY.height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def put_nan_in_eeg(root, subject, trial, channel=5):
    path = os.path.join(root, "data_preprocessed_python", f"{subject}.dat")
    with open(path, "rb") as handle:
        content = pickle.load(handle, encoding="latin1")  # our own synthetic file: trusted
    content["data"][trial - 1, channel, 1000:1010] = np.nan
    with open(path, "wb") as handle:
        dump_python2_pickle(content, handle)
    return path


def truncate_file(path, keep_fraction=0.5):
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: int(len(data) * keep_fraction)])
    return path


def run_skip_and_stop(root, tmp_path, **options):
    """Run with on_error='skip' (returns stats) and with 'stop' (returns the error; asserts no output)."""
    skip = example_gen.run_example_gen(root, tmp_path / "skip", on_error="skip", **IN_PROCESS, **options)
    with pytest.raises(example_gen.ExampleGenError) as stopped:
        example_gen.run_example_gen(root, tmp_path / "stop", on_error="stop", **IN_PROCESS, **options)
    assert not (tmp_path / "stop").exists()
    assert not [name for name in os.listdir(tmp_path) if component.PARTIAL_MARK in name]
    return tfrecord_reader.read_stats(skip.output_dir), str(stopped.value)


def written_keys(data_dir):
    keys = set()
    for split in splits.SPLIT_NAMES:
        records = read_split(data_dir, split)
        keys |= {(subject.decode(), int(trial)) for subject, trial in zip(records["subject"], records["trial"])}
    return keys


def test_corrupt_video_is_skipped_or_stops_naming_the_file(tiny_deap, tmp_path):
    path = corrupt_video(tiny_deap, "s01", 2)
    trial = trial_of_video(tiny_deap, "s01", 2)
    stats, error = run_skip_and_stop(tiny_deap, tmp_path)
    (record,) = stats["skipped"]
    assert (record["subject"], record["trial"]) == ("s01", trial)
    assert path in record["reason"] and f"s01 trial {trial}" in record["reason"] and path in record["files"]
    assert path in error and f"s01 trial {trial}" in error
    assert ("s01", trial) not in written_keys(tmp_path / "skip") and stats["trials"]["written"] == 5


def test_video_shorter_than_the_trial_is_skipped_or_stops(tiny_deap, tmp_path):
    path = shorten_video(tiny_deap, "s02", 1, keep_frames=20)  # 2 s of a 5 s trial
    trial = trial_of_video(tiny_deap, "s02", 1)
    stats, error = run_skip_and_stop(tiny_deap, tmp_path)
    (record,) = stats["skipped"]
    assert (record["subject"], record["trial"]) == ("s02", trial) and path in record["reason"]
    assert "short" in record["reason"].lower()
    assert path in error and f"s02 trial {trial}" in error


def test_eeg_with_nan_is_skipped_or_stops(tiny_deap, tmp_path):
    path = put_nan_in_eeg(tiny_deap, "s02", 2)
    stats, error = run_skip_and_stop(tiny_deap, tmp_path)
    (record,) = stats["skipped"]
    assert (record["subject"], record["trial"]) == ("s02", 2)
    assert path in record["reason"] and "NaN" in record["reason"]
    assert path in error and "trial 2" in error
    assert ("s02", 1) in written_keys(tmp_path / "skip")  # the subject's other trial is still written


def test_unreadable_subject_file_is_skipped_or_stops(tiny_deap, tmp_path):
    path = truncate_file(os.path.join(tiny_deap, "data_preprocessed_python", "s03.dat"))
    stats, error = run_skip_and_stop(tiny_deap, tmp_path)
    (record,) = stats["skipped"]
    assert record["subject"] == "s03" and record["trial"] is None and path in record["reason"]
    assert path in error and "s03" in error
    assert {subject for subject, _ in written_keys(tmp_path / "skip")} == {"s01", "s02"}


def test_missing_data_file_is_reported_or_stops(tiny_deap, tmp_path):
    os.remove(os.path.join(tiny_deap, "data_preprocessed_python", "s02.dat"))
    stats, error = run_skip_and_stop(tiny_deap, tmp_path)
    (record,) = stats["skipped"]
    assert record["subject"] == "s02" and "s02.dat is missing" in record["reason"]
    assert "face_video" in record["reason"] and "s02.dat is missing" in error


def test_missing_video_makes_an_eeg_only_trial_or_is_skipped_by_option(tiny_deap, tmp_path):
    os.remove(os.path.join(tiny_deap, "face_video", "s01", "s01_trial01.avi"))
    trial = trial_of_video(tiny_deap, "s01", 1)
    written = example_gen.run_example_gen(tiny_deap, tmp_path / "write", **IN_PROCESS)
    stats = tfrecord_reader.read_stats(written.output_dir)
    eeg_only = {(row["subject"], row["trial"]) for row in stats["eeg_only_policy"]["trials_without_video"]}
    assert ("s01", trial) in eeg_only and len(eeg_only) == 3  # and s03's two trials
    assert stats["trials"]["written"] == 6 and stats["trials"]["eeg_only_written"] == 3

    skipped = example_gen.run_example_gen(tiny_deap, tmp_path / "skip", skip_eeg_only=True, **IN_PROCESS)
    stats = tfrecord_reader.read_stats(skipped.output_dir)
    assert stats["eeg_only_policy"]["policy"] == "skip" and stats["trials"]["written"] == 3
    assert {(r["subject"], r["trial"]) for r in stats["skipped"]} == eeg_only
    assert all("EEG-only" in r["reason"] for r in stats["skipped"])
    assert written_keys(skipped.output_dir).isdisjoint(eeg_only)


def test_unknown_channel_name_stops_whatever_on_error_says(tiny_deap, tmp_path):
    from emorecog.datasets.deap import EEG_CHANNELS

    channels = list(EEG_CHANNELS)
    channels[7] = "T9x"
    for on_error in ("skip", "stop"):
        with pytest.raises(example_gen.ExampleGenError, match="T9x"):
            example_gen.run_example_gen(
                tiny_deap, tmp_path / on_error, on_error=on_error, eeg_channels=channels, **IN_PROCESS
            )
    assert sorted(os.listdir(tmp_path)) == ["deap"]


def test_renamed_channels_in_the_montage_are_used(tiny_deap, tmp_path):
    """A valid channel list replaces the Geneva order: swapping two names mirrors their pixels."""
    from emorecog.datasets.deap import EEG_CHANNELS

    channels = list(EEG_CHANNELS)
    channels[0], channels[16] = channels[16], channels[0]  # Fp1 <-> Fp2
    plain = example_gen.run_example_gen(tiny_deap, tmp_path / "plain", **IN_PROCESS)
    swapped = example_gen.run_example_gen(tiny_deap, tmp_path / "swapped", eeg_channels=channels, **IN_PROCESS)
    assert plain.metadata["config_hash"] != swapped.metadata["config_hash"]
    assert not np.allclose(read_split(plain.output_dir, "train")["eeg"], read_split(swapped.output_dir, "train")["eeg"])


def test_not_a_deap_directory_stops(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(example_gen.ExampleGenError, match="unknown layout"):
        example_gen.run_example_gen(tmp_path / "empty", tmp_path / "out", **IN_PROCESS)
    assert not (tmp_path / "out").exists()


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="on_error"):
        example_gen.example_gen_parameters(on_error="ignore")
    with pytest.raises(ValueError, match="records_per_shard"):
        example_gen.example_gen_parameters(records_per_shard=0)


# -- the reader's checks of the record files ------------------------------------------------------------------


@pytest.fixture()
def ingested_copy(ingested, tmp_path):
    return shutil.copytree(ingested.output_dir, tmp_path / "copy")


def test_truncated_record_file_is_named(ingested_copy):
    (path,) = glob.glob(os.path.join(ingested_copy, "Split-eval", "*.gz"))
    truncate_file(path, 0.8)
    for verify in ("size", "checksum"):
        with pytest.raises(tfrecord_reader.CorruptRecordFileError, match=re.escape(path) + ".*truncated"):
            tfrecord_reader.make_dataset(ingested_copy, "eval", batch_size=2, verify=verify)


def test_corrupt_record_file_is_named(ingested_copy):
    (path,) = glob.glob(os.path.join(ingested_copy, "Split-test", "*.gz"))
    with open(path, "r+b") as handle:
        handle.seek(os.path.getsize(path) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(tfrecord_reader.CorruptRecordFileError, match=re.escape(path) + ".*corrupt"):
        tfrecord_reader.make_dataset(ingested_copy, "test", batch_size=2)
    # Without the check TensorFlow itself fails on the bytes, but its error does not name the file.
    import tensorflow as tf

    with pytest.raises(tf.errors.DataLossError):
        list(tfrecord_reader.make_dataset(ingested_copy, "test", batch_size=2, verify="none"))


def test_missing_or_foreign_record_files_are_named(ingested_copy):
    (path,) = glob.glob(os.path.join(ingested_copy, "Split-eval", "*.gz"))
    foreign = os.path.join(ingested_copy, "Split-eval", "data_tfrecord-00001-of-00002.gz")
    shutil.copy(path, foreign)
    with pytest.raises(tfrecord_reader.CorruptRecordFileError, match="not listed"):
        tfrecord_reader.make_dataset(ingested_copy, "eval", batch_size=2)
    os.remove(path)
    with pytest.raises(tfrecord_reader.CorruptRecordFileError, match="missing"):
        tfrecord_reader.make_dataset(ingested_copy, "eval", batch_size=2)


def test_reader_names_what_is_missing(tmp_path, ingested_copy):
    with pytest.raises(FileNotFoundError, match="schema.json"):
        tfrecord_reader.make_dataset(tmp_path, "train", batch_size=1)
    with pytest.raises(FileNotFoundError, match="Split-valid"):
        tfrecord_reader.make_dataset(ingested_copy, "valid", batch_size=1)
    with pytest.raises(ValueError, match="target"):
        tfrecord_reader.make_dataset(ingested_copy, "train", batch_size=1, target="dominance")


# -- the reader on records written here from random arrays ----------------------------------------------------


def write_random_records(data_dir, shape, per_split=(5, 2, 2), shards=2, seed=0):
    """A hand-made ExampleGen-like output: records from random arrays + schema.json + a stats.json manifest."""
    import tensorflow as tf

    from emorecog.preprocessing.face_crops import encode_jpeg

    rng = np.random.default_rng(seed)
    samples = {}
    manifest = {}
    for split, count in zip(splits.SPLIT_NAMES, per_split):
        os.makedirs(os.path.join(data_dir, f"Split-{split}"))
        paths = [
            os.path.join(data_dir, f"Split-{split}", f"data_tfrecord-{i:05d}-of-{shards:05d}.gz") for i in range(shards)
        ]
        writers = [tf.io.TFRecordWriter(path, options="GZIP") for path in paths]
        for index in range(count):
            sample = {
                "eeg_band_energy": rng.normal(size=(shape.num_frames, 32, 3)).astype(np.float32),
                "face": [
                    encode_jpeg(np.full((shape.face_size, shape.face_size, 3), 40 * (index % 5), np.uint8), 95)
                    for _ in range(shape.num_frames)
                ],
                "face_present": rng.integers(0, 2, shape.num_frames),
                "subject": f"s{index % 3 + 1:02d}",
                "trial": index + 1,
                "ratings": rng.uniform(1, 9, 4),
                "label_valence": index % 2,
                "label_arousal": (index // 2) % 2,
                "fps": 8,
                "num_frames": shape.num_frames,
                "dataset": "random",
                "config_hash": "0" * 16,
            }
            samples[(split, sample["subject"], sample["trial"])] = sample
            writers[index % shards].write(features.encode_example(sample))
        for writer, path in zip(writers, paths):
            writer.close()
            manifest[os.path.relpath(path, data_dir)] = tfrecord_reader.file_manifest_entry(path)
    features.write_schema(os.path.join(data_dir, "schema.json"), record_schema_for(shape))
    with open(os.path.join(data_dir, "stats.json"), "w") as handle:
        json.dump(
            {
                "files": manifest,
                "splits": {s: {"samples": c} for s, c in zip(splits.SPLIT_NAMES, per_split)},
                "eeg_normalization": {
                    "split": "train",
                    "bands": list(features.EEG_BANDS),
                    "count": 1,
                    "mean": [0.0, 0.0, 0.0],
                    "std": [1.0, 1.0, 1.0],
                },
            },
            handle,
        )
    return samples


def test_reader_round_trips_random_records_exactly(tmp_path):
    shape = features.SampleShape(num_frames=6, image_size=8, face_size=16)
    samples = write_random_records(tmp_path, shape)
    seen = 0
    for inputs, label, context in tfrecord_reader.make_dataset(tmp_path, "train", batch_size=2, with_context=True):
        for row in range(label.shape[0]):
            sample = samples[("train", context["subject"][row].numpy().decode(), int(context["trial"][row]))]
            images = np.einsum("pc,tcb->tpb", record_schema_for(shape).interpolation_matrix, sample["eeg_band_energy"])
            np.testing.assert_allclose(inputs["eeg"][row].numpy(), images.reshape(shape.eeg_shape), atol=1e-5)
            np.testing.assert_array_equal(inputs["face_present"][row].numpy(), sample["face_present"])
            assert abs(inputs["face"][row].numpy().mean() - 40 * ((sample["trial"] - 1) % 5)) <= 2  # JPEG
            assert int(label[row]) == sample["label_valence"]
            np.testing.assert_allclose(context["ratings"][row].numpy(), sample["ratings"], rtol=1e-6)
            seen += 1
    assert seen == 5


def test_reader_interleaves_every_shard_and_keeps_last_partial_batch(tmp_path):
    shape = features.SampleShape(num_frames=3, image_size=4, face_size=8)
    write_random_records(tmp_path, shape, per_split=(7, 1, 1), shards=3)
    sizes = [label.shape[0] for _, label in tfrecord_reader.make_dataset(tmp_path, "train", batch_size=3)]
    assert sizes == [3, 3, 1]
    sizes = [
        label.shape[0]
        for _, label in tfrecord_reader.make_dataset(tmp_path, "train", batch_size=3, drop_remainder=True)
    ]
    assert sizes == [3, 3]


def test_reader_shuffle_is_seeded(tmp_path):
    shape = features.SampleShape(num_frames=2, image_size=4, face_size=8)
    write_random_records(tmp_path, shape, per_split=(12, 1, 1), shards=3)

    def order(seed):
        dataset = tfrecord_reader.make_dataset(
            tmp_path, "train", batch_size=12, shuffle=True, seed=seed, with_context=True
        )
        return next(iter(dataset))[2]["trial"].numpy().tolist()

    assert order(3) == order(3)
    assert sorted(order(3)) == list(range(1, 13)) and order(3) != list(range(1, 13))


def test_reader_rejects_records_of_another_shape(tmp_path):
    import tensorflow as tf

    write_random_records(tmp_path, features.SampleShape(num_frames=3, image_size=4, face_size=8))

    features.write_schema(os.path.join(tmp_path, "schema.json"), record_schema_for(features.SampleShape(4, 4, 8)))
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(tfrecord_reader.make_dataset(tmp_path, "train", batch_size=2))


# -- Beam runner options ---------------------------------------------------------------------------------------


def test_pipeline_flags_default_to_multiprocess_direct_runner():
    flags = beam_runner.beam_pipeline_flags()
    assert "--runner=DirectRunner" in flags and "--direct_running_mode=multi_processing" in flags
    assert f"--direct_num_workers={os.cpu_count()}" in flags or os.cpu_count() == 1
    flags = beam_runner.beam_pipeline_flags(num_workers=1, beam_options=["direct_num_workers=3", "--foo=bar"])
    assert "--direct_num_workers=3" in flags and "--foo=bar" in flags
    assert "--direct_num_workers=1" not in flags
    flags = beam_runner.beam_pipeline_flags(runner="FlinkRunner", beam_options=["flink_master=host:8081"])
    assert "--runner=FlinkRunner" in flags and not any(flag.startswith("--direct_") for flag in flags)
    with pytest.raises(ValueError, match="conflicts"):
        beam_runner.beam_pipeline_flags(runner="FlinkRunner", beam_options=["runner=SparkRunner"])


def test_direct_runner_is_the_fn_api_runner_not_prism():
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    pipeline = beam_runner.make_pipeline(beam_runner.beam_pipeline_flags())
    assert isinstance(pipeline.runner, fn_runner.FnApiRunner)


NO_NETWORK_GUARD = textwrap.dedent("""
    import json, socket, sys, urllib.request
    attempts = []

    def refuse(address):
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("localhost", "127.0.0.1", "::1", "0.0.0.0") and not str(host).startswith("/"):
            attempts.append(str(address))
            raise OSError(f"network disabled by the test: {address}")

    original_connect = socket.socket.connect
    def guarded_connect(self, address):
        refuse(address)
        return original_connect(self, address)
    socket.socket.connect = guarded_connect
    original_create = socket.create_connection
    def guarded_create(address, *args, **kwargs):
        refuse(address)
        return original_create(address, *args, **kwargs)
    socket.create_connection = guarded_create
    def no_urlopen(url, *args, **kwargs):
        attempts.append(str(getattr(url, "full_url", url)))
        raise OSError("network disabled by the test")
    urllib.request.urlopen = no_urlopen

    from emorecog.components import example_gen
    run = example_gen.run_example_gen(sys.argv[1], sys.argv[2])
    print(json.dumps({"attempts": attempts, "written": run.metadata["summary"]["trials"]["written"],
                      "prism_imported": "apache_beam.runners.portability.prism_runner" in sys.modules,
                      "flags": run.metadata["beam_flags"]}))
""")


def test_default_runner_runs_multiprocess_without_network(tiny_deap, tmp_path):
    """The default options (DirectRunner, multi-processing, a worker per core) with the network cut off."""
    result = subprocess.run(
        [sys.executable, "-c", NO_NETWORK_GUARD, str(tiny_deap), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["attempts"] == [] and not report["prism_imported"]
    assert report["written"] == 6
    assert "--direct_running_mode=multi_processing" in report["flags"] or os.cpu_count() == 1
    assert not os.path.exists(os.path.join(tmp_path, ".apache_beam"))  # no Prism binary cache was created
    assert (
        tfrecord_reader.count_records(tmp_path / "out", "train")
        + tfrecord_reader.count_records(tmp_path / "out", "eval")
        + tfrecord_reader.count_records(tmp_path / "out", "test")
        == 6
    )


# -- the command line ----------------------------------------------------------------------------------------


def test_ingest_command_writes_output_progress_and_summary(tiny_deap, tmp_path):
    from click.testing import CliRunner

    from emorecog.cli import main

    out = tmp_path / "tfrecords"
    args = [
        "ingest",
        "--deap",
        str(tiny_deap),
        "--out",
        str(out),
        "--workers",
        "1",
        "--beam-log",
        str(tmp_path / "beam.log"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert re.search(r"6/6 trials .* trials/s", result.output)
    assert re.search(r"^train\s+\d+\s+\d+\s+\d+/\d+\s+\d+/\d+\s+\d+$", result.output, re.MULTILINE)
    assert "trials written 6 of 6" in result.output
    assert tfrecord_reader.count_records(out, "train") == 6
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and "unchanged" in again.output


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_ingest_progress_is_one_line_per_tenth_in_a_log_and_one_redrawn_bar_on_a_terminal():
    from emorecog.commands.ingest import ProgressDisplay

    for stream in (io.StringIO(), _Terminal()):
        display = ProgressDisplay(stream)
        for done in (0, 0, 3, 10, 11, 20, 20):
            display.update(done, 20)
        display.finish()
        display.update(20, 20)  # the watcher's last reports while Beam stops its workers: no second bar
        text = stream.getvalue()
        counts = re.findall(r"(\d+)/20 trials \|[^|]*\| +[\d.?]+ trials/s +elapsed \d+:\d+ +ETA", text)
        assert counts[-1] == "20" and counts[0] == "0"
        if isinstance(stream, _Terminal):
            assert "\r" in text and text.count("\n") == 1  # redrawn in place, one line left at the end
        else:
            assert "\r" not in text
            assert counts == ["0", "3", "10", "20"]  # 11 is less than a tenth after 10; the last count once


def test_ingest_command_reports_bad_input_and_bad_options(tiny_deap, tmp_path):
    from click.testing import CliRunner

    from emorecog.cli import main

    path = corrupt_video(tiny_deap, "s01", 1)
    result = CliRunner().invoke(
        main, ["ingest", "--deap", str(tiny_deap), "--out", str(tmp_path / "o"), "--workers", "1", "--on-error", "stop"]
    )
    assert result.exit_code == 1 and path in result.output and "on_error='stop'" in result.output
    assert re.search(r"\(Beam log: \S+emorecog-ingest-\S+\.log\)", result.output)  # the failed run names its log
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(
        main, ["ingest", "--deap", str(tiny_deap), "--out", str(tmp_path / "o"), "--folds", "loso", "--fold", "0"]
    )
    assert result.exit_code == 2 and "mode='subject'" in result.output
    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert result.exit_code == 0 and "Split-" in result.output and "--beam-option" in result.output


def test_show_images_writes_pngs_that_differ_by_label(ingested, small_deap, tmp_path):
    from click.testing import CliRunner

    from emorecog.cli import main

    result = CliRunner().invoke(
        main,
        [
            "show-images",
            "--data",
            ingested.output_dir,
            "--out",
            str(tmp_path / "png"),
            "--ground-truth",
            os.path.join(small_deap, "ground_truth.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    pngs = sorted(os.listdir(tmp_path / "png"))
    assert {"eeg_valence.png", "eeg_arousal.png", "faces_valence.png", "faces_arousal.png"} <= set(pngs)
    for name in pngs:
        if not name.endswith(".png"):
            continue
        with Image.open(tmp_path / "png" / name) as picture:
            assert picture.format == "PNG"
            picture.load()
    summary = json.loads((tmp_path / "png" / "summary.json").read_text())
    assert summary["event_window"] == "ground truth"
    for target in features.TARGETS:
        assert summary[target]["trials"]["0"] > 0 and summary[target]["trials"]["1"] > 0
        # the planted effect lives in the event window only: the label difference is larger there
        assert summary[target]["high_minus_low_inside"] > 1.5 * summary[target]["high_minus_low_outside"]
    whole_trials = CliRunner().invoke(
        main, ["show-images", "--data", ingested.output_dir, "--out", str(tmp_path / "plain"), "--split", "eval"]
    )
    assert whole_trials.exit_code == 0, whole_trials.output
    assert "outside n/a" in whole_trials.output


def test_band_image_layout_of_an_ingest_is_the_interpolation_operators(ingested):
    from emorecog.evaluation.band_image_layout import BandImageLayout
    from emorecog.preprocessing.eeg_images import InterpolationOperator

    layout = BandImageLayout.read(ingested.output_dir)
    schema = tfrecord_reader.read_record_schema(ingested.output_dir)
    operator = InterpolationOperator(schema.electrodes, schema.shape.image_size)
    np.testing.assert_array_equal(layout.inside_hull, operator.inside_hull)
    # the operator's zero fill: exactly the masked pixels get no weight from any electrode
    outside = ~layout.inside_hull.reshape(-1)
    assert not schema.interpolation_matrix[outside].any() and schema.interpolation_matrix[~outside].any(axis=1).all()
    assert layout.electrodes == schema.electrodes and layout.value_unit == "dB relative to the trial's baseline"


def test_band_image_layout_refuses_settings_that_do_not_give_the_schemas_matrix(ingested_copy):
    from emorecog.artifact_metadata import METADATA_FILE
    from emorecog.evaluation.band_image_layout import BandImageLayout

    metadata_path = os.path.join(ingested_copy, METADATA_FILE)
    with open(metadata_path) as handle:
        metadata = json.load(handle)
    metadata["parameters"]["preprocess"]["outside_hull_fill"] = "nearest"
    with open(metadata_path, "w") as handle:
        json.dump(metadata, handle)
    with pytest.raises(ValueError, match="schema.json: the EEG interpolation matrix is not the one"):
        BandImageLayout.read(ingested_copy)
