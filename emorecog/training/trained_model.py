"""Load what the Trainer wrote: the Keras model and the training configuration it was trained with."""

import json
import os


def load_trained_model(model_dir):
    """(Keras model, training_config dict) of a Trainer output folder (`<run_dir>/model`)."""
    import keras

    import emorecog.models.full_sequence_model  # noqa: F401

    # Importing the model modules registers their classes (and, through them, the layers) with Keras.
    import emorecog.models.glimpse_model  # noqa: F401
    import emorecog.models.skim_only_model  # noqa: F401

    path = os.path.join(model_dir, "model.keras")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is {model_dir} the output of `emorecog train`?")
    with open(os.path.join(model_dir, "training_config.json")) as handle:
        training_config = json.load(handle)
    return keras.saving.load_model(path), training_config
