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

The Beam pipeline has one element per (subject, trial), planned before it runs: the split (from the labels
alone, `emorecog.splits`, so no trial is ever cut across splits), the shard and the position in it
(`record_shards.plan_elements`). Then

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
from emorecog.components import record_shards, trial_progress
from emorecog.components.beam_runner import DIRECT_RUNNER, beam, beam_pipeline_flags, make_pipeline, stderr_to
from emorecog.components.component import ComponentSpec, run_component
from emorecog.components.process_trial import BAD_INPUT_ERRORS, REPORT_TAG, ProcessTrialDoFn, skip_record
from emorecog.datasets import tfrecord_reader
from emorecog.output_folders import check_separate_from_inputs

SPLIT_OUTPUTS = tuple(f"Split-{name}" for name in splits.SPLIT_NAMES)
EXAMPLE_GEN_SPEC = ComponentSpec(
    name="ExampleGen",
    parameters=("source_format", "source_files", "preprocess", "preprocess_config_hash", "label_rule", "split",
                "on_error", "skip_eeg_only", "eeg_channels", "records_per_shard", "record_layout"),
    inputs=("source",),
    outputs=(*SPLIT_OUTPUTS, tfrecord_reader.SCHEMA_FILE, tfrecord_reader.STATS_FILE),
)
ON_ERROR_CHOICES = ("skip", "stop")
DEFAULT_RECORDS_PER_SHARD = 32
# Hidden working folders inside the staging output, removed before it is published.
_PROGRESS_DIR = ".progress"
_REPORTS_DIR = ".reports"
_STAGED_RECORDS_DIR = ".records"


class ExampleGenError(RuntimeError):
    """The ExampleGen run failed on bad input (the message names the subject, trial and file)."""


def example_gen_parameters(preprocess_config=None, split_config=None, label_rule=None, on_error="skip",
                           skip_eeg_only=False, eeg_channels=None,
                           records_per_shard=DEFAULT_RECORDS_PER_SHARD, source_format="deap", source_files=()):
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


def run_example_gen(source, output_dir, preprocess_config=None, split_config=None, label_rule=None,
                    on_error="skip", skip_eeg_only=False, eeg_channels=None,
                    records_per_shard=DEFAULT_RECORDS_PER_SHARD, runner=DIRECT_RUNNER, num_workers=None,
                    beam_options=(), force=False, progress=None, beam_log=None, source_format="deap"):
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
        source_files = _reader(source_format, source, label_rule, montage).input_files()
        if os.path.isfile(montage):  # a montage file changes the images as much as the data do
            source_files = [*source_files, montage]
    except BAD_INPUT_ERRORS as error:
        raise ExampleGenError(f"ExampleGen cannot read {source}: {error}") from error
    parameters = example_gen_parameters(preprocess_config, split_config, label_rule, on_error, skip_eeg_only,
                                        eeg_channels, records_per_shard, source_format, source_files)
    flags = beam_pipeline_flags(runner, num_workers, beam_options)
    inputs = {"source": source}
    if beam_log is not None:
        check_separate_from_inputs(beam_log, inputs)  # the log is appended to: never inside an input
    executor = ExampleGenExecutor(flags, progress=progress, beam_log=beam_log)
    return run_component(EXAMPLE_GEN_SPEC, executor, parameters, inputs, output_dir, force=force)


def _reader(source_format, source, label_rule, montage):
    from emorecog.datasets.dataset_reader import open_reader

    return open_reader(source_format, source, label_rule=label_rule, montage=montage)


def list_trials(reader, on_error):
    """(keys of the trials to process, skip records of what the reader could not list).

    With `on_error="stop"` the first unreadable subject, session or trial stops the run.
    """
    listing = reader.list_trials()
    skipped = []
    for entry in listing.unreadable:
        if on_error == "stop":
            raise ExampleGenError(f"ExampleGen stopped (on_error='stop'): {entry.reason}")
        skipped.append(skip_record(entry.subject, entry.trial, None, entry.reason, *entry.files))
    return list(listing.keys), skipped


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    """What the pipeline will do, fixed before it runs.

    Attributes:
        elements: the planned trials in the order the workers get them (`record_shards.plan_elements`).
        shards: {split: number of shard files}.
        record_schema: the `features.RecordSchema` every record must have.
        listed: {"trials": keys listed, "subjects_skipped": entries the reader could not list}.
        skipped: skip records of what is left out before the pipeline (unreadable, or EEG-only when skipped).
        eeg_only_keys: the listed trials without face video.
    """

    elements: list
    shards: dict
    record_schema: object
    listed: dict
    skipped: list
    eeg_only_keys: list


