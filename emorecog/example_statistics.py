"""stats.json: what an ExampleGen output or a cross-validation fold of it holds, in one layout.

`build_stats` makes the dict from one row per written trial, for both writers: ExampleGen (from the
workers' trial reports) and FoldExamples (`emorecog.evaluation.cross_validation.write_fold_index`, from
the pooled records and the pooled output's own rows). Readers: `emorecog.datasets.tfrecord_reader`
(`read_stats`, the EEG normalisation, the file manifest), `emorecog ingest`'s closing table, the
cross-validation pipeline (test subjects).

Layout (every writer):

    dataset            the dataset's name (a fold: "fold k of K (<mode> folds) of <pooled output>")
    sample_shape       `features.SampleShape` as a dict
    split_config       `splits.SplitConfig.to_dict()`
    splits             per split: samples, subjects, labels {target: {"0": n, "1": n}}, eeg_only (trials
                       written without face video), planned (trials the split was given, written or not)
    eeg_normalization  per-band mean and population std over every pixel of the train split's EEG images
                       (last axis of `eeg`): split "train", bands, count (pixel values per band), trials,
                       mean, std, note. Never from eval or test.
    face_detection     trials_with_video, mean_detection_rate, min_detection_rate (fraction of frames)
    records            schema_version, stored_bytes_per_trial and stored_bytes_per_trial_with_face
                       (count, mean, max of the GZIP bytes of one trial's record)

ExampleGen adds what its run saw:

    per_trial          one row per written trial (`per_trial_rows`): subject, trial, split, status, labels,
                       eeg_only, detection_rate, record_bytes {serialized, stored}, preprocess (the
                       preprocessor's report)
    source_format, source, preprocess, preprocess_config_hash, label_rule, on_error   (its parameters)
    trials             listed, subjects_skipped, processed, written, skipped, eeg_only_written
    skipped            subject, trial, split, reason, files of each trial left out
    eeg_only_policy    policy ("write" or "skip"), description, trials_without_video
    files              manifest of every record file: relative path -> bytes, sha256
    seconds, trials_per_second

A fold adds `derived_from` (the pooled output its records live in; its per_trial rows are there, not
copied) and `split_warnings`.
"""

import dataclasses
import os

import numpy as np

from emorecog import features, splits
from emorecog.datasets import tfrecord_reader


def band_moments(eeg):
    """Per-band count, mean and sum of squared deviations of EEG images [..., 3] (float64, JSON-ready).

    These are a trial's share of the EEG normalisation; `combine_moments` joins the shares.
    """
    values = np.asarray(eeg, dtype=np.float64)
    values = values.reshape(-1, values.shape[-1])
    mean = values.mean(axis=0)
    return {"count": int(values.shape[0]), "mean": mean.tolist(), "m2": ((values - mean) ** 2).sum(axis=0).tolist()}


def combine_moments(moments):
    """Chan et al.'s parallel combination of `band_moments` dicts -> (count, mean, population std) per band."""
    count, mean, m2 = 0, np.zeros(len(features.EEG_BANDS)), np.zeros(len(features.EEG_BANDS))
    for part in moments:
        n, part_mean, part_m2 = part["count"], np.asarray(part["mean"]), np.asarray(part["m2"])
        total = count + n
        delta = part_mean - mean
        mean = mean + delta * n / total
        m2 = m2 + part_m2 + delta**2 * count * n / total
        count = total
    std = np.sqrt(m2 / count) if count else np.zeros_like(m2)
    return count, mean, std


