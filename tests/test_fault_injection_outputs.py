"""Fault injection, output folders: nothing lost, nothing shared.

Every command that writes refuses an output that overlaps an input or holds files emorecog did not write,
replaces only what it wrote itself, and never shares an output with a concurrent process (two real
processes race here); killed writers leave nothing visible and nothing that blocks the next run. Each
refusal is one "Error:" line and leaves every file where it was.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
from click.testing import CliRunner

from emorecog.cli import main as cli
from emorecog.components import component, example_gen
from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap
from emorecog.output_folders import FOLDER_MARKER_FILE, OutputBusyError, OutputFolderError, claim_folder
from emorecog.output_lock import OutputLock

PROCESS_TIMEOUT_S = 600  # guards against a hang only


@pytest.fixture()
def deap(damageable_deap):
    return damageable_deap


def thesis(folder):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "thesis.txt")
    with open(path, "w") as handle:
        handle.write("four years of work")
    return path


def assert_one_error_line(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def tree(folder):
    """{relative path: bytes} of every file under `folder`."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, folder)] = handle.read()
    return found


# -- ingest ----------------------------------------------------------------------------------------------------


def test_ingest_into_a_folder_with_a_users_file_is_refused_and_keeps_it(deap, tmp_path):
    out = tmp_path / "out"
    kept = thesis(out)
    result = CliRunner().invoke(cli, ["ingest", "--deap", str(deap), "--out", str(out), "--workers", "1"])
    assert_one_error_line(result, str(out), "already holds files emorecog did not write (thesis.txt)")
    assert open(kept).read() == "four years of work" and os.listdir(out) == ["thesis.txt"]


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_ingest_output_overlapping_the_dataset_is_refused_and_the_dataset_survives(deap, tmp_path, where):
    before = tree(deap)
    out = {"same": deap, "inside": os.path.join(deap, "tfrecords"), "contains": tmp_path}[where]
    relation = {"same": "is the input", "inside": "lies inside the input", "contains": "contains the input"}[where]
    result = CliRunner().invoke(cli, ["ingest", "--deap", str(deap), "--out", str(out), "--workers", "1"])
    assert_one_error_line(result, relation, str(deap))
    assert tree(deap) == before
    assert not os.path.exists(os.path.join(deap, "tfrecords"))


def test_a_symbolic_link_does_not_hide_the_overlap(deap, tmp_path):
    os.symlink(deap, tmp_path / "alias")
    with pytest.raises(OutputFolderError, match="is the input"):
        example_gen.run_example_gen(deap, tmp_path / "alias", num_workers=1)


def test_an_emorecog_output_with_a_users_file_is_not_replaced(tiny_run, tmp_path):
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    deap_dir, examples_dir, _ = tiny_run
    copy = shutil.copytree(examples_dir, tmp_path / "examples")
    kept = thesis(os.path.join(copy, "Split-train"))
    with pytest.raises(OutputFolderError, match=r"also holds files it did not write \(Split-train/thesis.txt\)"):
        example_gen.run_example_gen(deap_dir, copy, preprocess_config=PreprocessConfig(fps=2), num_workers=1)
    assert os.path.isfile(kept)
    assert component.read_metadata(copy)["parameters"]["preprocess"]["fps"] == 4  # the old output, untouched


def test_another_components_output_is_not_replaced(tiny_run, tmp_path):
    deap_dir, _, run_dir = tiny_run
    model = shutil.copytree(os.path.join(run_dir, "model"), tmp_path / "model")
    with pytest.raises(OutputFolderError, match="is the output of emorecog's Trainer, not of ExampleGen"):
        example_gen.run_example_gen(deap_dir, model, num_workers=1)


# -- train, synth, show-images, cv, pipeline, predict ----------------------------------------------------------


