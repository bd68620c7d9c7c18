"""Cross-validation folds from one ExampleGen output, without preprocessing anything again.

Each fold is a `FoldExamples` component output: the records of every split of the source ExampleGen output
pooled and re-assigned by `emorecog.splits.fold_splits` (test = fold k, eval = fold k + 1 for model
selection, train = the other folds; folds of whole subjects, or of each subject's trials), written in
ExampleGen's layout (Split-*/ GZIP TFRecords, schema.json, and a stats.json whose EEG normalisation is
recomputed from the fold's OWN train split). Records are copied byte for byte; a trial never straddles
splits. `run_cross_validation` then trains and evaluates every fold and reports mean and spread.
"""

import json
import os
import shutil

import numpy as np

from emorecog import features
from emorecog import splits
from emorecog.components import component

FOLD_EXAMPLES_SPEC = component.ComponentSpec(
    name="FoldExamples",
    parameters=("split", "preprocess", "label_rule"),
    inputs=("examples",),
    outputs=tuple(f"Split-{name}" for name in splits.SPLIT_NAMES) + ("schema.json", "stats.json"),
)
REPORTED_METRICS = ("accuracy", "f1_macro", "balanced_accuracy")


def fold_count(data_dir, folds, mode):
    """How many folds `folds` ("loso" or K) makes of the records of `data_dir`."""
    keys = [(subject, trial) for subject, trial, _ in _record_keys(data_dir)]
    return len(splits.cross_validation_folds(keys, folds, mode=mode))


def write_fold_examples(data_dir, fold, folds, mode="subject", seed=0, output_dir=None, force=False):
    """Write fold `fold` of `folds` of an ExampleGen output as a new ExampleGen-layout directory.

    Args:
        data_dir: ExampleGen output (any split layout; all records are pooled).
        fold: index of the test fold (0-based).
        folds: "loso" (needs mode "subject") or an int >= 3.
        mode: "subject" (folds of whole subjects) or "trial" (folds of each subject's trials, stratified).
        seed: shuffle seed of the fold assignment.
        output_dir: where the fold goes (atomically, skipped when unchanged).

    Returns:
        The `ComponentRun`.
    """
    source = component.read_metadata(data_dir) or {}
    parameters = {
        "split": splits.SplitConfig(mode=mode, seed=seed, fold=fold, folds=folds).to_dict(),
        "preprocess": (source.get("parameters") or {}).get("preprocess"),
        "label_rule": (source.get("parameters") or {}).get("label_rule"),
    }
    return component.run_component(FOLD_EXAMPLES_SPEC, _fold_executor, parameters, {"examples": data_dir},
                                   output_dir, force=force)


def _fold_executor(parameters, inputs, output_dir):
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader

    data_dir = inputs["examples"]
    config = splits.SplitConfig(**{**parameters["split"], "ratios": tuple(parameters["split"]["ratios"])})
    records = _record_keys(data_dir)
    strata = {(subject, trial): labels for subject, trial, labels in records}
    assignment = splits.assign_splits(list(strata), config, strata=strata)
    record_schema = tfrecord_reader.read_record_schema(data_dir)
    shape = record_schema.shape

    writers, moments, per_split = {}, [], {name: [] for name in splits.SPLIT_NAMES}
    options = tf.io.TFRecordOptions(compression_type=tfrecord_reader.RECORD_COMPRESSION)
    paths = {}
    for name in splits.SPLIT_NAMES:
        os.makedirs(os.path.join(output_dir, f"Split-{name}"))
        paths[name] = os.path.join(output_dir, f"Split-{name}",
                                   f"{tfrecord_reader.RECORD_FILE_PREFIX}-00000-of-00001"
                                   f"{tfrecord_reader.RECORD_FILE_SUFFIX}")
        writers[name] = tf.io.TFRecordWriter(paths[name], options)
    try:
        for serialized in _all_records(data_dir):
            example = tf.train.Example.FromString(serialized)
            subject, trial, labels = _key_of(example)
            split = assignment[(subject, trial)]
            writers[split].write(serialized)
            per_split[split].append((subject, labels))
            if split == "train":
                eeg = features.eeg_images_of_example(example, record_schema)
                moments.append(_band_moments(eeg.reshape(-1, len(features.EEG_BANDS))))
    finally:
        for writer in writers.values():
            writer.close()

    shutil.copy(os.path.join(data_dir, tfrecord_reader.SCHEMA_FILE), os.path.join(output_dir, "schema.json"))
    count, mean, std = _combine_moments(moments)
    stats = {
        "dataset": f"fold {config.fold} of {config.folds} ({config.mode} folds) of {data_dir}",
        "derived_from": data_dir,
        "sample_shape": {"num_frames": shape.num_frames, "image_size": shape.image_size, "face_size": shape.face_size},
        "split_config": config.to_dict(),
        "splits": {
            name: {
                "samples": len(rows),
                "subjects": sorted({subject for subject, _ in rows}),
                "labels": {target: {str(value): sum(labels[index] == value for _, labels in rows) for value in (0, 1)}
                           for index, target in enumerate(features.TARGETS)},
            }
            for name, rows in per_split.items()
        },
        "eeg_normalization": {"split": "train", "bands": list(features.EEG_BANDS), "count": int(count),
                              "mean": [float(value) for value in mean], "std": [float(value) for value in std],
                              "note": "recomputed over this fold's train split only"},
        "files": {os.path.relpath(path, output_dir): tfrecord_reader.file_manifest_entry(path)
                  for path in paths.values()},
    }
    with open(os.path.join(output_dir, "stats.json"), "w") as handle:
        json.dump(stats, handle, indent=2)
    return {"summary": {name: stats["splits"][name]["samples"] for name in splits.SPLIT_NAMES}}


