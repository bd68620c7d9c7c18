"""Fault injection, integrity and reproducibility: corrupt bytes in record shards, a killed training run that
must end exactly where an uninterrupted one does (2 + 2 == 4 epochs), ExampleGen output that must not depend
on the number of Beam workers, and input fingerprints that must see through symbolic links.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli
from emorecog.components import component, example_gen
from emorecog.datasets import tfrecord_reader
from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

PROCESS_TIMEOUT_S = 900  # guards against a hang only
TINY = SynthConfig(subjects=3, trials=3, duration_s=4, fps=5, width=64, height=48, event_window_s=1.0, seed=11)


def assert_one_error_line(result, *fragments):
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def weights_of(path):
    """{dataset path: array} of a Keras .weights.h5 file (model and optimizer variables)."""
    arrays = {}
    with h5py.File(path) as handle:
        handle.visititems(
            lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
        )
    return arrays


# -- corrupt bytes in a shard ----------------------------------------------------------------------------------


def test_one_flipped_byte_in_a_train_shard_is_named_by_train_and_evaluate(tiny_run, tmp_path):
    from tests.tiny_pipeline import TINY_MODEL, TINY_TRAINING_FLAGS

    _, examples_dir, run_dir = tiny_run
    examples = shutil.copytree(examples_dir, tmp_path / "examples")
    shard = tfrecord_reader.split_files(examples, "train")[0]
    data = bytearray(open(shard, "rb").read())
    data[len(data) // 2] ^= 0x40  # same size: only the checksum can tell
    open(shard, "wb").write(bytes(data))
    config = tmp_path / "model.json"
    config.write_text(json.dumps(TINY_MODEL))
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(examples),
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "1",
            "--config",
            str(config),
            *TINY_TRAINING_FLAGS,
        ],
    )
    assert_one_error_line(result, f"{shard} is corrupt: its SHA-256 differs")
    run = shutil.copytree(run_dir, tmp_path / "evaluated", ignore=shutil.ignore_patterns("evaluation"))
    result = CliRunner().invoke(cli, ["evaluate", "--run", str(run), "--data", str(examples)])
    assert_one_error_line(result, f"{shard} is corrupt")


@pytest.mark.parametrize("missing", ["schema.json", "stats.json"])
def test_train_and_evaluate_name_a_missing_schema_or_stats_file(tiny_run, tmp_path, missing):
    _, examples_dir, run_dir = tiny_run
    examples = shutil.copytree(examples_dir, tmp_path / "examples")
    os.remove(examples / missing)
    result = CliRunner().invoke(cli, ["train", "--data", str(examples), "--out", str(tmp_path / "run")])
    assert_one_error_line(result, f"{examples / missing} is missing: is {examples} an ExampleGen output?")
    assert not (tmp_path / "run").exists()
    result = CliRunner().invoke(cli, ["evaluate", "--run", run_dir, "--data", str(examples)])
    assert_one_error_line(result, f"{examples / missing} is missing")


def test_train_with_a_deap_folder_as_data_is_one_clear_error(tiny_run, tmp_path):
    deap_dir, _, _ = tiny_run
    result = CliRunner().invoke(cli, ["train", "--data", deap_dir, "--out", str(tmp_path / "run")])
    assert_one_error_line(result, "schema.json is missing", "an ExampleGen output?")


# -- resume: a killed run ends where a straight one does -------------------------------------------------------


def test_a_run_killed_after_2_of_4_epochs_resumes_to_the_straight_runs_weights(tiny_run, tmp_path):
    from emorecog.components.trainer import run_trainer
    from tests.tiny_pipeline import TINY_MODEL, TINY_TRAINING_FLAGS, tiny_model_config, tiny_training_config

    _, examples_dir, _ = tiny_run
    straight = tmp_path / "straight"
    run_trainer(examples_dir, straight, tiny_model_config(), tiny_training_config(epochs=4), log=lambda line: None)

    config = tmp_path / "model.json"
    config.write_text(json.dumps(TINY_MODEL))
    resumed = tmp_path / "resumed"
    command = [
        sys.executable,
        "-m",
        "emorecog.cli",
        "train",
        "--data",
        examples_dir,
        "--out",
        str(resumed),
        "--epochs",
        "4",
        "--config",
        str(config),
        *TINY_TRAINING_FLAGS,
    ]
    state_file = resumed / "checkpoints" / "training_state.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (state_file.exists() and json.loads(state_file.read_text())["epochs_done"] >= 2):
            assert process.poll() is None, "training ended before it could be killed"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_after = json.loads(state_file.read_text())["epochs_done"]
    assert 2 <= killed_after < 4 and not (resumed / "model").exists()

    finished = subprocess.run(command, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"resuming {resumed} after epoch {killed_after}" in finished.stdout
    expected = weights_of(straight / "checkpoints" / "epoch-0004.weights.h5")
    actual = weights_of(resumed / "checkpoints" / "epoch-0004.weights.h5")
    assert sorted(actual) == sorted(expected) and any(name.startswith("optimizer") for name in expected)
    different = [name for name in expected if not np.array_equal(expected[name], actual[name])]
    assert different == []
    history = [json.loads((run / "model" / "history.json").read_text()) for run in (straight, resumed)]
    assert [entry["loss"] for entry in history[0]] == [entry["loss"] for entry in history[1]]


# -- ExampleGen's output does not depend on the number of workers ----------------------------------------------


def test_one_and_two_workers_write_the_same_records_in_the_same_shards(tmp_path):
    deap = write_synthetic_deap(tmp_path / "deap", TINY)
    outputs = {}
    for workers in (1, 2):
        run = example_gen.run_example_gen(deap, tmp_path / f"out-{workers}", num_workers=workers, records_per_shard=2)
        assert f"--direct_num_workers={workers}" in run.metadata["beam_flags"]
        outputs[workers] = run
    files = {
        workers: {
            os.path.relpath(path, run.output_dir): open(path, "rb").read()
            for path in glob.glob(os.path.join(run.output_dir, "Split-*", "*.gz"))
        }
        for workers, run in outputs.items()
    }
    assert len(files[1]) > 3 and files[1] == files[2]
    assert outputs[1].metadata["config_hash"] == outputs[2].metadata["config_hash"]
    stats = [tfrecord_reader.read_stats(run.output_dir) for run in outputs.values()]
    assert stats[0]["files"] == stats[1]["files"]
    import tensorflow as tf

    keys = [(row["subject"], row["trial"]) for row in stats[0]["per_trial"] if row["split"] == "train"]
    shards = tfrecord_reader.split_files(outputs[1].output_dir, "train")
    stored = [
        tf.train.Example.FromString(record.numpy()).features.feature
        for record in tf.data.TFRecordDataset(shards, compression_type="GZIP")
    ]
    assert [
        (feature["subject"].bytes_list.value[0].decode(), feature["trial"].int64_list.value[0]) for feature in stored
    ] == sorted(keys)  # shard after shard, sorted by (subject, trial)


# -- fingerprints follow symbolic links ------------------------------------------------------------------------


def test_a_video_replaced_behind_a_symlinked_folder_changes_the_fingerprint(tmp_path):
    deap = write_synthetic_deap(tmp_path / "deap", TINY)
    elsewhere = tmp_path / "videos-s01"
    shutil.move(os.path.join(deap, "face_video", "s01"), elsewhere)
    os.symlink(elsewhere, os.path.join(deap, "face_video", "s01"))
    before = component.fingerprint_path(deap)
    assert component.fingerprint_path(deap) == before
    video = sorted(elsewhere.iterdir())[0]
    video.write_bytes(video.read_bytes()[:-100])  # a replaced video behind the link
    assert component.fingerprint_path(deap) != before

    retarget = component.fingerprint_path(deap)
    copy = shutil.copytree(elsewhere, tmp_path / "copy", copy_function=shutil.copy2)
    os.remove(os.path.join(deap, "face_video", "s01"))
    os.symlink(copy, os.path.join(deap, "face_video", "s01"))  # same files, another target
    assert component.fingerprint_path(deap) != retarget


def test_fingerprints_survive_link_cycles_and_dangling_links(tmp_path):
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "file.bin").write_bytes(b"x")
    os.symlink(folder, folder / "sub" / "loop")  # a cycle
    os.symlink(tmp_path / "missing", folder / "dangling")
    first = component.fingerprint_path(folder)
    assert component.fingerprint_path(folder) == first
    os.remove(folder / "dangling")
    assert component.fingerprint_path(folder) != first
