"""Read ExampleGen's output as a tf.data pipeline, and its statistics.

ExampleGen writes (TFX layout):

    <data>/Split-{train,eval,test}/data_tfrecord-NNNNN-of-MMMMM.gz   GZIP TFRecords of tf.train.Example
    <data>/schema.json                                              `features.schema_dict`: record schema
                                                                    version, sample shape, EEG operator
    <data>/stats.json                                               counts, detection rates, EEG normalisation,
                                                                    and a manifest of every record file

`make_dataset` reads one split: files (shuffled if asked) -> parallel interleave of GZIP TFRecord readers ->
(shuffle) -> (repeat) -> parse + EEG images from the band energies + JPEG decode with
`features.decode_examples`, one record per parallel call -> batch -> prefetch. Decoding before batching
spreads the JPEG decoding (most of the reader's cost) over the cores in small pieces. Records of another schema
version (schema.json says
which) are refused before reading, with an error naming both versions.

TFRecord readers report a truncated or corrupt file as a bare `DataLossError` that does not name the file,
so `make_dataset` (and every other reader of the records: the Trainer, the Evaluator's label pass,
cross-validation) first checks each file against the manifest in stats.json, by size and SHA-256 unless
told otherwise, and raises `CorruptRecordFileError` naming the file.

A cross-validation fold (`emorecog cv`) copies no record. Its folder holds `fold_index.json` instead of
Split-*/: the pooled ExampleGen output the records live in, and per split the record files that hold its
trials, with the (subject, trial) keys it keeps of them and the files' sizes and SHA-256 as they were
when the fold was made. Every reader here takes either folder: `split_records` resolves a split to files
(verified) and trial keys, and the record stream keeps only those trials. A fold's stats.json is its own
(counts and the EEG normalisation of the fold's train split); the schema is the pooled output's.

TensorFlow is imported inside the functions that need it.
"""

import dataclasses
import functools
import glob
import hashlib
import json
import os

from emorecog import features

SCHEMA_FILE = "schema.json"
STATS_FILE = "stats.json"
FOLD_INDEX_FILE = "fold_index.json"
RECORD_FILE_PREFIX = "data_tfrecord"
RECORD_FILE_SUFFIX = ".gz"
RECORD_COMPRESSION = "GZIP"
VERIFY_MODES = ("checksum", "size", "none")
DEFAULT_SHUFFLE_BUFFER = 64  # records; a default 60 s trial record is ~1 MB (EEG band energies + 480 JPEGs)
# Bytes buffered per file read: decompressing GZIP through a 1 MB buffer measured ~2x faster than
# TensorFlow's default for these multi-MB records (benchmarks/bench_reader.py).
READ_BUFFER_BYTES = 1 << 20


class CorruptRecordFileError(IOError):
    """A TFRecord file of an ExampleGen output is missing, truncated or altered since it was written."""


@dataclasses.dataclass(frozen=True)
class SplitRecords:
    """Where the records of one split are.

    Attributes:
        files: the record files (verified as `split_records` was asked).
        trials: None when every record of `files` belongs to the split (an ExampleGen output), else the
            frozenset of (subject, trial) keys the split keeps of them (a cross-validation fold).
    """

    files: tuple
    trials: frozenset | None = None


def split_directory(data_dir, split):
    """`<data_dir>/Split-<split>`, the TFX name of a split's folder."""
    return os.path.join(data_dir, f"Split-{split}")


def split_files(data_dir, split):
    """The sorted TFRecord files of `split`.

    Raises:
        FileNotFoundError: the split folder does not exist or holds no record files.
    """
    directory = split_directory(data_dir, split)
    if not os.path.isdir(directory):
        present = sorted(name for name in _listdir(data_dir) if name.startswith("Split-"))
        raise FileNotFoundError(
            f"{directory} does not exist: {data_dir} is not an ExampleGen output with a '{split}' split "
            f"(splits present: {present or 'none'})"
        )
    files = sorted(glob.glob(os.path.join(directory, f"{RECORD_FILE_PREFIX}-*{RECORD_FILE_SUFFIX}")))
    if not files:
        raise FileNotFoundError(f"{directory} holds no {RECORD_FILE_PREFIX}-*{RECORD_FILE_SUFFIX} files")
    return files


