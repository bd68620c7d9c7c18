"""ExampleGen's ProcessTrial step: one planned trial -> its record staged on disk, and a report.

A worker reads the trial (`reader.load_trial`), preprocesses it (`TrialPreprocessor.process`), checks the
sample against the run's record schema (`features.check_sample`), serialises it (`features.encode_example`)
and writes it at once as a one-record GZIP member in the staging folder (`record_shards`). Only a small
reference (split, shard, position, staged file) travels on, plus the trial's report (a row of stats.json's
`per_trial`, `emorecog.example_statistics`).

A trial with bad input (`BAD_INPUT_ERRORS`: a corrupt or short video, EEG with NaN, an unreadable subject
file, a sample of the wrong shape) is reported under a message naming the subject, trial and file: with
`on_error="skip"` as a skip record, with `on_error="stop"` by failing the pipeline (`TrialInputError`). A
record is never written from a trial that failed a check.
"""

import dataclasses

from emorecog import features
from emorecog.components import record_shards, trial_progress
from emorecog.components.beam_runner import beam

REPORT_TAG = "reports"
# Errors that mean "this trial's input is bad" (DeapFormatError is a ValueError). Anything else is a bug
# and fails the run whatever `on_error` says.
BAD_INPUT_ERRORS = (ValueError, OSError, EOFError)


class TrialInputError(ValueError):
    """Raised inside the pipeline by a trial with bad input when `on_error="stop"`."""


def skip_record(subject, trial, split, reason, *files):
    """stats.json's entry for a trial left out (`trial` and `split` are None for a whole subject)."""
    return {
        "subject": subject,
        "trial": trial,
        "split": split,
        "status": "skipped",
        "reason": reason,
        "files": [str(path) for path in files if path],
    }


class ProcessTrialDoFn(beam.DoFn):
    """A planned trial -> ((split, shard), (position, staged file or None)), and a report tagged REPORT_TAG.

    Built once per worker (`setup`): the dataset reader (shipped as its arguments) and the `TrialPreprocessor`
    (MediaPipe detector, interpolation operator) are reused across that worker's trials. A trial that is
    skipped still yields its shard key (with no file), so every planned shard is written, if need be empty.

    Args:
        reader: the dataset reader (`emorecog.datasets.dataset_reader`).
        parameters: ExampleGen's parameters (`preprocess`, `eeg_channels`, `on_error`).
        record_schema: the run's `features.RecordSchema`.
        dataset_name: written into every record.
        progress_dir: where each trial's progress marker goes (`trial_progress`).
        staging_dir: where the records' GZIP members wait for their shard.
    """

    def __init__(self, reader, parameters, record_schema, dataset_name, progress_dir, staging_dir):
        self.reader = reader
        self.parameters = parameters
        self.record_schema = record_schema
        self.dataset_name = dataset_name
        self.progress_dir = progress_dir
        self.staging_dir = staging_dir

    def setup(self):
        from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor

        self._preprocessor = TrialPreprocessor(PreprocessConfig.from_dict(self.parameters["preprocess"]))

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
            features.check_sample(sample, self.record_schema, trial.eeg_channels)
            serialized = features.encode_example(sample)
        except BAD_INPUT_ERRORS as error:
            message = str(error)
            if f"{subject} trial {trial_id}" not in message:
                message = f"subject {subject} trial {trial_id}: {message}"
            if self.parameters["on_error"] == "stop":
                trial_progress.mark_trial(self.progress_dir, subject, trial_id, trial_progress.ERROR, message)
                raise TrialInputError(message) from error
            trial_progress.mark_trial(self.progress_dir, subject, trial_id, trial_progress.SKIPPED)
            yield shard_key, (element["position"], None)
            yield beam.pvalue.TaggedOutput(REPORT_TAG, skip_record(subject, trial_id, split, message, *files))
            return
        member = record_shards.gzip_record_member(serialized)
        staged = record_shards.stage_record_member(self.staging_dir, element, member)
        operator = self._preprocessor.interpolation_operator(trial.eeg_channels)
        report = {
            "subject": subject,
            "trial": trial_id,
            "split": split,
            "status": "written",
            "labels": {target: int(sample[features.label_key(target)]) for target in features.TARGETS},
            "eeg_only": trial.face_video is None,
            "detection_rate": None if trial.face_video is None else preprocess_report.get("detection_rate"),
            "eeg_moments": operator.pixel_moments(sample[features.EEG_BAND_ENERGY_KEY]),
            "record_bytes": {"serialized": len(serialized), "stored": len(member)},
            "preprocess": preprocess_report,
        }
        trial_progress.mark_trial(self.progress_dir, subject, trial_id, trial_progress.DONE)
        yield shard_key, (element["position"], staged)
        yield beam.pvalue.TaggedOutput(REPORT_TAG, report)

    def teardown(self):
        preprocessor = getattr(self, "_preprocessor", None)
        if preprocessor is not None:
            preprocessor.close()
