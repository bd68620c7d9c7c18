"""The labels of a split without decoding its images (for the majority-class baseline)."""

from emorecog import features


def split_labels(data_dir, split, target):
    """The `target` labels of every record of `split` (ExampleGen output or fold), int64 [N].

    Only the label column is parsed, so this is cheap next to `make_dataset`.
    """
    import numpy as np
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader

    label = features.label_key(target)
    records = tfrecord_reader.record_dataset(data_dir, split).batch(256)
    spec = {label: tf.io.FixedLenFeature([], tf.int64)}
    values = [tf.io.parse_example(batch, spec)[label].numpy() for batch in records]
    return np.concatenate(values) if values else np.zeros([0], np.int64)
