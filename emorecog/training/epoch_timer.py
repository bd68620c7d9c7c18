"""Training throughput per epoch (samples per second), logged with the epoch's metrics."""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Adds `train_seconds` and `train_samples_per_second` to each epoch's logs.

    The time runs from the start of the epoch to the end of its last training batch; callbacks placed
    after this one in the list (the eval pass, checkpoints) are not counted. Place it first.

    Args:
        num_train_samples: samples in one epoch of the train split.
    """

    def __init__(self, num_train_samples):
        super().__init__()
        self.num_train_samples = num_train_samples
        self._started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or self._started is None:
            return
        seconds = time.perf_counter() - self._started
        logs["train_seconds"] = seconds
        logs["train_samples_per_second"] = self.num_train_samples / max(seconds, 1e-9)
