"""Trainer component: an ExampleGen output -> a trained model (best epoch by eval macro F1).

Spec:
    parameters  model_config (ModelConfig.to_dict()), training_config (TrainingConfig.to_dict())
    inputs      examples: the ExampleGen output directory
    outputs     model.keras, model_config.json, training_config.json, schema.json, history.json,
                training_summary.json, eeg_normalisation.json   (in <run_dir>/model/)

The output folder is written atomically by `run_component`; the resumable state (checkpoints/) and
TensorBoard logs (logs/) live next to it in the run directory, so a killed run continues where it stopped
and TensorBoard can watch a run in progress. The run directory is claimed (`output_folders.claim_folder`:
new, empty or already emorecog's) and locked for the whole training. The executor is
`emorecog.training.training_loop.run_training`.
"""

import functools
import os

from emorecog.components import component
from emorecog.output_folders import claim_folder
from emorecog.output_lock import OutputLock

MODEL_SUBDIR = "model"

SPEC = component.ComponentSpec(
    name="Trainer",
    parameters=("model_config", "training_config"),
    inputs=("examples",),
    outputs=(
        "model.keras",
        "model_config.json",
        "training_config.json",
        "schema.json",
        "history.json",
        "training_summary.json",
        "eeg_normalisation.json",
    ),
)


def executor(parameters, inputs, output_dir, restart=False, log=print):
    """Train into `output_dir` (the runner's staging folder inside the run directory)."""
    from emorecog.models.model_config import ModelConfig
    from emorecog.training.training_config import TrainingConfig
    from emorecog.training.training_loop import run_training

    run_dir = os.path.dirname(os.path.abspath(output_dir))
    summary = run_training(
        inputs["examples"],
        run_dir,
        ModelConfig.from_dict(parameters["model_config"]),
        TrainingConfig.from_dict(parameters["training_config"]),
        output_dir=output_dir,
        restart=restart,
        log=log,
    )
    return {"summary": summary}


def run_trainer(data_dir, run_dir, model_config, training_config, restart=False, force=False, log=print):
    """Run the Trainer component for `run_dir` (skipped when the same configs and data are done).

    In a multi-worker job every worker calls this; only the chief writes `run_dir`, the others train
    into a scratch folder (deleted afterwards) and return None.

    Returns:
        The `ComponentRun` of <run_dir>/model (chief), or None (other workers).
    """
    from emorecog.training import distribution
    from emorecog.training.training_loop import read_training_data

    parameters = {"model_config": model_config.to_dict(), "training_config": training_config.to_dict()}
    _, task_index, is_chief = distribution.worker_role()
    if not is_chief:
        import shutil
        import tempfile

        from emorecog.training.training_loop import run_training

        # Outside the run directory, which only the chief claims and writes.
        scratch = tempfile.mkdtemp(prefix=f"emorecog-worker-{task_index}-")
        try:
            run_training(data_dir, run_dir, model_config, training_config, output_dir=scratch, log=log)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return None
    read_training_data(data_dir)  # a wrong --data fails here, naming what is missing, before anything is written
    # The run directory is written over time (checkpoints, logs, model, evaluations): it must be emorecog's
    # own, and one process at a time trains into it.
    claim_folder(run_dir, "emorecog train", inputs={"examples": data_dir})
    with OutputLock(run_dir):
        return component.run_component(
            SPEC,
            functools.partial(executor, restart=restart, log=log),
            parameters,
            {"examples": data_dir},
            os.path.join(run_dir, MODEL_SUBDIR),
            force=force or restart,
        )
