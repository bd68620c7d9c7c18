"""ExampleGen: a dataset -> EEG band images + face crops as GZIP TFRecords, on Apache Beam.

The component (TFX-style: `EXAMPLE_GEN_SPEC` + an executor, run by `component.run_component`):

    input  source        a DEAP directory, a MAHNOB-HCI folder or a CSV manifest of recordings (real, or
                         written by `emorecog synth`), read through its reader's public interface
                         (`emorecog.datasets.dataset_reader`: `list_trials()`, `load_trial(key)`)
    output Split-train/  data_tfrecord-NNNNN-of-MMMMM.gz   tf.train.Example per trial (`emorecog.features`)
           Split-eval/   ...
           Split-test/   ...
           schema.json   `features.schema_dict`: record schema version, sample shape, EEG interpolation operator
           stats.json    counts per split and label, per-trial detection rates, EEG normalisation statistics
                         of Split-train only, skipped trials with reasons, EEG-only policy, file manifest
                         (layout: `emorecog.example_statistics`)
           emorecog_metadata.json (written by the runner: config hash, inputs, summary)

A rerun with the same parameters and an unchanged source is skipped; a changed parameter (or any file of
the source) writes the output anew. The executor writes into a hidden staging directory that is renamed
into place only when everything succeeded, so a failed or interrupted run leaves no output.

The Beam pipeline has one element per (subject, trial), planned before it runs (`trial_plan`): the split
(from the labels alone, `emorecog.splits`, so no trial is ever cut across splits), the shard and the position
in it (`record_shards.plan_elements`). Then

    ReadTrials | ProcessTrial | WriteSplits        (+ the trial reports -> JSON lines -> stats.json)

`ReadTrials` deals the planned trials to the workers in the plan's order; `ProcessTrial`
(`process_trial.ProcessTrialDoFn`) makes each trial's record and stages it on disk at once; `WriteSplits`
concatenates each shard's staged records into its file (`record_shards`). Memory is bounded by the trials
in flight, and the output bytes do not depend on the runner or its number of workers. The runner and its
options: `beam_runner` (the local default needs no network). Progress: marker files (`trial_progress`).

Bad input (`on_error`):
- trial-level problems (corrupt or unreadable video, a video shorter than the trial, EEG with NaN, a
  subject data file that cannot be read, a sample of the wrong shape) raise an error naming the
  subject, trial and file. With `on_error="skip"` the trial is left out and listed in stats.json under
  `skipped` with its reason; with `on_error="stop"` the run fails with that message and writes nothing.
- run-level problems (not a DEAP directory, an unknown EEG channel name in `eeg_channels`, no trial left
  to write, a refused data file) stop the run whatever `on_error` says.
Trials without face video are written EEG-only (face_present = 0 everywhere, black crops) or, with
`skip_eeg_only`, left out; either way they are listed in stats.json. A record is never written from a
trial that failed a check.
"""

import dataclasses
import json
import os
import shutil
import time

from emorecog import example_statistics, features, splits
from emorecog.artifact_metadata import fingerprint_path
from emorecog.components import record_shards, trial_plan, trial_progress
from emorecog.components.beam_runner import DIRECT_RUNNER, beam, beam_pipeline_flags, make_pipeline, stderr_to
from emorecog.components.component import ComponentSpec, run_component
from emorecog.components.process_trial import BAD_INPUT_ERRORS, REPORT_TAG, ProcessTrialDoFn
from emorecog.components.trial_plan import ExampleGenError, plan_trials
from emorecog.datasets import tfrecord_reader
from emorecog.output_folders import check_separate_from_inputs

