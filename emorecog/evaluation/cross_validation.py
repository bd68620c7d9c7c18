"""Cross-validation folds over one ExampleGen output, without copying or preprocessing anything again.

A fold is an index, not a copy: `write_fold_index` pools the records of every split of an ExampleGen
output, assigns whole trials with `emorecog.splits.assign_splits` (test = fold k, eval = the next fold for
model selection, train = the other folds; folds of whole subjects, or of each subject's trials), and writes

    fold_index.json   the pooled output's path; per split the record files holding its trials and the
                      (subject, trial) keys it keeps; size and SHA-256 of every referenced file
    stats.json        ExampleGen's layout (`emorecog.example_statistics`): counts per split and label, face
                      detection and record sizes (from the pooled output's per-trial rows), and the EEG
                      normalisation recomputed from the fold's OWN train split; plus the split warnings and
                      the pooled output (`derived_from`)

`emorecog.datasets.tfrecord_reader` reads such a folder like an ExampleGen output (`split_records`). The
FoldExamples component (`emorecog.components.fold_examples`) runs this with caching and an atomic output;
the cross-validation pipeline (`emorecog.pipelines.cross_validation`) trains and evaluates every fold.

Folds are numbered from 1 wherever a person reads them (progress lines, the results table, folder names,
cv_results.json); `SplitConfig.fold` is the 0-based index of fold number `fold + 1`.
"""

import dataclasses
import json
import os
import warnings

from emorecog import example_statistics, features, splits

REPORTED_METRICS = ("accuracy", "f1_macro", "balanced_accuracy")


def fold_count(data_dir, folds, mode):
    """How many folds `folds` ("loso" or K) makes of the records of `data_dir`."""
    keys = [record.key for record in pooled_records(data_dir, read_eeg=False)]
    return len(splits.cross_validation_folds(keys, folds, mode=mode))


def fold_folder_name(fold_number):
    """The folder of fold number `fold_number` (1-based), e.g. "fold-1"."""
    return f"fold-{fold_number}"


@dataclasses.dataclass(frozen=True)
class PooledRecord:
    """One record of a pooled ExampleGen output.

    Attributes:
        key: (subject, trial).
        labels: the binary labels in `features.TARGETS` order.
        file_name: the record file holding it, relative to the ExampleGen output.
        eeg_moments: `example_statistics.band_moments` of its EEG images, or None.
    """

    key: tuple
    labels: tuple
    file_name: str
    eeg_moments: tuple | None = None


def pooled_records(data_dir, read_eeg=True):
    """Every record of every split of the ExampleGen output `data_dir`, files verified by SHA-256 first.

    Args:
        read_eeg: also compute each record's per-band EEG image moments (for a train split's normalisation).

    Returns:
        A list of `PooledRecord`.

    Raises:
        ValueError: a (subject, trial) appears twice, or `data_dir` is itself a fold.
    """
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader

    record_schema = tfrecord_reader.read_record_schema(data_dir) if read_eeg else None
    records = []
    for name in splits.SPLIT_NAMES:
        try:
            files = tfrecord_reader.verify_split_files(data_dir, name)
        except FileNotFoundError:
            continue
        for path in files:
            file_name = os.path.relpath(path, data_dir)
            for serialized in tf.data.TFRecordDataset(path, compression_type=tfrecord_reader.RECORD_COMPRESSION):
                example = tf.train.Example.FromString(serialized.numpy())
                key, labels = _key_of(example)
                moments = None
                if read_eeg:
                    eeg = features.eeg_images_of_example(example, record_schema)
                    moments = example_statistics.band_moments(eeg)
                records.append(PooledRecord(key, labels, file_name, moments))
    if len({record.key for record in records}) != len(records):
        raise ValueError(f"{data_dir}: a (subject, trial) appears in more than one record")
    return records


