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
           emorecog_metadata.json (written by the runner: config hash, inputs, summary)

A rerun with the same parameters and an unchanged DEAP directory is skipped; a changed parameter (or any
file of the directory) writes the output anew. The executor writes into a hidden staging directory that
is renamed into place only when everything succeeded, so a failed or interrupted run leaves no output.

The Beam pipeline has one element per (subject, trial), planned before it runs: the split (from the labels
alone, `emorecog.splits`, so no trial is ever cut across splits), the shard and the position in it (trials
of a split in (subject, trial) order, cut into equal consecutive shards). Then:

    ListTrials -> DistributeTrials (GroupByKey on the element's index: the local runner deals the
        trials to its workers in turn, so face trials, listed first, are shared evenly)
    -> ProcessTrial (`reader.load_trial`, `TrialPreprocessor.process`, `features.encode_example`; the
        record goes to disk at once, as a one-record GZIP member in a staging folder; only a small
        reference (split, shard, position, staging file) travels on)
    -> GroupByKey on (split, shard) -> WriteShard (concatenates the shard's members in position order,
        streaming: GZIP members concatenate into one valid GZIP file; renamed into place when complete)

Memory is therefore bounded by the trials in flight (one per worker), whatever the dataset size: no
step holds records (the former `WriteToTFRecord` with a fixed shard count grouped every record in the
runner's memory before writing). The output bytes do not depend on the runner or its number of workers:
shard contents and order come from the plan, records serialise deterministically, GZIP members carry no
time stamp. The per-trial reports go to a JSON-lines side file that the main process turns into
stats.json.

Runners. `runner="DirectRunner"` (default) runs Beam's portable FnApiRunner, the engine Beam's DirectRunner
uses for batch pipelines, with `direct_running_mode=multi_processing` and one worker per core. Beam 2.77's
`DirectRunner` would first try its "Prism" runner, which downloads a binary from GitHub at run time; calling
the FnApiRunner directly skips that, so a local run needs no network. Any other runner (DataflowRunner,
FlinkRunner, SparkRunner, PrismRunner, ...) is chosen by name and configured with pipeline options
(`--flag=value` strings passed through unchanged).

Bad input (`on_error`):
- trial-level problems (corrupt or unreadable video, a video shorter than the trial, EEG with NaN, a
  subject data file that cannot be read, a sample of the wrong shape) raise an error naming the
  subject, trial and file. With `on_error="skip"` the trial is left out and listed in stats.json under
  `skipped` with its reason; with `on_error="stop"` the run fails with that message and writes nothing.
- run-level problems (not a DEAP directory, an unknown EEG channel name in `eeg_channels`, no trial left
  to write) stop the run whatever `on_error` says.
Trials without face video are written EEG-only (face_present = 0 everywhere, black crops) or, with
`skip_eeg_only`, left out; either way they are listed in stats.json. A record is never written from a
trial that failed a check.
"""

import contextlib
import dataclasses
import gzip
import io
import json
import logging
import math
import os
import shutil
import sys
import threading
import time


def _import_beam_quietly():
    # Beam's import logs "apitools not found ..." on the root logger (its GCP clients are optional and not
    # installed): a warning about Dataflow that a local user cannot act on.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        import apache_beam
    finally:
        root.setLevel(level)
    return apache_beam


beam = _import_beam_quietly()

from emorecog import features, splits  # noqa: E402
from emorecog.components.component import ComponentSpec, run_component  # noqa: E402
from emorecog.datasets import tfrecord_reader  # noqa: E402
from emorecog.output_folders import check_separate_from_inputs  # noqa: E402

SPLIT_OUTPUTS = tuple(f"Split-{name}" for name in splits.SPLIT_NAMES)
EXAMPLE_GEN_SPEC = ComponentSpec(
    name="ExampleGen",
    parameters=("source_format", "source_files", "preprocess", "preprocess_config_hash", "label_rule", "split",
                "on_error", "skip_eeg_only", "eeg_channels", "records_per_shard", "record_layout"),
    inputs=("source",),
    outputs=(*SPLIT_OUTPUTS, tfrecord_reader.SCHEMA_FILE, tfrecord_reader.STATS_FILE),
)
ON_ERROR_CHOICES = ("skip", "stop")
# How records are placed in shard files; part of the config hash, so outputs of another placement (such as
# the worker-dependent one of earlier versions) are not reused as if equal.
RECORD_LAYOUT = "per split: (subject, trial) order, equal consecutive shards of at most records_per_shard"
DEFAULT_RECORDS_PER_SHARD = 32
DIRECT_RUNNER = "DirectRunner"
# Errors that mean "this trial's input is bad" (DeapFormatError is a ValueError). Anything else is a bug
# and fails the run whatever `on_error` says.
BAD_INPUT_ERRORS = (ValueError, OSError, EOFError)

_REPORT_TAG = "reports"
_PROGRESS_DIR = ".progress"
_REPORTS_DIR = ".reports"
_STAGED_RECORDS_DIR = ".records"
# zlib's default level: on these records (JPEG crops and float32 energies, both nearly incompressible)
# level 9 takes ~3x longer for < 1 % fewer bytes.
GZIP_LEVEL = 6


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
    from emorecog.datasets.label_rule import LabelRule
    from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

    preprocess_config = PreprocessConfig() if preprocess_config is None else preprocess_config
    split_config = splits.SplitConfig() if split_config is None else split_config
    label_rule = LabelRule() if label_rule is None else label_rule
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    if not isinstance(records_per_shard, int) or records_per_shard < 1:
        raise ValueError(f"records_per_shard must be a positive int, got {records_per_shard!r}")
    from emorecog.components.component import fingerprint_path
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
        "record_layout": RECORD_LAYOUT,
    }


def beam_pipeline_flags(runner=DIRECT_RUNNER, num_workers=None, beam_options=()):
    """Beam pipeline options as `--flag=value` strings.

    Args:
        runner: Beam runner name. For "DirectRunner" the defaults are multi-process execution with
            `num_workers` workers (default: one per core).
        num_workers: DirectRunner worker processes (1 runs in this process).
        beam_options: extra options, "--key=value" or "key=value"; they win over the defaults
            (e.g. "direct_running_mode=multi_threading", or "project=..." for Dataflow).

    Returns:
        A list of flags for `PipelineOptions`.
    """
    runner = runner or DIRECT_RUNNER
    flags = [option if option.startswith("--") else f"--{option}" for option in beam_options]
    given = {flag[2:].split("=", 1)[0] for flag in flags}
    if "runner" in given:
        named = [flag.split("=", 1)[1] for flag in flags if flag.startswith("--runner=")]
        if runner != DIRECT_RUNNER and named and named[-1] != runner:
            raise ValueError(f"runner {runner!r} conflicts with the Beam option --runner={named[-1]}")
        runner = named[-1] if named else runner
    else:
        flags.append(f"--runner={runner}")
    if runner == DIRECT_RUNNER:
        workers = num_workers or os.cpu_count() or 1
        if "direct_num_workers" not in given:
            flags.append(f"--direct_num_workers={workers}")
        if "direct_running_mode" not in given:
            flags.append(f"--direct_running_mode={'multi_processing' if workers > 1 else 'in_memory'}")
    if "default_sdk_harness_log_level" not in given:
        flags.append("--default_sdk_harness_log_level=WARNING")
    return flags


def make_pipeline(flags):
    """A `beam.Pipeline` for `flags` (see `beam_pipeline_flags`); DirectRunner never fetches Prism.

    For "DirectRunner" the pipeline runs on Beam's FnApiRunner directly: the engine that Beam's
    DirectRunner itself picks for batch pipelines once its Prism attempt is over, configured the same
    way (pipeline options handed to the SDK workers through the provision info).
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    options = PipelineOptions(flags)
    if options.view_as(StandardOptions).runner != DIRECT_RUNNER:
        return beam.Pipeline(options=options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision_info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision_info), options=options)


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
        runner, num_workers, beam_options: see `beam_pipeline_flags` (they do not change the output and
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
        skipped.append(_skip_record(entry.subject, entry.trial, None, entry.reason, *entry.files))
    return list(listing.keys), skipped


class ExampleGenExecutor:
    """The executor: `(parameters, inputs, output_dir) -> metadata`, bound to how Beam should run.

    Args:
        flags: Beam pipeline options (`beam_pipeline_flags`).
        progress: optional function (done, total).
        beam_log: optional path receiving the process's stderr (Beam and worker logs) during the run.
    """

    def __init__(self, flags, progress=None, beam_log=None):
        self.flags = list(flags)
        self.progress = progress
        self.beam_log = beam_log

    def __call__(self, parameters, inputs, output_dir):
        from emorecog.datasets.deap_format import RefusedFileError
        from emorecog.datasets.label_rule import LabelRule
        from emorecog.preprocessing.trial_preprocessor import PreprocessConfig

        source = inputs["source"]
        preprocess_config = PreprocessConfig.from_dict(parameters["preprocess"])
        split_config = splits.SplitConfig(**parameters["split"])
        on_error = parameters["on_error"]
        try:
            dataset = _reader(parameters["source_format"], source, LabelRule(**parameters["label_rule"]),
                              preprocess_config.montage)
        except BAD_INPUT_ERRORS as error:
            raise ExampleGenError(f"ExampleGen cannot read {source}: {error}") from error
        _check_channel_names(parameters["eeg_channels"], preprocess_config)

        try:
            keys, skipped = list_trials(dataset, on_error)
        except RefusedFileError as error:
            raise ExampleGenError(f"ExampleGen stopped: {error} (a refused file stops the run whatever on_error "
                                  "says)") from error
        listed = {"trials": len(keys), "subjects_skipped": len(skipped)}
        eeg_only_keys = [key for key in keys if key.face_video is None]
        if parameters["skip_eeg_only"]:
            skipped += [_skip_record(key.subject, key.trial, None, "no face video: EEG-only trial left out "
                                     "(skip_eeg_only)", key.face_video) for key in eeg_only_keys]
            keys = [key for key in keys if key.face_video is not None]
        if not keys:
            raise ExampleGenError(f"ExampleGen: no trial of {source} is left to write"
                                  + (f" ({len(skipped)} skipped: {skipped[0]['reason']})" if skipped else ""))
        try:
            assignment = splits.assign_splits(
                [(key.subject, key.trial) for key in keys], split_config,
                strata={(key.subject, key.trial): tuple(key.labels) for key in keys})
        except ValueError as error:
            raise ExampleGenError(f"ExampleGen cannot split {source}: {error}") from error
        shape, channel_names = _sample_shape(dataset, keys, preprocess_config, parameters["eeg_channels"])
        record_schema = _record_schema(preprocess_config, channel_names, shape)

        elements, shards = plan_elements(keys, assignment, parameters["records_per_shard"])
        progress_dir = os.path.join(output_dir, _PROGRESS_DIR)
        reports_dir = os.path.join(output_dir, _REPORTS_DIR)
        os.makedirs(progress_dir)
        do_fn = _ProcessTrialDoFn(dataset, parameters, dataclasses.asdict(shape), record_schema.electrodes,
                                  dataset.name, progress_dir, os.path.join(output_dir, _STAGED_RECORDS_DIR))
        write_fn = _WriteShardDoFn(output_dir, shards)
        started = time.perf_counter()
        # Beam logs while it builds and runs the pipeline, and so do its worker processes: all to beam_log.
        with _stderr_to(self.beam_log):
            pipeline = _build_pipeline(make_pipeline(self.flags), elements, shards, do_fn, write_fn, reports_dir)
            with _ProgressWatcher(progress_dir, len(elements), self.progress):
                try:
                    pipeline.run().wait_until_finish()
                except Exception as error:
                    raise _pipeline_error(error, progress_dir) from error
        seconds = time.perf_counter() - started

        reports = _read_reports(reports_dir)
        shutil.rmtree(progress_dir)
        shutil.rmtree(reports_dir)
        shutil.rmtree(os.path.join(output_dir, _STAGED_RECORDS_DIR), ignore_errors=True)
        stats = _stats(parameters, dataset, shape, listed, elements, reports, skipped, eeg_only_keys, output_dir,
                       seconds)
        if stats["trials"]["written"] == 0:
            raise ExampleGenError(
                f"ExampleGen wrote no trial of {source}: all {len(elements)} failed; first reason: "
                f"{stats['skipped'][0]['reason'] if stats['skipped'] else 'unknown'}")
        features.write_schema(os.path.join(output_dir, tfrecord_reader.SCHEMA_FILE), record_schema)
        with open(os.path.join(output_dir, tfrecord_reader.STATS_FILE), "w") as handle:
            json.dump(stats, handle, indent=2)
        return {"summary": _summary(stats), "beam_flags": self.flags}


def plan_elements(keys, assignment, records_per_shard):
    """The pipeline's elements in the order the workers should get them, and the shard count per split.

    Each element names its trial, split, shard and position in the shard. Within a split, trials in
    (subject, trial) order are cut into equal consecutive shards of at most `records_per_shard`. The list
    is ordered face trials first (each costs ~50x an EEG-only trial), so a runner that deals elements to
    its workers in turn gives every worker the same share of the expensive ones.

    Returns:
        (elements, {split: number of shards}).
    """
    elements, shards = [], {}
    for name in splits.SPLIT_NAMES:
        members = sorted((key for key in keys if assignment[(key.subject, key.trial)] == name),
                         key=lambda key: (key.subject, key.trial))
        count = max(1, math.ceil(len(members) / records_per_shard))
        shards[name] = count
        per_shard = math.ceil(len(members) / count) if members else 1
        for index, key in enumerate(members):
            elements.append({"subject": key.subject, "trial": key.trial, "split": name,
                             "shard": index // per_shard, "position": index % per_shard,
                             "has_face_video": key.face_video is not None, "key": key})
    elements.sort(key=lambda element: (not element["has_face_video"], element["subject"], element["trial"]))
    return elements, shards


def shard_path(output_dir, split, shard, num_shards):
    """`<out>/Split-<split>/data_tfrecord-NNNNN-of-MMMMM.gz` (the TFX layout)."""
    return os.path.join(output_dir, f"Split-{split}", f"{tfrecord_reader.RECORD_FILE_PREFIX}-{shard:05d}-of-"
                                                      f"{num_shards:05d}{tfrecord_reader.RECORD_FILE_SUFFIX}")


def gzip_record_member(serialized):
    """One TFRecord (length, CRCs, data) as a complete GZIP member with no time stamp (same bytes every run)."""
    from apache_beam.io.tfrecordio import _TFRecordUtil  # Beam's own TFRecord framing, as its TFRecord sink

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as member:
        _TFRecordUtil.write_record(member, serialized)
    return buffer.getvalue()


def _build_pipeline(pipeline, elements, shards, do_fn, write_fn, reports_dir):
    """ListTrials -> DistributeTrials -> ProcessTrial -> GroupByKey(shard) -> WriteShard; reports -> JSON lines.

    A split without planned trials still gets its one (empty) shard file, as every split folder exists.
    """
    empty_splits = sorted(set(shards) - {element["split"] for element in elements})
    processed = (pipeline
                 | "ListTrials" >> beam.Create(list(enumerate(elements)), reshuffle=False)
                 # A GroupByKey on the element's index is Beam's Reshuffle with keys that keep the plan's
                 # order: the local runner deals them to its workers in turn (Reshuffle's random keys
                 # could give one worker most face trials).
                 | "DistributeTrials" >> beam.GroupByKey()
                 | "Trials" >> beam.FlatMap(lambda indexed: indexed[1])
                 | "ProcessTrial" >> beam.ParDo(do_fn).with_outputs(_REPORT_TAG, main="staged"))
    empty_shards = pipeline | "EmptySplits" >> beam.Create([((name, 0), (0, None)) for name in empty_splits])
    ((processed.staged, empty_shards)
     | "AllShards" >> beam.Flatten()
     | "ByShard" >> beam.GroupByKey()
     | "WriteShard" >> beam.ParDo(write_fn))
    (processed[_REPORT_TAG]
     | "ReportJSON" >> beam.Map(lambda report: json.dumps(report, sort_keys=True))
     | "WriteReports" >> beam.io.WriteToText(os.path.join(reports_dir, "trial_reports"),
                                              file_name_suffix=".jsonl", num_shards=1))
    return pipeline


class _ProcessTrialDoFn(beam.DoFn):
    """A planned trial -> its record staged on disk; yields ((split, shard), (position, staged file)) + a report.

    Built once per worker (`setup`): the dataset reader (shipped as its arguments) and the `TrialPreprocessor`
    (MediaPipe detector, interpolation operator) are reused across that worker's trials. A trial that is skipped still yields
    its shard key (with no file), so every planned shard is written, if need be empty.
    """

    def __init__(self, reader, parameters, shape, electrodes, dataset_name, progress_dir, staging_dir):
        self.reader = reader
        self.parameters = parameters
        self.shape = shape
        self.electrodes = tuple(electrodes)
        self.dataset_name = dataset_name
        self.progress_dir = progress_dir
        self.staging_dir = staging_dir

    def setup(self):
        from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor

        self._preprocessor = TrialPreprocessor(PreprocessConfig.from_dict(self.parameters["preprocess"]))
        self._shape = features.SampleShape(**self.shape)

    def process(self, element):
        subject, trial_id, split = element["subject"], element["trial"], element["split"]
        shard_key = (split, element["shard"])
        key = element["key"]
        files = [getattr(key, "source_file", None), key.face_video]
        try:
            trial = self.reader.load_trial(key)
            files = [trial.source_file, trial.face_video]
            if self.parameters["eeg_channels"] is not None:
                trial = dataclasses.replace(trial, eeg_channels=tuple(self.parameters["eeg_channels"]))
            sample, preprocess_report = self._preprocessor.process(trial, dataset=self.dataset_name)
            _check_sample(sample, self._shape, self.electrodes, trial.eeg_channels)
            serialized = features.encode_example(sample)
        except BAD_INPUT_ERRORS as error:
            message = str(error)
            if f"{subject} trial {trial_id}" not in message:
                message = f"subject {subject} trial {trial_id}: {message}"
            if self.parameters["on_error"] == "stop":
                self._mark(subject, trial_id, "error", message)
                raise _TrialInputError(message) from error
            self._mark(subject, trial_id, "skipped")
            yield shard_key, (element["position"], None)
            yield beam.pvalue.TaggedOutput(_REPORT_TAG, _skip_record(subject, trial_id, split, message, *files))
            return
        member = gzip_record_member(serialized)
        staged = self._stage(element, member)
        operator = self._preprocessor.interpolation_operator(trial.eeg_channels)
        report = {
            "subject": subject, "trial": trial_id, "split": split, "status": "written",
            "labels": {target: int(sample[features.label_key(target)]) for target in features.TARGETS},
            "eeg_only": trial.face_video is None,
            "detection_rate": None if trial.face_video is None else preprocess_report.get("detection_rate"),
            "eeg_moments": operator.pixel_moments(sample[features.EEG_BAND_ENERGY_KEY]),
            "record_bytes": {"serialized": len(serialized), "stored": len(member)},
            "preprocess": preprocess_report,
        }
        self._mark(subject, trial_id, "done")
        yield shard_key, (element["position"], staged)
        yield beam.pvalue.TaggedOutput(_REPORT_TAG, report)

    def teardown(self):
        preprocessor = getattr(self, "_preprocessor", None)
        if preprocessor is not None:
            preprocessor.close()

    def _stage(self, element, member):
        """Write a trial's GZIP member under the staging folder (atomically: a retried bundle rewrites it)."""
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        name = f"{element['split']}-{element['shard']:05d}-{element['position']:05d}.gz"
        path = FileSystems.join(self.staging_dir, name)
        partial = f"{path}.partial-{os.getpid()}"
        with FileSystems.create(partial, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            handle.write(member)
        FileSystems.rename([partial], [path])
        return path

    def _mark(self, subject, trial, status, message=""):
        # Progress for the main process's display; on a remote runner the folder is not there: no display.
        try:
            with open(os.path.join(self.progress_dir, f"{subject}-{trial:03d}.{status}"), "w") as handle:
                handle.write(message)
        except OSError:
            pass


class _WriteShardDoFn(beam.DoFn):
    """((split, shard), [(position, staged member or None), ...]) -> the shard's TFRecord file.

    Copies the members in position order, 1 MB at a time, into a hidden partial file that is renamed into
    place when complete, then deletes the members. A shard whose trials were all skipped is an empty GZIP
    stream (a valid file of zero records), so the -NNNNN-of-MMMMM names stay complete.
    """

    def __init__(self, output_dir, shards):
        self.output_dir = output_dir
        self.shards = dict(shards)

    def process(self, keyed):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        (split, shard), parts = keyed
        members = [path for _, path in sorted(parts, key=lambda part: part[0]) if path is not None]
        path = shard_path(self.output_dir, split, shard, self.shards[split])
        partial = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial-{os.getpid()}")
        uncompressed = CompressionTypes.UNCOMPRESSED
        with FileSystems.create(partial, compression_type=uncompressed) as out:
            for member in members:
                with FileSystems.open(member, compression_type=uncompressed) as source:
                    shutil.copyfileobj(source, out, 1 << 20)
            if not members:
                out.write(gzip.compress(b"", mtime=0))
        FileSystems.rename([partial], [path])
        if members:
            FileSystems.delete(members)
        yield path


class _TrialInputError(ValueError):
    """Raised inside the pipeline by a trial with bad input when `on_error="stop"`."""


def _check_channel_names(eeg_channels, preprocess_config):
    if eeg_channels is None:
        return
    from emorecog.datasets.deap_format import EEG_CHANNELS
    from emorecog.preprocessing.eeg_images import electrode_positions

    if len(eeg_channels) != len(EEG_CHANNELS):
        raise ExampleGenError(
            f"eeg_channels names {len(eeg_channels)} channels, the data files hold {len(EEG_CHANNELS)} EEG rows")
    try:
        electrode_positions(eeg_channels, preprocess_config.montage)
    except ValueError as error:
        raise ExampleGenError(f"ExampleGen: bad eeg_channels: {error}") from error


def _sample_shape(dataset, keys, preprocess_config, eeg_channels):
    """(`SampleShape` every record must have, EEG channel names).

    T comes from `preprocess_config.trial_seconds` or else from the first readable trial's duration.
    """
    for key in keys[:10]:
        try:
            trial = dataset.load_trial(key)
        except BAD_INPUT_ERRORS:
            continue  # reported when the pipeline reaches it
        channels = tuple(eeg_channels) if eeg_channels is not None else tuple(trial.eeg_channels)
        return preprocess_config.sample_shape(preprocess_config.trial_seconds or trial.duration_s), channels
    raise ExampleGenError(f"ExampleGen: none of the first trials of {dataset.root} can be read")


def _record_schema(preprocess_config, channel_names, shape):
    """The `features.RecordSchema` of this run: the shape and the channels' interpolation operator."""
    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor

    try:
        return TrialPreprocessor(preprocess_config).record_schema(channel_names, shape)
    except ValueError as error:
        raise ExampleGenError(f"ExampleGen: cannot build the EEG interpolation operator: {error}") from error


def _check_sample(sample, shape, electrodes, channel_names):
    """Refuse a sample whose arrays disagree with the schema (never write a wrong record)."""
    import numpy as np

    if tuple(channel_names) != tuple(electrodes):
        raise ValueError(f"EEG channels {list(channel_names)} differ from the run's electrode order {list(electrodes)}")
    energy = np.asarray(sample[features.EEG_BAND_ENERGY_KEY])
    expected = (shape.num_frames, len(electrodes), len(features.EEG_BANDS))
    if energy.shape != expected or energy.dtype != np.float32:
        raise ValueError(f"EEG band energies have shape {energy.shape} {energy.dtype}, expected {expected} float32 "
                         f"(trials must all last {shape.num_frames} frames)")
    if not np.all(np.isfinite(energy)):
        raise ValueError("EEG band energies hold NaN or infinite values")
    if len(sample[features.FACE_KEY]) != shape.num_frames:
        raise ValueError(f"{len(sample[features.FACE_KEY])} face crops, expected {shape.num_frames}")
    present = np.asarray(sample[features.FACE_PRESENT_KEY])
    if present.shape != (shape.num_frames,) or not np.isin(present, (0, 1)).all():
        raise ValueError(f"face_present has shape {present.shape}, expected {shape.num_frames} values of 0/1")


def _band_moments(eeg):
    """Per-band count, mean and sum of squared deviations of EEG images [T, H, W, 3] (float64)."""
    import numpy as np

    values = np.asarray(eeg, dtype=np.float64).reshape(-1, eeg.shape[-1])
    mean = values.mean(axis=0)
    return {"count": int(values.shape[0]), "mean": mean.tolist(),
            "m2": ((values - mean) ** 2).sum(axis=0).tolist()}


def _combine_moments(moments):
    """Chan et al.'s parallel combination of per-trial moments -> (count, mean, std) per band."""
    import numpy as np

    count, mean, m2 = 0, np.zeros(len(features.EEG_BANDS)), np.zeros(len(features.EEG_BANDS))
    for part in moments:
        n, part_mean, part_m2 = part["count"], np.asarray(part["mean"]), np.asarray(part["m2"])
        total = count + n
        delta = part_mean - mean
        mean = mean + delta * n / total
        m2 = m2 + part_m2 + delta ** 2 * count * n / total
        count = total
    std = np.sqrt(m2 / count) if count else np.zeros_like(m2)
    return count, mean, std


def _skip_record(subject, trial, split, reason, *files):
    return {"subject": subject, "trial": trial, "split": split, "status": "skipped", "reason": reason,
            "files": [str(path) for path in files if path]}


def _read_reports(reports_dir):
    reports = []
    for name in sorted(os.listdir(reports_dir)):
        with open(os.path.join(reports_dir, name)) as handle:
            reports.extend(json.loads(line) for line in handle if line.strip())
    return reports


def _pipeline_error(error, progress_dir):
    """An ExampleGenError with the failing trial's own message (a worker's traceback is long and wrapped)."""
    messages = []
    if os.path.isdir(progress_dir):
        for name in sorted(os.listdir(progress_dir)):
            if name.endswith(".error"):
                with open(os.path.join(progress_dir, name)) as handle:
                    messages.append(handle.read())
    if messages:
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        return ExampleGenError(f"ExampleGen stopped (on_error='stop'): {messages[0]}{more}")
    return ExampleGenError(f"ExampleGen's Beam pipeline failed: {error}")


def _stats(parameters, dataset, shape, listed, elements, reports, listing_skipped, eeg_only_keys, output_dir,
           seconds):
    written = sorted((r for r in reports if r["status"] == "written"), key=lambda r: (r["subject"], r["trial"]))
    skipped = listing_skipped + sorted((r for r in reports if r["status"] == "skipped"),
                                       key=lambda r: (r["subject"], r["trial"]))
    per_split = {}
    for name in splits.SPLIT_NAMES:
        rows = [r for r in written if r["split"] == name]
        per_split[name] = {
            "samples": len(rows),
            "subjects": sorted({r["subject"] for r in rows}),
            "labels": {target: {str(value): sum(r["labels"][target] == value for r in rows) for value in (0, 1)}
                       for target in features.TARGETS},
            "eeg_only": sum(r["eeg_only"] for r in rows),
            "planned": sum(element["split"] == name for element in elements),
        }
    count, mean, std = _combine_moments(r["eeg_moments"] for r in written if r["split"] == "train")
    with_video = [r for r in written if not r["eeg_only"]]
    detection_rates = [r["detection_rate"] for r in with_video]
    files = {}
    for name in splits.SPLIT_NAMES:
        for path in sorted(tfrecord_reader.split_files(output_dir, name)):
            files[os.path.relpath(path, output_dir)] = tfrecord_reader.file_manifest_entry(path)
    skip_eeg_only = parameters["skip_eeg_only"]
    return {
        "dataset": dataset.name,
        "source_format": parameters["source_format"],
        "source": dataset.root,
        "preprocess": parameters["preprocess"],
        "preprocess_config_hash": parameters["preprocess_config_hash"],
        "sample_shape": dataclasses.asdict(shape),
        "label_rule": parameters["label_rule"],
        "split_config": parameters["split"],
        "on_error": parameters["on_error"],
        "trials": {"listed": listed["trials"], "subjects_skipped": listed["subjects_skipped"],
                   "processed": len(elements), "written": len(written), "skipped": len(skipped),
                   "eeg_only_written": sum(r["eeg_only"] for r in written)},
        "splits": per_split,
        "eeg_only_policy": {
            "policy": "skip" if skip_eeg_only else "write",
            "description": ("trials without face video are left out" if skip_eeg_only else
                            "trials without face video are written with face_present = 0 and black crops"),
            "trials_without_video": [{"subject": key.subject, "trial": key.trial} for key in eeg_only_keys],
        },
        "eeg_normalization": {
            "split": "train", "bands": list(features.EEG_BANDS), "count": int(count),
            "trials": sum(r["split"] == "train" for r in written),
            "mean": [float(value) for value in mean], "std": [float(value) for value in std],
            "note": "over every pixel of the train split's EEG images, per band (last axis of `eeg`)",
        },
        "face_detection": {
            "trials_with_video": len(with_video),
            "mean_detection_rate": (sum(detection_rates) / len(detection_rates)) if detection_rates else None,
            "min_detection_rate": min(detection_rates) if detection_rates else None,
        },
        "skipped": skipped,
        "per_trial": [{key: value for key, value in r.items() if key != "eeg_moments"} for r in written],
        "records": {
            "schema_version": features.RECORD_SCHEMA_VERSION,
            "stored_bytes_per_trial": _byte_summary([r["record_bytes"]["stored"] for r in written]),
            "stored_bytes_per_trial_with_face": _byte_summary(
                [r["record_bytes"]["stored"] for r in written if not r["eeg_only"]]),
        },
        "files": files,
        "seconds": round(seconds, 3),
        "trials_per_second": round(len(elements) / seconds, 4) if seconds > 0 else None,
    }


def _byte_summary(sizes):
    if not sizes:
        return None
    return {"count": len(sizes), "mean": round(sum(sizes) / len(sizes)), "max": max(sizes)}


def _summary(stats):
    return {
        "trials": stats["trials"],
        "splits": {name: stats["splits"][name]["samples"] for name in splits.SPLIT_NAMES},
        "skipped": [{k: r[k] for k in ("subject", "trial", "reason")} for r in stats["skipped"]],
        "mean_detection_rate": stats["face_detection"]["mean_detection_rate"],
        "seconds": stats["seconds"],
        "trials_per_second": stats["trials_per_second"],
    }


class _ProgressWatcher:
    """Calls `callback(done, total)` about twice a second while the pipeline runs (from a thread).

    Workers drop one marker file per finished trial into `progress_dir`; counting them is the only
    coupling, so it works for any local runner mode (in-process, threads or processes).
    """

    def __init__(self, progress_dir, total, callback, interval=0.5):
        self.progress_dir = progress_dir
        self.total = total
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.callback is not None:
            self._thread = threading.Thread(target=self._watch, name="example-gen-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.callback(self._count(), self.total)

    def _count(self):
        try:
            return len(os.listdir(self.progress_dir))
        except OSError:
            return 0

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.callback(self._count(), self.total)


@contextlib.contextmanager
def _stderr_to(path):
    """Send file descriptor 2 (this process's and its worker subprocesses' stderr) to `path` for a while."""
    if path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
