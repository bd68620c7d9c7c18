"""One readable progress line per epoch (Keras' own progress bar is off: it floods logs of long runs)."""

import keras

SHOWN_KEYS = (
    "loss",
    "classification_loss",
    "accuracy",
    "reward",
    "glimpses",
    "val_accuracy",
    "val_f1_macro",
    "val_glimpses",
    "train_samples_per_second",
)


class EpochProgressLog(keras.callbacks.Callback):
    """Calls `log("epoch k/E  loss ...  val_f1_macro ...")` at each epoch end.

    Args:
        log: a function taking one line of text (e.g. `print` or `click.echo`).
        epochs: the total number of epochs, shown as the denominator.
    """

    def __init__(self, log, epochs):
        super().__init__()
        self.log = log
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        text = "  ".join(f"{key} {float(logs[key]):.4g}" for key in SHOWN_KEYS if key in logs)
        self.log(f"epoch {epoch + 1}/{self.epochs}  {text}")