def read_record_schema(data_dir):
    """The `features.RecordSchema` (sample shape, EEG interpolation operator) of `<data_dir>/schema.json`.

    Raises:
        features.RecordSchemaVersionError: the records are of another schema version (named).
        FileNotFoundError, ValueError: no schema.json, or not a valid one.
    """
    path = os.path.join(records_directory(data_dir), SCHEMA_FILE)
    try:
        return features.read_record_schema(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: is {data_dir} an ExampleGen output?") from None
    except features.RecordSchemaVersionError:
        raise
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a valid emorecog schema: {error}") from error


def read_fold_index(data_dir):
    """The dict of `<data_dir>/fold_index.json`, or None when `data_dir` is not a cross-validation fold."""
    path = os.path.join(data_dir, FOLD_INDEX_FILE)
    try:
        index = _read_json_object(path, "an emorecog fold index (expected 'source' and 'splits')")
    except FileNotFoundError:
        return None
    if not isinstance(index.get("splits"), dict) or "source" not in index:
        raise ValueError(f"{path} is not an emorecog fold index (expected 'source' and 'splits')")
    return index


def records_directory(data_dir):
    """The ExampleGen output whose files hold the records of `data_dir` (itself, or a fold's source)."""
    index = read_fold_index(data_dir)
    return data_dir if index is None else index["source"]


def read_sample_shape(data_dir):
    """The `features.SampleShape` recorded in `<data_dir>/schema.json` (of this record schema version)."""
    return read_record_schema(data_dir).shape


def read_stats(data_dir):
    """The dict of `<data_dir>/stats.json` (its layout is documented in `emorecog.example_statistics`)."""
    path = os.path.join(data_dir, STATS_FILE)
    try:
        return _read_json_object(path, "ExampleGen's statistics object")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: is {data_dir} an ExampleGen output?") from None


def _read_json_object(path, expected_description):
    """The dict a JSON file holds.

    Raises:
        FileNotFoundError: there is no file at `path` (the caller knows what its absence means).
        ValueError: the file is not JSON, or holds something else than an object; the message names the file
            and `expected_description`.
    """
    try:
        with open(path) as handle:
            content = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path} holds a JSON {type(content).__name__}, expected {expected_description}")
    return content


def read_eeg_normalization(data_dir):
    """Per-band mean and standard deviation of the EEG images, computed by ExampleGen on Split-train only.

    Returns:
        A dict with `bands` (("theta", "alpha", "beta")), `mean` and `std` (lists of 3 floats, in band
        order: the last axis of the `eeg` input), `count` (pixel values per band behind them) and `split`.
        A trainer normalises with (eeg - mean) / std.
    """
    stats = read_stats(data_dir)
    normalization = stats.get("eeg_normalization")
    if not normalization or normalization.get("count", 0) == 0:
        raise ValueError(
            f"{os.path.join(data_dir, STATS_FILE)} has no EEG normalisation statistics (was the train split empty?)"
        )
    if list(normalization["bands"]) != list(features.EEG_BANDS):
        raise ValueError(f"EEG normalisation bands {normalization['bands']} differ from {features.EEG_BANDS}")
    return normalization


def eeg_band_statistics(data_dir):
    """(mean, std) of the EEG images per band (lists of 3 floats), from Split-train only (stats.json)."""
    normalization = read_eeg_normalization(data_dir)
    return list(normalization["mean"]), list(normalization["std"])


def file_manifest_entry(path):
    """Size and SHA-256 of a record file, as ExampleGen records them in stats.json."""
    return {"bytes": os.path.getsize(path), "sha256": _sha256(path)}


def verify_split_files(data_dir, split, mode="checksum"):
    """Check the record files of `split` of an ExampleGen output against the manifest in stats.json.

    Args:
        data_dir: ExampleGen output directory (for a cross-validation fold use `split_records`).
        split: split name.
        mode: "checksum" (size and SHA-256: catches truncation and altered bytes), "size" (cheap: catches
            truncation and missing files), or "none".

    Returns:
        The list of files.

    Raises:
        CorruptRecordFileError: naming the first file that is missing, truncated or altered.
    """
    if mode not in VERIFY_MODES:
        raise ValueError(f"verify mode {mode!r} is not one of {VERIFY_MODES}")
    if read_fold_index(data_dir) is not None:
        raise ValueError(f"{data_dir} is a cross-validation fold: read it through split_records")
    files = split_files(data_dir, split)
    if mode == "none":
        return files
    manifest = read_stats(data_dir).get("files", {})
    expected_names = sorted(name for name in manifest if name.startswith(f"Split-{split}/"))
    found_names = sorted(os.path.relpath(path, data_dir) for path in files)
    for name in expected_names:
        if name not in found_names:
            raise CorruptRecordFileError(f"{os.path.join(data_dir, name)} is missing (listed in {STATS_FILE})")
    for name in found_names:
        if name not in manifest:
            raise CorruptRecordFileError(
                f"{os.path.join(data_dir, name)} is not listed in {STATS_FILE}: not written by this ExampleGen run"
            )
        _check_file(os.path.join(data_dir, name), manifest[name], mode, f"ExampleGen recorded in {STATS_FILE}")
    return files