def build_stats(written, dataset, sample_shape, split_config, planned=None, **writer_sections):
    """The stats.json dict (layout in this module's docstring).

    Args:
        written: one row per written trial: the `per_trial` fields plus `eeg_moments` (`band_moments` of
            its EEG images, for the normalisation).
        dataset: the dataset's name.
        sample_shape: the `features.SampleShape` of every record.
        split_config: the `splits.SplitConfig` as a dict.
        planned: {split: trials the split was given} if some were not written (default: those written).
        writer_sections: the writer's own top-level sections (see the docstring).
    """
    written = sorted(written, key=lambda row: (row["subject"], row["trial"]))
    planned = planned or {}
    per_split = {}
    for name in splits.SPLIT_NAMES:
        rows = [row for row in written if row["split"] == name]
        per_split[name] = {
            "samples": len(rows),
            "subjects": sorted({row["subject"] for row in rows}),
            "labels": {
                target: {str(value): sum(row["labels"][target] == value for row in rows) for value in (0, 1)}
                for target in features.TARGETS
            },
            "eeg_only": sum(row["eeg_only"] for row in rows),
            "planned": planned.get(name, len(rows)),
        }
    train = [row for row in written if row["split"] == "train"]
    count, mean, std = combine_moments(row["eeg_moments"] for row in train)
    detection_rates = [row["detection_rate"] for row in written if not row["eeg_only"]]
    stored = [row["record_bytes"]["stored"] for row in written]
    return {
        "dataset": dataset,
        "sample_shape": dataclasses.asdict(sample_shape),
        "split_config": split_config,
        "splits": per_split,
        "eeg_normalization": {
            "split": "train",
            "bands": list(features.EEG_BANDS),
            "count": int(count),
            "trials": len(train),
            "mean": [float(value) for value in mean],
            "std": [float(value) for value in std],
            "note": "over every pixel of the train split's EEG images, per band (last axis of `eeg`)",
        },
        "face_detection": {
            "trials_with_video": len(detection_rates),
            "mean_detection_rate": (sum(detection_rates) / len(detection_rates)) if detection_rates else None,
            "min_detection_rate": min(detection_rates) if detection_rates else None,
        },
        "records": {
            "schema_version": features.RECORD_SCHEMA_VERSION,
            "stored_bytes_per_trial": _byte_summary(stored),
            "stored_bytes_per_trial_with_face": _byte_summary(
                [size for size, row in zip(stored, written) if not row["eeg_only"]]
            ),
        },
        **writer_sections,
    }


def per_trial_rows(written):
    """ExampleGen's `per_trial` section: the rows of `build_stats` in (subject, trial) order, without moments."""
    return [
        {key: value for key, value in row.items() if key != "eeg_moments"}
        for row in sorted(written, key=lambda row: (row["subject"], row["trial"]))
    ]


def _byte_summary(sizes):
    if not sizes:
        return None
    return {"count": len(sizes), "mean": round(sum(sizes) / len(sizes)), "max": max(sizes)}


def eeg_only_policy(skip_eeg_only, eeg_only_keys):
    return {
        "policy": "skip" if skip_eeg_only else "write",
        "description": (
            "trials without face video are left out"
            if skip_eeg_only
            else "trials without face video are written with face_present = 0 and black crops"
        ),
        "trials_without_video": [{"subject": key.subject, "trial": key.trial} for key in eeg_only_keys],
    }


def file_manifest(output_dir):
    """Size and SHA-256 of every record file, by path relative to `output_dir` (readers verify them)."""
    return {
        os.path.relpath(path, output_dir): tfrecord_reader.file_manifest_entry(path)
        for name in splits.SPLIT_NAMES
        for path in sorted(tfrecord_reader.split_files(output_dir, name))
    }


def summary(stats):
    """The counts of stats.json kept in the component's metadata."""
    return {
        "trials": stats["trials"],
        "splits": {name: stats["splits"][name]["samples"] for name in splits.SPLIT_NAMES},
        "skipped": [{key: record[key] for key in ("subject", "trial", "reason")} for record in stats["skipped"]],
        "mean_detection_rate": stats["face_detection"]["mean_detection_rate"],
        "seconds": stats["seconds"],
        "trials_per_second": stats["trials_per_second"],
    }
