"""Shared test set-up: quiet TensorFlow/MediaPipe start-up and keep tests on the CPU."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


import shutil  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(deap_dir, examples_dir, run_dir) of the tiny synthetic pipeline (`tests/tiny_pipeline.py`): synthetic
    DEAP -> ExampleGen -> Trainer, real components at a small size, built once per session."""
    from tests.tiny_pipeline import shared_tiny_run

    return shared_tiny_run(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_synthetic_deap(tmp_path_factory):
    """A tiny synthetic DEAP directory (2 subjects x 2 trials of 4 s, videos 64 x 48 at 5 fps), written once
    per session. Copy it (`damageable_deap`) before changing anything in it."""
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

    config = SynthConfig(subjects=2, trials=2, duration_s=4, fps=5, width=64, height=48, event_window_s=1.0, seed=5)
    return write_synthetic_deap(tmp_path_factory.mktemp("deap") / "tiny", config)


@pytest.fixture()
def damageable_deap(tiny_synthetic_deap, tmp_path):
    """A fresh copy of `tiny_synthetic_deap` under the test's own temporary folder, as a str."""
    return str(shutil.copytree(tiny_synthetic_deap, tmp_path / "deap"))