def split_records(data_dir, split, verify="checksum"):
    """The `SplitRecords` of `split`, of an ExampleGen output or a cross-validation fold.

    A fold's files are checked against the sizes and SHA-256 its fold_index.json recorded, so a pooled
    output changed since the fold was made is named, not read.

    Raises:
        CorruptRecordFileError: a file is missing, truncated or altered (named).
        FileNotFoundError, ValueError: no such split.
    """
    index = read_fold_index(data_dir)
    if index is None:
        return SplitRecords(tuple(verify_split_files(data_dir, split, mode=verify)))
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify mode {verify!r} is not one of {VERIFY_MODES}")
    if split not in index["splits"]:
        raise FileNotFoundError(
            f"{os.path.join(data_dir, FOLD_INDEX_FILE)} has no split {split!r} (has {sorted(index['splits'])})"
        )
    entry = index["splits"][split]
    files = []
    for name in entry["files"]:
        path = os.path.join(index["source"], name)
        if not os.path.isfile(path):
            raise CorruptRecordFileError(f"{path} is missing (listed in {os.path.join(data_dir, FOLD_INDEX_FILE)})")
        if verify != "none":
            _check_file(path, index["files"][name], verify, f"{os.path.join(data_dir, FOLD_INDEX_FILE)} recorded")
        files.append(path)
    return SplitRecords(tuple(files), frozenset((str(subject), int(trial)) for subject, trial in entry["trials"]))


def _check_file(path, expected, mode, recorded_by):
    size = os.path.getsize(path)
    if size != expected["bytes"]:
        raise CorruptRecordFileError(f"{path} is truncated or altered: {size} bytes, {recorded_by} {expected['bytes']}")
    if mode == "checksum" and _sha256(path) != expected["sha256"]:
        raise CorruptRecordFileError(f"{path} is corrupt: its SHA-256 differs from the one {recorded_by}")


def keep_trials(dataset, trials):
    """`dataset` of serialized records without those whose (subject, trial) is not in `trials` (None: all)."""
    import tensorflow as tf

    if trials is None:
        return dataset
    names = tf.constant(sorted(f"{subject}/{trial}" for subject, trial in trials), tf.string)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(names, tf.ones_like(names, dtype=tf.int64)), default_value=0
    )
    key_spec = {
        features.SUBJECT_KEY: tf.io.FixedLenFeature([], tf.string),
        features.TRIAL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }

    def is_kept(serialized):
        key = tf.io.parse_single_example(serialized, key_spec)
        name = tf.strings.join([key[features.SUBJECT_KEY], tf.strings.as_string(key[features.TRIAL_KEY])], "/")
        return table.lookup(name) > 0

    return dataset.filter(is_kept)


def record_dataset(data_dir, split, verify="checksum"):
    """The serialized records of `split` (ExampleGen output or fold) in file order, files verified first."""
    import tensorflow as tf

    records = split_records(data_dir, split, verify=verify)
    dataset = tf.data.TFRecordDataset(
        list(records.files), compression_type=RECORD_COMPRESSION, buffer_size=READ_BUFFER_BYTES
    )
    return keep_trials(dataset, records.trials)