def plan_trials(dataset, parameters, preprocess_config):
    """List the trials of `dataset`, split them by their labels alone and plan their shards (`TrialPlan`).

    Raises:
        ExampleGenError: a run-level problem (a refused file, no trial left, a split that cannot be made).
    """
    from emorecog.datasets.dataset_reader import RefusedFileError

    _check_channel_names(parameters["eeg_channels"], preprocess_config)
    try:
        keys, skipped = list_trials(dataset, parameters["on_error"])
    except RefusedFileError as error:
        raise ExampleGenError(f"ExampleGen stopped: {error} (a refused file stops the run whatever on_error "
                              "says)") from error
    listed = {"trials": len(keys), "subjects_skipped": len(skipped)}
    eeg_only_keys = [key for key in keys if key.face_video is None]
    if parameters["skip_eeg_only"]:
        skipped += [skip_record(key.subject, key.trial, None, "no face video: EEG-only trial left out "
                                "(skip_eeg_only)", key.face_video) for key in eeg_only_keys]
        keys = [key for key in keys if key.face_video is not None]
    if not keys:
        raise ExampleGenError(f"ExampleGen: no trial of {dataset.root} is left to write"
                              + (f" ({len(skipped)} skipped: {skipped[0]['reason']})" if skipped else ""))
    try:
        assignment = splits.assign_splits(
            [(key.subject, key.trial) for key in keys], splits.SplitConfig(**parameters["split"]),
            strata={(key.subject, key.trial): tuple(key.labels) for key in keys})
    except ValueError as error:
        raise ExampleGenError(f"ExampleGen cannot split {dataset.root}: {error}") from error
    record_schema = _record_schema(dataset, keys, preprocess_config, parameters["eeg_channels"])
    elements, shards = record_shards.plan_elements(keys, assignment, parameters["records_per_shard"])
    return TrialPlan(elements, shards, record_schema, listed, skipped, eeg_only_keys)


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
            dataset = _reader(parameters["source_format"], source, LabelRule(**parameters["label_rule"]),
                              preprocess_config.montage)
        except BAD_INPUT_ERRORS as error:
            raise ExampleGenError(f"ExampleGen cannot read {source}: {error}") from error
        plan = plan_trials(dataset, parameters, preprocess_config)
        started = time.perf_counter()
        reports = self.run_pipeline(dataset, parameters, plan, output_dir)
        seconds = time.perf_counter() - started

        written = [report for report in reports if report["status"] == "written"]
        skipped = plan.skipped + sorted((report for report in reports if report["status"] == "skipped"),
                                        key=lambda report: (report["subject"], report["trial"]))
        if not written:
            raise ExampleGenError(f"ExampleGen wrote no trial of {source}: all {len(plan.elements)} failed; first "
                                  f"reason: {skipped[0]['reason'] if skipped else 'unknown'}")
        stats = example_statistics.build_stats(
            written, dataset.name, plan.record_schema.shape, parameters["split"],
            planned={name: sum(element["split"] == name for element in plan.elements) for name in splits.SPLIT_NAMES},
            source_format=parameters["source_format"], source=dataset.root, preprocess=parameters["preprocess"],
            preprocess_config_hash=parameters["preprocess_config_hash"], label_rule=parameters["label_rule"],
            on_error=parameters["on_error"],
            trials={"listed": plan.listed["trials"], "subjects_skipped": plan.listed["subjects_skipped"],
                    "processed": len(plan.elements), "written": len(written), "skipped": len(skipped),
                    "eeg_only_written": sum(report["eeg_only"] for report in written)},
            skipped=skipped,
            per_trial=example_statistics.per_trial_rows(written),
            eeg_only_policy=_eeg_only_policy(parameters["skip_eeg_only"], plan.eeg_only_keys),
            files=_file_manifest(output_dir),
            seconds=round(seconds, 3),
            trials_per_second=round(len(plan.elements) / seconds, 4) if seconds > 0 else None)
        features.write_schema(os.path.join(output_dir, tfrecord_reader.SCHEMA_FILE), plan.record_schema)
        with open(os.path.join(output_dir, tfrecord_reader.STATS_FILE), "w") as handle:
            json.dump(stats, handle, indent=2)
        return {"summary": _summary(stats), "beam_flags": self.flags}

    def run_pipeline(self, dataset, parameters, plan, output_dir):
        """Run `ReadTrials | ProcessTrial | WriteSplits` on the plan; returns the trials' reports."""
        progress_dir = os.path.join(output_dir, _PROGRESS_DIR)
        reports_dir = os.path.join(output_dir, _REPORTS_DIR)
        staging_dir = os.path.join(output_dir, _STAGED_RECORDS_DIR)
        os.makedirs(progress_dir)
        process_trial = ProcessTrialDoFn(dataset, parameters, plan.record_schema, dataset.name, progress_dir,
                                         staging_dir)
        # Beam logs while it builds and runs the pipeline, and so do its worker processes: all to beam_log.
        with stderr_to(self.beam_log):
            pipeline = make_pipeline(self.flags)
            trials = (pipeline
                      | "ReadTrials" >> record_shards.ReadTrials(plan.elements)
                      | "ProcessTrial" >> beam.ParDo(process_trial).with_outputs(REPORT_TAG, main="staged"))
            trials.staged | "WriteSplits" >> record_shards.WriteSplits(
                output_dir, plan.shards, {element["split"] for element in plan.elements})
            (trials[REPORT_TAG]
             | "ReportJSON" >> beam.Map(lambda report: json.dumps(report, sort_keys=True))
             | "WriteReports" >> beam.io.WriteToText(os.path.join(reports_dir, "trial_reports"),
                                                      file_name_suffix=".jsonl", num_shards=1))
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