SPLIT_OUTPUTS = tuple(f"Split-{name}" for name in splits.SPLIT_NAMES)
EXAMPLE_GEN_SPEC = ComponentSpec(
    name="ExampleGen",
    parameters=(
        "source_format",
        "source_files",
        "preprocess",
        "preprocess_config_hash",
        "label_rule",
        "split",
        "on_error",
        "skip_eeg_only",
        "eeg_channels",
        "records_per_shard",
        "record_layout",
    ),
    inputs=("source",),
    outputs=(*SPLIT_OUTPUTS, tfrecord_reader.SCHEMA_FILE, tfrecord_reader.STATS_FILE),
)
ON_ERROR_CHOICES = ("skip", "stop")
DEFAULT_RECORDS_PER_SHARD = 32
# Hidden working folders inside the staging output, removed before it is published.
_PROGRESS_DIR = ".progress"
_REPORTS_DIR = ".reports"
_STAGED_RECORDS_DIR = ".records"


def example_gen_parameters(
    preprocess_config=None,
    split_config=None,
    label_rule=None,
    on_error="skip",
    skip_eeg_only=False,
    eeg_channels=None,
    records_per_shard=DEFAULT_RECORDS_PER_SHARD,
    source_format="deap",
    source_files=(),
):
    """The JSON-ready parameters of `EXAMPLE_GEN_SPEC` (everything that changes the output).

    Args:
        source_format: "deap", "mahnob" or "manifest" (`dataset_reader.SOURCE_FORMATS`).
        source_files: files outside the input that the trials read (a manifest's recordings); their names,
            sizes and modification times enter the config hash, so a changed recording is not cached.
        preprocess_config: `PreprocessConfig` (default: `PreprocessConfig()`: 8 fps, 32x32, 64x64 crops).
        split_config: `splits.SplitConfig` (default: trial-disjoint within subject, 5:1:1, seed 0).
        label_rule: `LabelRule` (default: high if rating > 5).
        on_error: "skip" (leave a bad trial out and report it) or "stop" (fail, write nothing).
        skip_eeg_only: leave out trials without face video instead of writing them EEG-only.
        eeg_channels: names of the 32 EEG rows of the data files if they are not DEAP's Geneva order.
        records_per_shard: trials per TFRecord file (a default 60 s trial record is ~1 MB).
    """
    from emorecog.datasets.dataset_reader import LabelRule
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    preprocess_config = PreprocessConfig() if preprocess_config is None else preprocess_config
    split_config = splits.SplitConfig() if split_config is None else split_config
    label_rule = LabelRule() if label_rule is None else label_rule
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    if not isinstance(records_per_shard, int) or records_per_shard < 1:
        raise ValueError(f"records_per_shard must be a positive int, got {records_per_shard!r}")
    from emorecog.datasets.dataset_reader import SOURCE_FORMATS

    if source_format not in SOURCE_FORMATS:
        raise ValueError(f"source_format must be one of {SOURCE_FORMATS}, got {source_format!r}")
    return {
        "source_format": source_format,
        "source_files": {os.path.abspath(path): fingerprint_path(path) for path in source_files},
        "preprocess": dataclasses.asdict(preprocess_config),
        # includes the preprocessing code's version: new code that writes other samples is not cached
        "preprocess_config_hash": preprocess_config.config_hash(),
        "label_rule": dataclasses.asdict(label_rule),
        "split": split_config.to_dict(),
        "on_error": on_error,
        "skip_eeg_only": bool(skip_eeg_only),
        "eeg_channels": None if eeg_channels is None else [str(name) for name in eeg_channels],
        "records_per_shard": records_per_shard,
        "record_layout": record_shards.RECORD_LAYOUT,
    }