def run_cross_validation(data_dir, out_dir, folds, mode, model_config, training_config, seed=0, log=print):
    """Train and evaluate every fold; returns (and writes to <out_dir>/cv_results.json) the summary.

    Layout: <out_dir>/fold-<k>/examples (FoldExamples), <out_dir>/fold-<k>/run (Trainer, Evaluator on test).
    """
    from emorecog.components.evaluator import run_evaluator
    from emorecog.components.trainer import run_trainer
    from emorecog.output_folders import claim_folder, write_json_atomically

    from emorecog.evaluation.model_evaluation import comparison_row

    claim_folder(out_dir, "emorecog cv")  # each fold's outputs are checked against their own inputs
    count = fold_count(data_dir, folds, mode)
    results = []
    for fold in range(count):
        fold_dir = os.path.join(out_dir, f"fold-{fold}")
        log(f"fold {fold + 1}/{count}")
        examples = write_fold_examples(data_dir, fold, folds, mode=mode, seed=seed,
                                       output_dir=os.path.join(fold_dir, "examples"))
        run_dir = os.path.join(fold_dir, "run")
        run_trainer(examples.output_dir, run_dir, model_config, training_config, log=log)
        evaluation = run_evaluator(run_dir, examples.output_dir, split="test")
        with open(evaluation.artifact("metrics.json")) as handle:
            report = json.load(handle)
        with open(os.path.join(examples.output_dir, "stats.json")) as handle:
            test_subjects = json.load(handle)["splits"]["test"]["subjects"]
        results.append({
            "fold": fold,
            "test_subjects": test_subjects,
            "num_test_samples": report["num_samples"],
            **comparison_row(report),
            "blessed": report["blessing"]["blessed"],
        })
        log(f"fold {fold + 1}/{count}: test subjects {', '.join(test_subjects)}: "
            + "  ".join(f"{key} {report[key]:.3f}" for key in REPORTED_METRICS))
    from emorecog.evaluation.metrics import mean_and_spread

    summary = {
        "folds": folds, "mode": mode, "target": training_config.target, "data_dir": os.path.abspath(data_dir),
        "model_config": model_config.to_dict(), "training_config": training_config.to_dict(),
        "per_fold": results,
        "summary": {key: mean_and_spread([row[key] for row in results])
                    for key in results[0] if key not in ("fold", "test_subjects", "num_test_samples", "blessed")},
    }
    write_json_atomically(os.path.join(out_dir, "cv_results.json"), summary)
    return summary


def _all_records(data_dir):
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader

    for name in splits.SPLIT_NAMES:
        try:
            files = tfrecord_reader.verify_split_files(data_dir, name)
        except FileNotFoundError:
            continue
        for record in tf.data.TFRecordDataset(files, compression_type=tfrecord_reader.RECORD_COMPRESSION):
            yield record.numpy()


def _record_keys(data_dir):
    """[(subject, trial, (label_valence, label_arousal))] of every record of every split."""
    import tensorflow as tf

    keys = [_key_of(tf.train.Example.FromString(record)) for record in _all_records(data_dir)]
    if len({(subject, trial) for subject, trial, _ in keys}) != len(keys):
        raise ValueError(f"{data_dir}: a (subject, trial) appears in more than one record")
    return keys


def _key_of(example):
    feature = example.features.feature
    subject = feature[features.SUBJECT_KEY].bytes_list.value[0].decode()
    trial = int(feature[features.TRIAL_KEY].int64_list.value[0])
    labels = tuple(int(feature[features.label_key(target)].int64_list.value[0]) for target in features.TARGETS)
    return subject, trial, labels


def _band_moments(values):
    values = values.astype(np.float64)
    mean = values.mean(axis=0)
    return values.shape[0], mean, ((values - mean) ** 2).sum(axis=0)


def _combine_moments(moments):
    """Chan et al.'s pairwise combination -> (count, mean, population std) per band."""
    count, mean, m2 = 0, np.zeros(len(features.EEG_BANDS)), np.zeros(len(features.EEG_BANDS))
    for part_count, part_mean, part_m2 in moments:
        total = count + part_count
        delta = part_mean - mean
        mean = mean + delta * part_count / total
        m2 = m2 + part_m2 + delta ** 2 * count * part_count / total
        count = total
    return count, mean, (np.sqrt(m2 / count) if count else np.zeros_like(m2))