def test_train_refuses_foreign_run_folders_and_a_foreign_model_subfolder(tiny_run, tmp_path):
    from tests.tiny_pipeline import TINY_MODEL, TINY_TRAINING_FLAGS

    _, examples_dir, run_dir = tiny_run
    config = tmp_path / "model.json"
    config.write_text(json.dumps(TINY_MODEL))
    arguments = [
        "train",
        "--data",
        examples_dir,
        "--epochs",
        "1",
        "--config",
        str(config),
        *TINY_TRAINING_FLAGS,
        "--out",
    ]

    foreign = tmp_path / "foreign"
    kept = thesis(foreign)
    assert_one_error_line(CliRunner().invoke(cli, arguments + [str(foreign)]), "thesis.txt")
    assert os.listdir(foreign) == ["thesis.txt"] and os.path.isfile(kept)

    assert_one_error_line(CliRunner().invoke(cli, arguments + [examples_dir]), "is the input")
    assert_one_error_line(
        CliRunner().invoke(cli, arguments + [os.path.join(examples_dir, "run")]), "lies inside the input"
    )

    run = shutil.copytree(run_dir, tmp_path / "run")  # an emorecog run directory ...
    shutil.rmtree(run / "model")
    kept = thesis(run / "model")  # ... whose model/ the user made
    assert_one_error_line(CliRunner().invoke(cli, arguments + [str(run)]), "model", "thesis.txt")
    assert os.listdir(run / "model") == ["thesis.txt"]


def test_synth_force_replaces_only_its_own_directory(tmp_path):
    arguments = [
        "synth",
        "--subjects",
        "1",
        "--trials",
        "1",
        "--duration",
        "3",
        "--fps",
        "4",
        "--width",
        "32",
        "--height",
        "32",
        "--event-window",
        "1",
        "--workers",
        "1",
        "--force",
        "--out",
    ]
    foreign = tmp_path / "foreign"
    kept = thesis(foreign)
    assert_one_error_line(CliRunner().invoke(cli, arguments + [str(foreign)]), "thesis.txt")
    assert os.listdir(foreign) == ["thesis.txt"] and os.path.isfile(kept)

    ours = tmp_path / "synthetic"
    assert CliRunner().invoke(cli, arguments + [str(ours)]).exit_code == 0
    assert FOLDER_MARKER_FILE in os.listdir(ours)
    assert CliRunner().invoke(cli, arguments + [str(ours)]).exit_code == 0  # its own: replaced
    kept = thesis(ours / "face_video")
    assert_one_error_line(CliRunner().invoke(cli, arguments + [str(ours)]), "face_video/thesis.txt")
    assert os.path.isfile(kept)


def test_show_images_refuses_to_write_into_its_input(tiny_run):
    _, examples_dir, _ = tiny_run
    before = sorted(os.listdir(examples_dir))
    result = CliRunner().invoke(cli, ["show-images", "--data", examples_dir, "--out", examples_dir])
    assert_one_error_line(result, "is the input")
    assert sorted(os.listdir(examples_dir)) == before


def test_pipeline_cv_and_demo_roots_must_be_new_empty_or_emorecogs(deap, tmp_path):
    from emorecog.models.model_config import ModelConfig
    from emorecog.pipelines.local_pipeline import run_local_pipeline
    from emorecog.training.training_config import TrainingConfig

    root = tmp_path / "root"
    kept = thesis(root)
    with pytest.raises(OutputFolderError, match="thesis.txt"):
        run_local_pipeline(deap, root, ModelConfig(), TrainingConfig(epochs=1), num_workers=1)
    assert_one_error_line(CliRunner().invoke(cli, ["cv", "--deap", str(deap), "--out", str(root)]), "thesis.txt")
    assert_one_error_line(CliRunner().invoke(cli, ["demo", "--workdir", str(root)]), "thesis.txt")
    assert os.listdir(root) == ["thesis.txt"] and os.path.isfile(kept)
    claim_folder(tmp_path / "new", "emorecog test")
    claim_folder(tmp_path / "new", "emorecog test")  # emorecog's own: accepted again


# -- concurrency: two real processes ---------------------------------------------------------------------------

BLOCKED_INGEST = textwrap.dedent("""
    import os, sys, time
    from emorecog.components import example_gen

    deap, out, release = sys.argv[1:4]

    def progress(done, total):
        print("running", flush=True)
        while not os.path.exists(release):  # hold the output until the test says so
            time.sleep(0.05)

    example_gen.run_example_gen(deap, out, num_workers=1, progress=progress)
    print("finished", flush=True)
""")