def run_example_gen(
    source,
    output_dir,
    preprocess_config=None,
    split_config=None,
    label_rule=None,
    on_error="skip",
    skip_eeg_only=False,
    eeg_channels=None,
    records_per_shard=DEFAULT_RECORDS_PER_SHARD,
    runner=DIRECT_RUNNER,
    num_workers=None,
    beam_options=(),
    force=False,
    progress=None,
    beam_log=None,
    source_format="deap",
):
    """Run ExampleGen on `source` into `output_dir` (skipped if an identical output exists).

    Args:
        source: a DEAP directory, a MAHNOB-HCI folder or a manifest CSV (as `source_format` says).
        output_dir: where Split-*/, schema.json and stats.json appear (atomically).
        preprocess_config, split_config, label_rule, on_error, skip_eeg_only, eeg_channels,
            records_per_shard: see `example_gen_parameters`.
        runner, num_workers, beam_options: see `beam_runner.beam_pipeline_flags` (they do not change the output and
            are not part of the config hash).
        force: run even if an identical output exists.
        source_format: "deap" (default), "mahnob" or "manifest".
        progress: optional function (done, total) called about twice a second from a watcher thread.
        beam_log: optional file that receives the Beam workers' console output (stderr) during the run.

    Returns:
        A `component.ComponentRun`; `run.metadata["summary"]` holds the counts of stats.json.

    Raises:
        ExampleGenError: bad input with `on_error="stop"`, or a run-level problem (message names it).
    """
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    montage = (preprocess_config or PreprocessConfig()).montage
    try:
        source_files = trial_plan.open_source(source_format, source, label_rule, montage).input_files()
        if os.path.isfile(montage):  # a montage file changes the images as much as the data do
            source_files = [*source_files, montage]
    except BAD_INPUT_ERRORS as error:
        raise ExampleGenError(f"ExampleGen cannot read {source}: {error}") from error
    parameters = example_gen_parameters(
        preprocess_config,
        split_config,
        label_rule,
        on_error,
        skip_eeg_only,
        eeg_channels,
        records_per_shard,
        source_format,
        source_files,
    )
    flags = beam_pipeline_flags(runner, num_workers, beam_options)
    inputs = {"source": source}
    if beam_log is not None:
        check_separate_from_inputs(beam_log, inputs)  # the log is appended to: never inside an input
    executor = ExampleGenExecutor(flags, progress=progress, beam_log=beam_log)
    return run_component(EXAMPLE_GEN_SPEC, executor, parameters, inputs, output_dir, force=force)


