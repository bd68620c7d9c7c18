"""The tiny synthetic pipeline the slower tests share: DEAP -> ExampleGen -> Trainer, built once per session.

`conftest.py` exposes it as the session fixture `tiny_run`; the sizes are here so tests can build variants.
"""

import os

from emorecog.datasets.synthetic.deap import SynthConfig
from emorecog.training.training_config import TrainingConfig

# 3 subjects x 7 trials of 6 s; samples at 4 fps -> T = 24 frames of 8x8 EEG images and 16x16 face crops.
TINY_SYNTH = SynthConfig(subjects=3, trials=7, duration_s=6, fps=8, width=96, height=80, event_window_s=2.0)
TINY_PREPROCESS = {"fps": 4, "image_size": 8, "face_size": 16}
TINY_MODEL = {
    "max_glimpses": 4,
    "core_layers": 2,
    "hidden_size": 16,
    "glimpse_hidden_size": 8,
    "feature_size": 16,
    "band_feature_size": 8,
    "face_filters": [4, 8],
    "location_embedding_size": 4,
    "attention_size": 8,
}
TINY_BATCH_SIZE = 4
TINY_EPOCHS = 2
# The same training settings as flags, for tests that go through the CLI.
TINY_TRAINING_FLAGS = ["--batch-size", str(TINY_BATCH_SIZE)]
RUN_NAME = "full-valence"


def tiny_model_config(**overrides):
    from emorecog.models.model_config import ModelConfig

    return ModelConfig.for_ablation("full", **{**TINY_MODEL, **overrides})


def tiny_training_config(**overrides):
    return TrainingConfig(**{"batch_size": TINY_BATCH_SIZE, "epochs": TINY_EPOCHS, **overrides})


def shared_tiny_run(base_dir):
    """(deap_dir, examples_dir, run_dir) of the session's tiny pipeline, built on first use.

    The layout is the local pipeline's: <base>/pipeline/{examples, runs/full-valence}.
    """
    from emorecog.components.example_gen import run_example_gen
    from emorecog.components.trainer import run_trainer
    from emorecog.datasets.synthetic.deap import write_synthetic_deap
    from emorecog.output_folders import claim_folder
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    root = os.path.join(str(base_dir), "h5-shared")
    deap_dir = os.path.join(root, "deap")
    if not os.path.isdir(deap_dir):
        write_synthetic_deap(deap_dir, TINY_SYNTH)
    claim_folder(os.path.join(root, "pipeline"), "emorecog pipeline")  # as run_local_pipeline does
    examples_dir = os.path.join(root, "pipeline", "examples")
    run_example_gen(deap_dir, examples_dir, preprocess_config=PreprocessConfig(**TINY_PREPROCESS), num_workers=1)
    run_dir = os.path.join(root, "pipeline", "runs", RUN_NAME)
    run_trainer(examples_dir, run_dir, tiny_model_config(), tiny_training_config(), log=lambda line: None)
    return deap_dir, examples_dir, run_dir
