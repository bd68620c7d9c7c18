"""The epoch loop for multi-replica strategies (MirroredStrategy on several devices, MultiWorkerMirrored).

Keras 3.6's `Model.fit` cannot train this model under a strategy with more than one replica:
- before the first step it reduces one input batch with `strategy.reduce("MEAN", batch)`, which fails on
  a dict of PerReplica values (keras-team/keras#20329);
- under MultiWorkerMirroredStrategy it reduces each scalar log with `strategy.reduce("MEAN", v, axis=0)`,
  which fails on scalars ("Invalid reduction dimension 0 for input with 0 dimensions", keras#20585).
So these strategies run the model's own `train_step` through `strategy.run` here, with the same callbacks
`fit` would drive (checkpoints, eval F1, TensorBoard). One replica (the default strategy) uses `fit`.

Gradients: the Keras TF optimizer all-reduces (sums) the replicas' gradients inside `optimizer.apply`.
"""

import keras


def fit_distributed(model, strategy, dataset, epochs, initial_epoch, steps_per_epoch, callbacks):
    """Train `model` for epochs initial_epoch..epochs-1 of `steps_per_epoch` steps on a repeated dataset.

    Args:
        model: a compiled Keras model built under `strategy.scope()`.
        strategy: a tf.distribute strategy.
        dataset: tf.data.Dataset of global batches (inputs, labels), repeated.
        epochs, initial_epoch, steps_per_epoch: as in `Model.fit`.
        callbacks: Keras callbacks, called as `fit` calls them (epoch and train-batch hooks).

    Returns:
        The logs of the last epoch (dict of floats).
    """
    import tensorflow as tf

    iterator = iter(strategy.experimental_distribute_dataset(dataset))

    def one_step(iterator):
        per_replica = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in per_replica.items()}

    step = tf.function(one_step, autograph=False)
    callback_list = keras.callbacks.CallbackList(
        callbacks, model=model, epochs=epochs, steps=steps_per_epoch, add_history=True
    )
    model.stop_training = False
    logs = {}
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for index in range(steps_per_epoch):
            callback_list.on_train_batch_begin(index)
            logs = step(iterator)
            callback_list.on_train_batch_end(index, logs)
        logs = {name: float(value) for name, value in logs.items()}
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return logs