class ExampleGenExecutor:
    """The executor: `(parameters, inputs, output_dir) -> metadata`, bound to how Beam should run.

    Args:
        flags: Beam pipeline options (`beam_runner.beam_pipeline_flags`).
        progress: optional function (done, total).
        beam_log: optional path receiving the process's stderr (Beam and worker logs) during the run.
    """

    def __init__(self, flags, progress=None, beam_log=None):
        self.flags = list(flags)
        self.progress = progress
        self.beam_log = beam_log

    def __call__(self, parameters, inputs, output_dir):
        from emorecog.datasets.dataset_reader import LabelRule
        from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

        source = inputs["source"]
        preprocess_config = PreprocessConfig.from_dict(parameters["preprocess"])
        try:
            dataset = trial_plan.open_source(
                parameters["source_format"], source, LabelRule(**parameters["label_rule"]), preprocess_config.montage
            )
        except BAD_INPUT_ERRORS as error:
            raise ExampleGenError(f"ExampleGen cannot read {source}: {error}") from error
        plan = plan_trials(dataset, parameters, preprocess_config)
        started = time.perf_counter()
        reports = self.run_pipeline(dataset, parameters, plan, output_dir)
        seconds = time.perf_counter() - started

        written = [report for report in reports if report["status"] == "written"]
        skipped = plan.skipped + sorted(
            (report for report in reports if report["status"] == "skipped"),
            key=lambda report: (report["subject"], report["trial"]),
        )
        if not written:
            raise ExampleGenError(
                f"ExampleGen wrote no trial of {source}: all {len(plan.elements)} failed; first "
                f"reason: {skipped[0]['reason'] if skipped else 'unknown'}"
            )
        stats = example_statistics.build_stats(
            written,
            dataset.name,
            plan.record_schema.shape,
            parameters["split"],
            planned={name: sum(element["split"] == name for element in plan.elements) for name in splits.SPLIT_NAMES},
            source_format=parameters["source_format"],
            source=dataset.root,
            preprocess=parameters["preprocess"],
            preprocess_config_hash=parameters["preprocess_config_hash"],
            label_rule=parameters["label_rule"],
            on_error=parameters["on_error"],
            trials={
                "listed": plan.listed["trials"],
                "subjects_skipped": plan.listed["subjects_skipped"],
                "processed": len(plan.elements),
                "written": len(written),
                "skipped": len(skipped),
                "eeg_only_written": sum(report["eeg_only"] for report in written),
            },
            skipped=skipped,
            per_trial=example_statistics.per_trial_rows(written),
            eeg_only_policy=example_statistics.eeg_only_policy(parameters["skip_eeg_only"], plan.eeg_only_keys),
            files=example_statistics.file_manifest(output_dir),
            seconds=round(seconds, 3),
            trials_per_second=round(len(plan.elements) / seconds, 4) if seconds > 0 else None,
        )
        features.write_schema(os.path.join(output_dir, tfrecord_reader.SCHEMA_FILE), plan.record_schema)
        with open(os.path.join(output_dir, tfrecord_reader.STATS_FILE), "w") as handle:
            json.dump(stats, handle, indent=2)
        return {"summary": example_statistics.summary(stats), "beam_flags": self.flags}

    def run_pipeline(self, dataset, parameters, plan, output_dir):
        """Run `ReadTrials | ProcessTrial | WriteSplits` on the plan; returns the trials' reports."""
        progress_dir = os.path.join(output_dir, _PROGRESS_DIR)
        reports_dir = os.path.join(output_dir, _REPORTS_DIR)
        staging_dir = os.path.join(output_dir, _STAGED_RECORDS_DIR)
        os.makedirs(progress_dir)
        process_trial = ProcessTrialDoFn(
            dataset, parameters, plan.record_schema, dataset.name, progress_dir, staging_dir
        )
        # Beam logs while it builds and runs the pipeline, and so do its worker processes: all to beam_log.
        with stderr_to(self.beam_log):
            pipeline = make_pipeline(self.flags)
            trials = (
                pipeline
                | "ReadTrials" >> record_shards.ReadTrials(plan.elements)
                | "ProcessTrial" >> beam.ParDo(process_trial).with_outputs(REPORT_TAG, main="staged")
            )
            trials.staged | "WriteSplits" >> record_shards.WriteSplits(
                output_dir, plan.shards, {element["split"] for element in plan.elements}
            )
            (
                trials[REPORT_TAG]
                | "ReportJSON" >> beam.Map(lambda report: json.dumps(report, sort_keys=True))
                | "WriteReports"
                >> beam.io.WriteToText(
                    os.path.join(reports_dir, "trial_reports"), file_name_suffix=".jsonl", num_shards=1
                )
            )
            with trial_progress.ProgressWatcher(progress_dir, len(plan.elements), self.progress):
                try:
                    pipeline.run().wait_until_finish()
                except Exception as error:
                    raise _pipeline_error(error, progress_dir) from error
        reports = _read_reports(reports_dir)
        shutil.rmtree(progress_dir)
        shutil.rmtree(reports_dir)
        shutil.rmtree(staging_dir, ignore_errors=True)
        return reports


def _read_reports(reports_dir):
    reports = []
    for name in sorted(os.listdir(reports_dir)):
        with open(os.path.join(reports_dir, name)) as handle:
            reports.extend(json.loads(line) for line in handle if line.strip())
    return reports


def _pipeline_error(error, progress_dir):
    """An ExampleGenError with the failing trial's own message (a worker's traceback is long and wrapped)."""
    messages = trial_progress.error_messages(progress_dir)
    if messages:
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        return ExampleGenError(f"ExampleGen stopped (on_error='stop'): {messages[0]}{more}")
    return ExampleGenError(f"ExampleGen's Beam pipeline failed: {error}")
