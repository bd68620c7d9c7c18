"""ExampleGen's plan, fixed before the Beam pipeline runs: which trials, in which split, shard and position.

The trials come from the dataset reader's public `list_trials()`; the splits from the labels alone
(`emorecog.splits`, so no trial is ever cut across splits); the shards from `record_shards.plan_elements`.
Run-level problems found here (a refused file, no trial left, a split that cannot be made, EEG channel
names the montage does not place) stop the run whatever `on_error` says.
"""

import dataclasses

from emorecog import splits
from emorecog.components import record_shards
from emorecog.components.process_trial import BAD_INPUT_ERRORS, skip_record


class ExampleGenError(RuntimeError):
    """The ExampleGen run failed on bad input (the message names the subject, trial and file)."""


def open_source(source_format, source, label_rule, montage):
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
        raise ExampleGenError(
            f"ExampleGen stopped: {error} (a refused file stops the run whatever on_error says)"
        ) from error
    listed = {"trials": len(keys), "subjects_skipped": len(skipped)}
    eeg_only_keys = [key for key in keys if key.face_video is None]
    if parameters["skip_eeg_only"]:
        skipped += [
            skip_record(
                key.subject, key.trial, None, "no face video: EEG-only trial left out (skip_eeg_only)", key.face_video
            )
            for key in eeg_only_keys
        ]
        keys = [key for key in keys if key.face_video is not None]
    if not keys:
        raise ExampleGenError(
            f"ExampleGen: no trial of {dataset.root} is left to write"
            + (f" ({len(skipped)} skipped: {skipped[0]['reason']})" if skipped else "")
        )
    try:
        assignment = splits.assign_splits(
            [(key.subject, key.trial) for key in keys],
            splits.SplitConfig(**parameters["split"]),
            strata={(key.subject, key.trial): tuple(key.labels) for key in keys},
        )
    except ValueError as error:
        raise ExampleGenError(f"ExampleGen cannot split {dataset.root}: {error}") from error
    record_schema = _record_schema(dataset, keys, preprocess_config, parameters["eeg_channels"])
    elements, shards = record_shards.plan_elements(keys, assignment, parameters["records_per_shard"])
    return TrialPlan(elements, shards, record_schema, listed, skipped, eeg_only_keys)


def _check_channel_names(eeg_channels, preprocess_config):
    """Refuse `eeg_channels` (names of the data files' 32 EEG rows) that the montage does not place."""
    if eeg_channels is None:
        return
    from emorecog.datasets.deap import EEG_CHANNELS
    from emorecog.preprocessing.eeg_images import electrode_positions

    if len(eeg_channels) != len(EEG_CHANNELS):
        raise ExampleGenError(
            f"eeg_channels names {len(eeg_channels)} channels, the data files hold {len(EEG_CHANNELS)} EEG rows"
        )
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