def make_dataset(
    data_dir,
    split,
    batch_size,
    target="valence",
    shuffle=False,
    repeat=False,
    seed=None,
    with_context=False,
    shuffle_buffer=DEFAULT_SHUFFLE_BUFFER,
    drop_remainder=False,
    verify="checksum",
    num_parallel_reads=None,
    pass_seeds=None,
):
    """A tf.data pipeline over one split of an ExampleGen output.

    Args:
        data_dir: ExampleGen output directory (holds schema.json, stats.json, Split-*/), or a
            cross-validation fold (holds stats.json and fold_index.json).
        split: "train", "eval" or "test".
        batch_size: samples per batch.
        target: "valence" or "arousal": which binary label is the target.
        shuffle: shuffle file order and records (reshuffled each epoch).
        repeat: repeat forever.
        seed: seed of the shuffles; with a seed the order is reproducible (None: nondeterministic).
        with_context: also yield the context dict (subject, trial, ratings, both labels, ...).
        shuffle_buffer: records held by the record-level shuffle.
        drop_remainder: drop a last smaller batch.
        verify: "checksum", "size" or "none" (see `split_records`), done once here.
        num_parallel_reads: files read at once (default: up to 4).
        pass_seeds: instead of `seed` and `repeat`: one shuffled pass over the split per seed, one after the
            other, each ending with its last (possibly smaller) batch. Pass k's order depends only on its
            seed, so the Trainer gives epoch e the seed of e and a resumed run reads what a straight one would.

    Returns:
        A `tf.data.Dataset` of `(inputs, label)`, or `(inputs, label, context)` with `with_context` (for
        evaluation; Keras `fit` would take a third element for sample weights). With B the batch size and
        T, H, S from schema.json:
        - inputs: `eeg` float32 [B, T, H, H, 3], `face` uint8 [B, T, S, S, 3], `face_present` float32 [B, T];
        - label: int64 [B] (0 low, 1 high);
        - context: `subject` string [B], `trial` int64 [B], `ratings` float32 [B, 4], `label_valence`,
          `label_arousal`, `fps`, `num_frames` int64 [B], `dataset`, `config_hash` string [B].
    """
    import tensorflow as tf

    label_name = features.label_key(target)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    record_schema = read_record_schema(data_dir)
    records = split_records(data_dir, split, verify=verify)
    files = list(records.files)
    cycle_length = min(len(files), num_parallel_reads or 4)
    # Unseeded shuffling may also take records in whatever order the parallel reads finish (faster);
    # a seed makes the whole order reproducible.
    deterministic = seed is not None or pass_seeds is not None or not shuffle

    def to_model_pair(serialized):
        decoded = features.decode_examples(tf.expand_dims(serialized, 0), record_schema)
        decoded = {key: value[0] for key, value in decoded.items()}
        inputs = features.model_inputs(decoded)
        label = decoded[label_name]
        if with_context:
            context = {
                key: value
                for key, value in decoded.items()
                if key not in (*features.MODEL_INPUT_KEYS, features.EEG_BAND_ENERGY_KEY)
            }
            return inputs, label, context
        return inputs, label

    def record_batches(pass_seed, repeat_forever):
        dataset = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            dataset = dataset.shuffle(len(files), seed=pass_seed, reshuffle_each_iteration=True)
        dataset = dataset.interleave(
            lambda path: tf.data.TFRecordDataset(
                path, compression_type=RECORD_COMPRESSION, buffer_size=READ_BUFFER_BYTES
            ),
            cycle_length=cycle_length,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=deterministic,
        )
        dataset = keep_trials(dataset, records.trials)
        if shuffle:
            dataset = dataset.shuffle(shuffle_buffer, seed=pass_seed, reshuffle_each_iteration=True)
        if repeat_forever:
            dataset = dataset.repeat()
        # One record per parallel call, batched after decoding: the JPEG decoding (most of the cost) is
        # then spread over the cores in small pieces, and no batch-sized intermediate (~140 MB of images at
        # batch 12) passes through memory twice (benchmarks/bench_reader.py).
        dataset = dataset.map(to_model_pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        return dataset.batch(batch_size, drop_remainder=drop_remainder)

    if pass_seeds is None:
        dataset = record_batches(seed, repeat)
    else:
        # Python seeds, one small pipeline per pass: a tensor seed in a flat_map clashes with the global seed.
        passes = [record_batches(pass_seed, False) for pass_seed in pass_seeds]
        dataset = functools.reduce(lambda first, second: first.concatenate(second), passes)
    return dataset.prefetch(tf.data.AUTOTUNE)


def band_energy_batches(data_dir, split, batch_size, target="valence"):
    """(eeg_band_energy float32 [B, T, C, 3], label int64 [B]) NumPy batches of one split, in record order,
    without decoding the faces (for the classical baseline). The files' checksums are verified first."""
    record_schema = read_record_schema(data_dir)
    dataset = (
        record_dataset(data_dir, split, verify="checksum")
        .batch(batch_size)
        .map(lambda serialized: features.decode_band_energies(serialized, record_schema, target))
    )
    for energy, labels in dataset:
        yield energy.numpy(), labels.numpy()


def count_records(data_dir, split):
    """Samples in `split`, from stats.json (no file is read)."""
    splits = read_stats(data_dir).get("splits", {})
    if split not in splits:
        raise ValueError(f"{os.path.join(data_dir, STATS_FILE)} has no split {split!r} (has {sorted(splits)})")
    return int(splits[split]["samples"])


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
