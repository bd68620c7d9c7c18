"""The TFX-style component runner: caching by config and inputs, atomic outputs."""

import json
import os

import pytest

from emorecog.components import component

SPEC = component.ComponentSpec(name="Copy", parameters=("suffix",), inputs=("source",), outputs=("copied.txt",))


def copy_executor(parameters, inputs, output_dir):
    with open(inputs["source"]) as source, open(os.path.join(output_dir, "copied.txt"), "w") as target:
        target.write(source.read() + parameters["suffix"])
    return {"summary": {"characters": os.path.getsize(os.path.join(output_dir, "copied.txt"))}}


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "source.txt"
    path.write_text("hello")
    return path


def test_first_run_writes_output_and_metadata(tmp_path, source):
    run = component.run_component(SPEC, copy_executor, {"suffix": "!"}, {"source": source}, tmp_path / "out")
    assert not run.skipped
    assert open(run.artifact("copied.txt")).read() == "hello!"
    metadata = json.loads((tmp_path / "out" / component.METADATA_FILE).read_text())
    assert metadata["component"] == "Copy"
    assert metadata["parameters"] == {"suffix": "!"}
    assert metadata["summary"] == {"characters": 6}


def test_same_config_and_inputs_are_skipped(tmp_path, source):
    component.run_component(SPEC, copy_executor, {"suffix": "!"}, {"source": source}, tmp_path / "out")
    again = component.run_component(SPEC, copy_executor, {"suffix": "!"}, {"source": source}, tmp_path / "out")
    assert again.skipped


def test_changed_config_or_input_writes_anew(tmp_path, source):
    component.run_component(SPEC, copy_executor, {"suffix": "!"}, {"source": source}, tmp_path / "out")
    changed = component.run_component(SPEC, copy_executor, {"suffix": "?"}, {"source": source}, tmp_path / "out")
    assert not changed.skipped
    assert open(changed.artifact("copied.txt")).read() == "hello?"
    source.write_text("bye, longer")
    rerun = component.run_component(SPEC, copy_executor, {"suffix": "?"}, {"source": source}, tmp_path / "out")
    assert not rerun.skipped
    assert open(rerun.artifact("copied.txt")).read() == "bye, longer?"


def test_failed_run_leaves_previous_output_and_no_partial_directory(tmp_path, source):
    component.run_component(SPEC, copy_executor, {"suffix": "!"}, {"source": source}, tmp_path / "out")

    def failing_executor(parameters, inputs, output_dir):
        with open(os.path.join(output_dir, "copied.txt"), "w") as handle:
            handle.write("half")
        raise RuntimeError("killed half way")

    with pytest.raises(RuntimeError, match="half way"):
        component.run_component(SPEC, failing_executor, {"suffix": "?"}, {"source": source}, tmp_path / "out")
    assert open(tmp_path / "out" / "copied.txt").read() == "hello!"
    assert sorted(os.listdir(tmp_path)) == ["out", "source.txt"]


def test_first_run_failure_leaves_nothing_visible(tmp_path, source):
    def failing_executor(parameters, inputs, output_dir):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        component.run_component(SPEC, failing_executor, {"suffix": "!"}, {"source": source}, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [name for name in os.listdir(tmp_path) if name.startswith(".out")] == []


def test_executor_must_write_declared_outputs(tmp_path, source):
    with pytest.raises(RuntimeError, match="copied.txt"):
        component.run_component(SPEC, lambda p, i, o: None, {"suffix": "!"}, {"source": source}, tmp_path / "out")


def test_parameters_must_match_the_spec(tmp_path, source):
    with pytest.raises(ValueError, match="suffix"):
        component.run_component(SPEC, copy_executor, {"sufix": "!"}, {"source": source}, tmp_path / "out")


def test_missing_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        component.run_component(
            SPEC, copy_executor, {"suffix": "!"}, {"source": tmp_path / "nowhere"}, tmp_path / "out"
        )