def test_a_second_ingest_into_a_busy_output_stops_and_the_first_finishes(deap, tmp_path):
    out, release = tmp_path / "out", tmp_path / "release"
    first = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_INGEST, str(deap), str(out), str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().strip() == "running", first.stderr.read()
        second = subprocess.run(
            [sys.executable, "-m", "emorecog.cli", "ingest", "--deap", str(deap), "--out", str(out), "--workers", "1"],
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_S,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert second.stderr.count("\n") == 1 and second.stderr.startswith("Error: ")
        assert "is being written by another emorecog process (pid" in second.stderr
        release.touch()
        assert first.wait(timeout=PROCESS_TIMEOUT_S) == 0, first.stderr.read()
    finally:
        release.touch()
        first.kill()
        first.wait()
    assert component.read_metadata(out)["summary"]["trials"]["written"] == 4
    assert sorted(os.listdir(tmp_path)) == ["deap", "out", "release"]  # no staging, no lock left


def test_a_killed_holder_never_blocks_the_next_run(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import time
        from emorecog.output_lock import OutputLock
        with OutputLock({str(tmp_path / "out")!r}):
            print("locked", flush=True)
            time.sleep(600)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputBusyError, match=f"pid {holder.pid}"):
            OutputLock(tmp_path / "out").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert os.path.exists(tmp_path / ".out.lock")  # left by the killed process ...
    with OutputLock(tmp_path / "out") as lock:  # ... and no obstacle: the kernel released the lock
        assert lock.held
    assert not os.path.exists(tmp_path / ".out.lock")


def test_a_killed_synth_leaves_nothing_visible_and_the_rerun_cleans_up(tmp_path):
    out = tmp_path / "synthetic"
    script = textwrap.dedent(f"""
        import time
        from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

        def progress(done, total):
            print("writing", flush=True)
            time.sleep(600)

        write_synthetic_deap({str(out)!r}, SynthConfig(subjects=2, trials=2, duration_s=3, fps=4, width=32, height=32,
                                                      event_window_s=1.0), progress=progress)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not out.exists()
    assert [name for name in os.listdir(tmp_path) if ".partial-" in name]
    write_synthetic_deap(
        out, SynthConfig(subjects=1, trials=1, duration_s=3, fps=4, width=32, height=32, event_window_s=1.0)
    )
    assert sorted(os.listdir(tmp_path)) == ["synthetic"]


def test_the_lock_file_is_replaced_safely_between_holders(tmp_path):
    """A holder removes its lock file on release; a process that opened the old file must not think it holds
    the lock: it locks the current file instead."""
    first = OutputLock(tmp_path / "out").acquire()
    stale = os.open(first.lock_path, os.O_RDWR)
    first.release()
    second = OutputLock(tmp_path / "out").acquire()
    import fcntl

    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the removed file: lockable, but not the lock
    with pytest.raises(OutputBusyError):
        OutputLock(tmp_path / "out").acquire()
    os.close(stale)
    second.release()


def test_ingest_leaves_no_empty_log_behind(deap, tmp_path, monkeypatch):
    """The default Beam log is made in the temporary folder; one nothing was written to goes again."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    result = CliRunner().invoke(cli, ["ingest", "--deap", str(deap), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    for name in os.listdir(temporary):
        if name.startswith("emorecog-ingest-"):  # kept only with something in it, and named to the user
            assert os.path.getsize(temporary / name) > 0 and f"Beam log: {temporary / name}" in result.output
    if "Beam log:" not in result.output:
        assert not [name for name in os.listdir(temporary) if name.startswith("emorecog-ingest-")]


def test_the_beam_log_never_goes_into_the_dataset(deap, tmp_path):
    before = sorted(os.listdir(deap))
    result = CliRunner().invoke(
        cli, ["ingest", "--deap", deap, "--out", str(tmp_path / "out"), "--beam-log", os.path.join(deap, "beam.log")]
    )
    assert_one_error_line(result, "lies inside the input")
    assert sorted(os.listdir(deap)) == before
