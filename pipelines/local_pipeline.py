"""The local pipeline: ExampleGen -> Trainer -> Evaluator -> Pusher, wired and nothing else.

Layout under `pipeline_root`:

    examples/                   ExampleGen output (Split-*/ TFRecords, schema.json, stats.json)
    runs/<run_name>/            Trainer (model/, checkpoints/, logs/) and Evaluator (evaluation/<split>/)
    saved_models/<model_name>/  Pusher versions for TF Serving (or `serving_base`)

Each component is run by `emorecog.components.component.run_component`, which skips it when its
parameters and input fingerprints are unchanged, so a rerun only redoes what changed downstream of a
change (a new training config retrains, evaluates and pushes again, but does not re-ingest). Beam options
go to ExampleGen unchanged (`--beam-option runner=DataflowRunner ...`); they do not change its output, so
they do not invalidate the cache. The Pusher runs only when the Evaluator blessed the model.
"""

import dataclasses
import os

EXAMPLES_DIR = "examples"
RUNS_DIR = "runs"
SAVED_MODELS_DIR = "saved_models"


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    """What each component did: its `ComponentRun` (None for a Pusher that did not run) and the paths."""

    example_gen: object
    trainer: object
    evaluator: object
    pusher: object
    examples_dir: str
    run_dir: str
    blessed: bool

    def steps(self):
        """[(component, "ran" | "skipped (unchanged)" | "not run", output path)] in pipeline order."""
        rows = []
        for name, run in (
            ("ExampleGen", self.example_gen),
            ("Trainer", self.trainer),
            ("Evaluator", self.evaluator),
            ("Pusher", self.pusher),
        ):
            if run is None:
                rows.append((name, "not run (model not blessed)", ""))
            else:
                rows.append((name, "skipped (unchanged)" if run.skipped else "ran", run.output_dir))
        return rows


def run_local_pipeline(
    source,
    pipeline_root,
    model_config,
    training_config,
    preprocess_config=None,
    split_config=None,
    label_rule=None,
    blessing_rule=None,
    run_name=None,
    model_name="emorecog",
    serving_base=None,
    evaluation_split="test",
    runner="DirectRunner",
    num_workers=None,
    beam_options=(),
    progress=None,
    beam_log=None,
    log=print,
    source_format="deap",
):
    """Run the four components in order; each is skipped when nothing it depends on changed.

    Args:
        source: a DEAP directory, a MAHNOB-HCI folder or a manifest CSV (real or `emorecog synth`).
        pipeline_root: where the outputs go (layout in the module docstring).
        model_config: `ModelConfig`; training_config: `TrainingConfig`.
        preprocess_config, split_config, label_rule: ExampleGen settings (None: defaults).
        blessing_rule: `BlessingRule` (None: default, eval macro F1 and balanced accuracy above baseline).
        run_name: name of the run directory (default: "<ablation>-<target>").
        model_name: the served model's name.
        serving_base: TF Serving's base folder (default: <pipeline_root>/saved_models).
        evaluation_split: the split the Evaluator reports (the blessing always reads eval).
        runner, num_workers, beam_options: Beam settings passed to ExampleGen.
        progress, beam_log: ExampleGen's progress callback and Beam log file.
        log: a function taking one line of progress text.
        source_format: "deap" (default), "mahnob" or "manifest".

    Returns:
        A `PipelineResult`.
    """
    from emorecog.components.evaluator import run_evaluator
    from emorecog.components.example_gen import run_example_gen
    from emorecog.components.pusher import push_run
    from emorecog.components.trainer import run_trainer
    from emorecog.output_folders import claim_folder

    # The root only holds the components' outputs, each checked against its own inputs (a demo keeps its
    # synthetic DEAP directory inside the root): the root itself must be new, empty or emorecog's.
    claim_folder(pipeline_root, "emorecog pipeline")
    examples_dir = os.path.join(pipeline_root, EXAMPLES_DIR)
    run_dir = os.path.join(pipeline_root, RUNS_DIR, run_name or f"{model_config.ablation}-{training_config.target}")
    serving_base = serving_base or os.path.join(pipeline_root, SAVED_MODELS_DIR)

    log(f"ExampleGen: preprocessing the {source_format} input (Beam)")
    example_gen = run_example_gen(
        source,
        examples_dir,
        preprocess_config=preprocess_config,
        split_config=split_config,
        label_rule=label_rule,
        runner=runner,
        num_workers=num_workers,
        beam_options=beam_options,
        progress=progress,
        beam_log=beam_log,
        source_format=source_format,
    )
    _log_step(log, "ExampleGen", example_gen)
    log("Trainer")
    trainer = run_trainer(examples_dir, run_dir, model_config, training_config, log=log)
    _log_step(log, "Trainer", trainer)
    log("Evaluator")
    evaluator = run_evaluator(run_dir, examples_dir, split=evaluation_split, blessing_rule=blessing_rule)
    _log_step(log, "Evaluator", evaluator)
    blessed = bool(evaluator.metadata["summary"]["blessed"])
    pusher = None
    if blessed:
        pusher = push_run(run_dir, serving_base, model_name)
        _log_step(log, "Pusher", pusher)
    else:
        log(
            "Pusher: not run, the Evaluator did not bless the model "
            f"(see {os.path.join(evaluator.output_dir, 'blessing.json')})"
        )
    return PipelineResult(
        example_gen=example_gen,
        trainer=trainer,
        evaluator=evaluator,
        pusher=pusher,
        examples_dir=examples_dir,
        run_dir=run_dir,
        blessed=blessed,
    )


def _log_step(log, name, run):
    log(f"{name}: {'skipped, unchanged' if run.skipped else 'done'} -> {run.output_dir}")