def write_fold_index(data_dir, split_config, output_dir):
    """Write fold `split_config.fold` of `data_dir` as fold_index.json and stats.json in `output_dir`.

    Args:
        data_dir: an ExampleGen output (any split layout; all its records are pooled).
        split_config: a `splits.SplitConfig` with `fold` and `folds`.
        output_dir: an existing folder (the component's staging folder).

    Returns:
        The stats dict (also written as stats.json).
    """
    from emorecog.datasets import tfrecord_reader

    data_dir = os.path.abspath(data_dir)
    records = pooled_records(data_dir)
    labels = {record.key: record.labels for record in records}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", splits.SplitWarning)
        assignment = splits.assign_splits(list(labels), split_config, strata=labels)
    fold_name = f"fold {split_config.fold + 1} of {split_config.folds}"
    # Kept with the fold (stats.json, the component's metadata), so a rerun that reuses it still says so.
    split_warnings = [
        f"{fold_name}: {warning.message}" for warning in caught if issubclass(warning.category, splits.SplitWarning)
    ]

    source_stats = tfrecord_reader.read_stats(data_dir)
    source_manifest = source_stats.get("files", {})
    index = {"source": data_dir, "splits": {}, "files": {}}
    per_split = {name: [record for record in records if assignment[record.key] == name] for name in splits.SPLIT_NAMES}
    for name, members in per_split.items():
        file_names = sorted({record.file_name for record in members})
        index["splits"][name] = {"files": file_names, "trials": sorted([list(record.key) for record in members])}
        for file_name in file_names:
            index["files"][file_name] = source_manifest[file_name]
    with open(os.path.join(output_dir, tfrecord_reader.FOLD_INDEX_FILE), "w") as handle:
        json.dump(index, handle, indent=2)

    source_rows = {(row["subject"], row["trial"]): row for row in source_stats.get("per_trial", [])}
    written = []
    for name, members in per_split.items():
        for record in members:
            if record.key not in source_rows:
                raise ValueError(
                    f"{os.path.join(data_dir, tfrecord_reader.STATS_FILE)} has no per_trial row of "
                    f"subject {record.key[0]} trial {record.key[1]} (found in {record.file_name})"
                )
            written.append(
                {
                    **source_rows[record.key],
                    "split": name,
                    "labels": dict(zip(features.TARGETS, record.labels)),
                    "eeg_moments": record.eeg_moments,
                }
            )
    stats = example_statistics.build_stats(
        written,
        f"{fold_name} ({split_config.mode} folds) of {data_dir}",
        tfrecord_reader.read_sample_shape(data_dir),
        split_config.to_dict(),
        derived_from=data_dir,
        split_warnings=split_warnings,
    )
    with open(os.path.join(output_dir, tfrecord_reader.STATS_FILE), "w") as handle:
        json.dump(stats, handle, indent=2)
    return stats


def fold_result_row(fold_number, report, test_subjects):
    """One row of cv_results.json's per_fold table: the fold's test scores next to every baseline."""
    from emorecog.evaluation.model_evaluation import comparison_row

    return {
        "fold": fold_number,
        "test_subjects": test_subjects,
        "num_test_samples": report["num_samples"],
        **comparison_row(report),
        "blessed": report["blessing"]["blessed"],
    }


def cross_validation_summary(rows):
    """Mean, std, min and max over the folds of every score of the per-fold rows."""
    from emorecog.evaluation.metrics import mean_and_spread

    return {
        key: mean_and_spread([row[key] for row in rows])
        for key in rows[0]
        if key not in ("fold", "test_subjects", "num_test_samples", "blessed")
    }


def _key_of(example):
    feature = example.features.feature
    subject = feature[features.SUBJECT_KEY].bytes_list.value[0].decode()
    trial = int(feature[features.TRIAL_KEY].int64_list.value[0])
    labels = tuple(int(feature[features.label_key(target)].int64_list.value[0]) for target in features.TARGETS)
    return (subject, trial), labels
