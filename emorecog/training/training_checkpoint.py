"""Checkpoints that let a killed training run continue, and keep the best epoch by eval macro F1."""

import json
import math
import os
import uuid

import keras

STATE_FILE = "training_state.json"
BEST_WEIGHTS = "best.weights.h5"


class TrainingCheckpoint(keras.callbacks.Callback):
    """At each epoch end: keeps the best weights by `monitor` and writes a resumable checkpoint.

    Layout of `checkpoint_dir`:

        epoch-NNNN.weights.h5   model AND optimizer state after epoch NNNN (only the latest is kept)
        best.weights.h5         the weights of the best epoch so far by `monitor` (higher is better)
        training_state.json     {"epochs_done", "weights", "best_value", "best_epoch", "history",
                                 "fingerprint"}: written last, atomically (os.replace), so after a kill
                                 it always names a complete weights file

    Selection reads `monitor` (default `val_f1_macro`, the EVAL split's macro F1), never the test split.
    A tie goes to the epoch that read fewer frames (`val_glimpses`: the same answer for less reading), then
    to the earlier epoch.

    Args:
        checkpoint_dir: folder of the files above (created).
        fingerprint: a dict identifying what is trained (configs, data); a resume with another one fails.
        monitor: the log key to maximise.
        state: the state loaded by `load_state` when resuming, or None.
    """

    def __init__(self, checkpoint_dir, fingerprint, monitor="val_f1_macro", state=None):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.fingerprint = fingerprint
        self.monitor = monitor
        state = state or {}
        self.best_value = state.get("best_value")
        self.best_epoch = state.get("best_epoch")
        self.best_glimpses = state.get("best_glimpses")
        self.history = list(state.get("history", []))
        os.makedirs(checkpoint_dir, exist_ok=True)
        for name in os.listdir(checkpoint_dir):
            if name.startswith(".tmp-"):  # left by a process killed while writing
                os.remove(os.path.join(checkpoint_dir, name))

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.monitor not in logs:
            raise KeyError(f"TrainingCheckpoint monitors '{self.monitor}' but the epoch logs hold {sorted(logs)}")
        value = float(logs[self.monitor])
        glimpses = float(logs.get("val_glimpses", 0.0))
        if not math.isnan(value) and (
            self.best_value is None
            or (value, -glimpses)
            > (self.best_value, -(self.best_glimpses if self.best_glimpses is not None else math.inf))
        ):
            self.best_value, self.best_epoch, self.best_glimpses = value, epoch + 1, glimpses
            _save_weights_atomically(self.model, os.path.join(self.checkpoint_dir, BEST_WEIGHTS))
        weights_name = f"epoch-{epoch + 1:04d}.weights.h5"
        _save_weights_atomically(self.model, os.path.join(self.checkpoint_dir, weights_name))
        self.history.append({"epoch": epoch + 1, **{key: _number(value) for key, value in logs.items()}})
        state = {
            "epochs_done": epoch + 1,
            "weights": weights_name,
            "monitor": self.monitor,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "best_glimpses": self.best_glimpses,
            "history": self.history,
            "fingerprint": self.fingerprint,
        }
        _write_json_atomically(os.path.join(self.checkpoint_dir, STATE_FILE), state)
        for name in os.listdir(self.checkpoint_dir):
            if name.startswith("epoch-") and name != weights_name:
                os.remove(os.path.join(self.checkpoint_dir, name))


def load_state(checkpoint_dir, fingerprint):
    """The saved training state of `checkpoint_dir`, or None when it holds none.

    Raises:
        ValueError: the checkpoints were written for another fingerprint (other configs or data);
            the message names what differs.
    """
    path = os.path.join(checkpoint_dir, STATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        state = json.load(handle)
    saved = state.get("fingerprint", {})
    if saved != fingerprint:
        differing = sorted(key for key in set(saved) | set(fingerprint) if saved.get(key) != fingerprint.get(key))
        raise ValueError(
            f"{checkpoint_dir} holds checkpoints of a different training set-up (differs in {differing}); "
            "train into another --out, or pass --restart to discard them"
        )
    return state


def restore(model, checkpoint_dir, state):
    """Loads the model and optimizer state of the last finished epoch named by `state`."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(checkpoint_dir, state["weights"]))


def _save_weights_atomically(model, path):
    temporary = os.path.join(os.path.dirname(path), f".tmp-{uuid.uuid4().hex[:8]}.weights.h5")
    model.save_weights(temporary)
    os.replace(temporary, path)


def _write_json_atomically(path, value):
    temporary = os.path.join(os.path.dirname(path), f".tmp-{uuid.uuid4().hex[:8]}.json")
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=2)
    os.replace(temporary, path)


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
