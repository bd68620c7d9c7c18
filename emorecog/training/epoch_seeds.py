"""Every random draw of training epoch e depends only on (seed, e), so a run resumed after epoch k ends with
exactly the weights of a run that trained straight through.

A resumed run rebuilds the model and restores its weights and optimizer state from the last checkpoint, but
a Keras `SeedGenerator`'s state (the policy's sampling, dropout masks) is not part of the weights file, and
a seeded tf.data shuffle restarts its sequence. So instead of continuing those streams, each epoch starts
fresh ones derived from (seed, epoch): `EpochSeeds` resets the model's seed generators at the beginning of
every epoch, and the Trainer shuffles epoch e's pass over the train split with `epoch_seed(seed, e)`.
"""

import keras
import numpy as np

# Keras names the state variable of every `keras.random.SeedGenerator` so.
SEED_GENERATOR_STATE_NAME = "seed_generator_state"
# Draws one seed generator may make in an epoch before its stream would run into the next epoch's.
DRAWS_PER_EPOCH = 1 << 24
_SEED_STRIDE = 1_000_003


def epoch_seed(seed, epoch):
    """The shuffle seed of epoch `epoch` (an int, or an int64 tensor when `epoch` is one)."""
    return seed * _SEED_STRIDE + epoch


def seed_generator_states(model):
    """The state variables of every seed generator of `model`, in the model's (deterministic) order."""
    return [variable for variable in model.variables if variable.name == SEED_GENERATOR_STATE_NAME]


class EpochSeeds(keras.callbacks.Callback):
    """At the beginning of epoch e, sets seed generator i of the model to the stream (seed, i, e).

    Args:
        seed: the run's seed (`ModelConfig.seed`).
    """

    def __init__(self, seed):
        super().__init__()
        self.seed = int(seed)

    def on_epoch_begin(self, epoch, logs=None):
        for index, state in enumerate(seed_generator_states(self.model)):
            key = (self.seed * _SEED_STRIDE + index) % (1 << 31)
            state.assign(np.array([key, epoch * DRAWS_PER_EPOCH], dtype=state.dtype))