def _check_channel_names(eeg_channels, preprocess_config):
    """Refuse `eeg_channels` (names of the data files' 32 EEG rows) that the montage does not place."""
    if eeg_channels is None:
        return
    from emorecog.datasets.deap import EEG_CHANNELS
    from emorecog.preprocessing.eeg_images import electrode_positions

    if len(eeg_channels) != len(EEG_CHANNELS):
        raise ExampleGenError(
            f"eeg_channels names {len(eeg_channels)} channels, the data files hold {len(EEG_CHANNELS)} EEG rows")
    try:
        electrode_positions(eeg_channels, preprocess_config.montage)
    except ValueError as error:
        raise ExampleGenError(f"ExampleGen: bad eeg_channels: {error}") from error


def _record_schema(dataset, keys, preprocess_config, eeg_channels):
    """The `features.RecordSchema` every record of this run must have: sample shape, electrodes, operator.

    T comes from `preprocess_config.trial_seconds` or else from the first readable trial's duration.
    """
    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor

    for key in keys[:10]:
        try:
            trial = dataset.load_trial(key)
        except BAD_INPUT_ERRORS:
            continue  # reported when the pipeline reaches it
        channels = tuple(eeg_channels) if eeg_channels is not None else tuple(trial.eeg_channels)
        shape = preprocess_config.sample_shape(preprocess_config.trial_seconds or trial.duration_s)
        try:
            return TrialPreprocessor(preprocess_config).record_schema(channels, shape)
        except ValueError as error:
            raise ExampleGenError(f"ExampleGen: cannot build the EEG interpolation operator: {error}") from error
    raise ExampleGenError(f"ExampleGen: none of the first trials of {dataset.root} can be read")


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


def _eeg_only_policy(skip_eeg_only, eeg_only_keys):
    return {
        "policy": "skip" if skip_eeg_only else "write",
        "description": ("trials without face video are left out" if skip_eeg_only else
                        "trials without face video are written with face_present = 0 and black crops"),
        "trials_without_video": [{"subject": key.subject, "trial": key.trial} for key in eeg_only_keys],
    }


def _file_manifest(output_dir):
    """Size and SHA-256 of every record file, by path relative to `output_dir` (readers verify them)."""
    return {os.path.relpath(path, output_dir): tfrecord_reader.file_manifest_entry(path)
            for name in splits.SPLIT_NAMES for path in sorted(tfrecord_reader.split_files(output_dir, name))}


def _summary(stats):
    """The counts of stats.json kept in the component's metadata."""
    return {
        "trials": stats["trials"],
        "splits": {name: stats["splits"][name]["samples"] for name in splits.SPLIT_NAMES},
        "skipped": [{key: record[key] for key in ("subject", "trial", "reason")} for record in stats["skipped"]],
        "mean_detection_rate": stats["face_detection"]["mean_detection_rate"],
        "seconds": stats["seconds"],
        "trials_per_second": stats["trials_per_second"],
    }
