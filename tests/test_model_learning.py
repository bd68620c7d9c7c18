"""The model learns *where* to look as well as *what* a frame means, and stops when it has seen enough.

The label is readable only inside a short window placed at random in each sample (`PlantedWindowTask`,
1/16 to 1/8 of the frames); every other frame is noise with the same statistics for both classes. With the
"stripes" pattern the window stands out in coarse statistics but its label does not: the skim can say
where, only a glimpse can say what. A policy that looks at the same frames in every sample sees the window
only by chance, so these tests pass only if the search works: the skim must point the policy at the
window, and the stop must end the sample there.
"""

import pytest

from emorecog.models.builder import build_model
from emorecog.models.model_config import ModelConfig
from emorecog.testing.planted_window_task import PlantedWindowTask
from emorecog.training.training_config import TrainingConfig


def run_learning(task, config, num_train, max_epochs, seed=0, stop_at_accuracy=None):
    train = task.generate(num_train, seed=100 * seed)
    validation = task.generate(96, seed=100 * seed + 1)
    test_inputs, test_labels, test_windows = task.generate(128, seed=100 * seed + 2)
    model = build_model(config, task.sample_shape, task.band_mean, task.band_std)
    history = task.fit_and_select(
        model, train, validation, max_epochs, TrainingConfig().batch_size, seed=seed, stop_at_accuracy=stop_at_accuracy
    )
    score = task.score(model.predict(test_inputs, batch_size=64, verbose=0), test_labels, test_windows)
    return score, history


def test_glimpse_model_finds_a_randomly_placed_window():
    """Small and fast: within a few epochs the policy searches, finds the window and stops early (the
    selected epoch is the most accurate on validation, ties to fewer glimpses, so training goes on after
    accuracy saturates for the stop to learn that one or two window frames are enough)."""
    task = PlantedWindowTask(num_frames=128, window_length=8, window_length_max=16, pattern="stripes")
    config = ModelConfig(seed=0)
    score, history = run_learning(task, config, num_train=288, max_epochs=8)
    assert score["accuracy"] >= 0.9, (score, history)
    assert score["inside_window_fraction"] >= 3 * score["chance_inside_window_fraction"], (score, history)
    assert score["samples_with_a_window_glimpse"] >= 0.9, (score, history)
    assert score["mean_glimpses"] <= 10, (score, history)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glimpse_model_meets_the_selective_focus_goals(seed):
    """The benchmark's goals at T = 480 (60 s at 8 fps), window 1/16 to 1/8 of T anywhere: >= 95 % held-out
    accuracy, >= 60 % of glimpses inside the window, >= 95 % of samples glimpse it, <= 10 glimpses of N_max 40."""
    task = PlantedWindowTask(num_frames=480, window_length=30, window_length_max=60, pattern="stripes")
    score, history = run_learning(task, ModelConfig(seed=seed), num_train=384, max_epochs=16, seed=seed)
    assert score["accuracy"] >= 0.95, (score, history)
    assert score["inside_window_fraction"] >= 0.6, (score, history)
    assert score["samples_with_a_window_glimpse"] >= 0.95, (score, history)
    assert score["mean_glimpses"] <= 10, (score, history)


def synthetic_deap_pipeline(tmp_path, synth_config, preprocess_config, training_config):
    """synth -> ExampleGen (Beam) -> Trainer -> Evaluator on the test split; returns metrics.json."""
    import json
    import os

    from emorecog.datasets.synthetic.deap import write_synthetic_deap
    from emorecog.pipelines.local_pipeline import run_local_pipeline

    deap_dir = str(tmp_path / "deap")
    write_synthetic_deap(deap_dir, synth_config)
    result = run_local_pipeline(
        deap_dir,
        str(tmp_path / "root"),
        ModelConfig(),
        training_config,
        preprocess_config=preprocess_config,
        num_workers=1,
        log=lambda line: None,
    )
    with open(os.path.join(result.evaluator.output_dir, "metrics.json")) as handle:
        return json.load(handle)


def test_default_model_searches_the_synthetic_deap_eeg(tmp_path):
    """Small: EEG-only synthetic DEAP (no videos: quick to write and ingest), 120 trials of 30 s with one event
    of 3-5 s at a random place (10-17 % of the trial), the default model for 16 epochs. The glimpses go to the
    event far more often than chance and the test split is classified well above the majority class."""
    from emorecog.datasets.synthetic.deap import SynthConfig
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig
    from emorecog.training.training_config import TrainingConfig

    metrics = synthetic_deap_pipeline(
        tmp_path,
        SynthConfig(
            subjects=6,
            trials=20,
            duration_s=30,
            difficulty=0.1,
            event_window_s=3.0,
            event_window_max_s=5.0,
            subjects_without_video=6,
        ),
        PreprocessConfig(fps=4),
        TrainingConfig(epochs=16, image_summary_samples=0),
    )
    planted = metrics["planted_window"]
    assert metrics["accuracy"] >= metrics["majority_baseline"]["accuracy"] + 0.15, metrics
    assert planted["glimpses_inside_fraction"] >= 2 * planted["chance_fraction"], planted
    assert planted["trials_glimpsed_fraction"] >= 0.8, planted


@pytest.mark.slow
def test_default_training_on_the_synthetic_deap_meets_the_goal(tmp_path):
    """The issue's goal: the default `emorecog train` (ModelConfig(), 20 epochs) on a synthetic DEAP with random
    3-5 s events (10 subjects x 20 trials of 20 s, video, default difficulty, ingested at the default 8 fps)
    reaches test accuracy >= 0.9 and does not trail the classical baseline by more than 0.05."""
    from emorecog.datasets.synthetic.deap import SynthConfig
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig
    from emorecog.training.training_config import TrainingConfig

    metrics = synthetic_deap_pipeline(
        tmp_path,
        SynthConfig(subjects=10, trials=20, event_window_s=3.0, event_window_max_s=5.0),
        PreprocessConfig(),
        TrainingConfig(),
    )
    assert metrics["accuracy"] >= 0.9, metrics
    assert metrics["accuracy"] >= metrics["classical_baseline"]["accuracy"] - 0.05, metrics


def test_stripes_show_where_to_coarse_statistics_but_not_what():
    """The planted "stripes" task is fair to the claim that the glimpses add something: the skim's frame
    statistics and the classical baseline's features move inside the window but do not tell the classes apart."""
    import numpy as np

    from emorecog.evaluation import classical_baseline
    from emorecog.layers.trial_skim import TrialSkim

    task = PlantedWindowTask(num_frames=64, window_length=16, pattern="stripes", missing_face_rate=0.0)
    inputs, labels, windows = task.generate(200, seed=0)
    skim = TrialSkim(8, 4, band_mean=task.band_mean, band_std=task.band_std)
    statistics = np.array(skim.frame_statistics(inputs["eeg"], inputs["face"], inputs["face_present"]))
    inside = np.zeros(statistics.shape[:2], bool)
    for row, (first, end) in enumerate(windows):
        inside[row, first:end] = True
    high, low = (statistics[(labels == label)[:, None] & inside].mean(axis=0) for label in (1, 0))
    outside = statistics[~inside].mean(axis=0)
    assert np.abs((high + low) / 2 - outside).max() > 1.0  # where: the window stands out
    assert np.abs(high - low).max() < 0.15  # what: not in the coarse view
    values = classical_baseline.trial_features(classical_baseline.region_values(inputs["eeg"]))
    assert np.abs(values[labels == 1].mean(axis=0) - values[labels == 0].mean(axis=0)).max() < 0.1
