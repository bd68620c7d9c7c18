"""Fault injection, the command line: every broken or hostile input to every command ends in exactly one
"Error: ..." line naming the file, trial or field (exit status 1), never a traceback; `--debug` shows the
traceback instead.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli
from emorecog.user_errors import one_line_message


@pytest.fixture()
def deap(damageable_deap):
    return damageable_deap


def error_line(arguments):
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    return errors[0]


def subject_file(deap, subject="s01"):
    return os.path.join(deap, "data_preprocessed_python", f"{subject}.dat")


def test_a_folder_named_like_a_subject_file(deap):
    os.remove(subject_file(deap))
    os.mkdir(subject_file(deap))
    line = error_line(["inspect", "--deap", deap])
    assert f"{subject_file(deap)}: not a readable DEAP pickle" in line and "is a directory" in line


def test_a_dangling_symbolic_link_as_subject_file(deap, tmp_path):
    os.remove(subject_file(deap))
    os.symlink(tmp_path / "gone.dat", subject_file(deap))
    assert "dangling symbolic link to" in error_line(["inspect", "--deap", deap])


def test_a_fifo_as_ratings_csv(deap):
    csv_path = os.path.join(deap, "metadata_csv", "participant_ratings.csv")
    os.remove(csv_path)
    os.mkfifo(csv_path)
    line = error_line(["inspect", "--deap", deap])
    assert "participant_ratings.csv: cannot be read" in line and "FIFO" in line


def test_a_malicious_pickle_stops_ingest_with_one_line(deap, tmp_path):
    marker = tmp_path / "PWNED"
    with open(subject_file(deap, "s02"), "wb") as handle:
        handle.write(pickle.dumps({"data": os.system, "labels": np.ones((1, 4))}, protocol=2))
    line = error_line(["ingest", "--deap", deap, "--out", str(tmp_path / "out"), "--workers", "1"])
    assert "s02.dat" in line and "refused global 'posix.system'" in line and "whatever on_error says" in line
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_export_evaluate_show_images_and_predict_name_what_is_missing(deap, tmp_path):
    empty_run = tmp_path / "run"
    empty_run.mkdir()
    assert "model/model.keras not found: train first" in error_line(
        ["export", "--run", str(empty_run), "--base", str(tmp_path / "saved")]
    )
    assert "model not found: train first" in error_line(["evaluate", "--run", str(empty_run), "--data", deap])
    assert "an ExampleGen output?" in error_line(["show-images", "--data", deap, "--out", str(tmp_path / "p")])
    assert "neither a SavedModel" in error_line(
        ["predict", "--model", str(empty_run), "--deap", deap, "--subject", "s01", "--trial", "1"]
    )


def test_debug_shows_the_traceback_instead(deap):
    os.remove(subject_file(deap))
    os.mkdir(subject_file(deap))
    result = subprocess.run(
        [sys.executable, "-m", "emorecog.cli", "--debug", "inspect", "--deap", deap],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "DeapFormatError" in result.stderr
    plain = subprocess.run(
        [sys.executable, "-m", "emorecog.cli", "inspect", "--deap", deap], capture_output=True, text=True, timeout=600
    )
    assert plain.returncode == 1 and plain.stderr.startswith("Error: ") and plain.stderr.count("\n") == 1


def test_one_line_messages():
    assert one_line_message(ValueError("a\nb  c")) == "a b c"
    assert (
        one_line_message(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    )
    internal = one_line_message(TypeError("unhashable type: 'list'"))
    assert internal.startswith("internal error (TypeError: unhashable type") and "--debug" in internal
    assert len(one_line_message(ValueError("x" * 10_000))) < 2100


def test_tensorflow_errors_keep_only_what_a_user_can_act_on():
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        tf.debugging.assert_equal(tf.constant(1), tf.constant(2), message="feature 'eeg' does not hold 4 values")
    assert one_line_message(caught.value) == "feature 'eeg' does not hold 4 values"
