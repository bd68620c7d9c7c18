"""The training loop: one function from an ExampleGen output and two configs to a run directory.

Run directory (`run_dir`, e.g. runs/NAME/):

    checkpoints/    resumable state (`TrainingCheckpoint`): last epoch's model + optimizer, best by eval F1
    logs/           TensorBoard: train/ (losses, reward, glimpses, learning rate, samples/s),
                    validation/ (eval accuracy, macro F1, balanced accuracy, glimpses), images/ (glimpses)
    model/          the Trainer's output (written by the component runner, atomically): see `run_training`

A rerun into the same `run_dir` continues after the last finished epoch (after a kill, or with more
epochs) and ends with the same weights as an uninterrupted run: the checkpoint holds the model and the
optimizer state, and every random draw of an epoch (data order, dropout, policy samples) depends only on
(seed, epoch) (`epoch_seeds`). Checkpoints written for other configs or data are refused unless
`restart=True`.
"""

import dataclasses
import json
import math
import os
import shutil
import time

from emorecog import features

CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"
MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.json"


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """What the loop reads from an ExampleGen output."""

    @property
    def sample_shape(self):
        return self.record_schema.shape

    data_dir: str
    record_schema: features.RecordSchema
    eeg_band_mean: tuple
    eeg_band_std: tuple
    num_train_samples: int
    num_eval_samples: int


def read_training_data(data_dir):
    """Sample shape, train-split EEG statistics and split sizes of an ExampleGen output."""
    from emorecog.datasets import tfrecord_reader

    record_schema = tfrecord_reader.read_record_schema(data_dir)
    mean, std = tfrecord_reader.eeg_band_statistics(data_dir)
    return TrainingData(
        data_dir=data_dir,
        record_schema=record_schema,
        eeg_band_mean=tuple(float(value) for value in mean),
        eeg_band_std=tuple(float(value) for value in std),
        num_train_samples=tfrecord_reader.count_records(data_dir, "train"),
        num_eval_samples=tfrecord_reader.count_records(data_dir, "eval"),
    )


def run_training(data_dir, run_dir, model_config, training_config, output_dir, restart=False, log=print):
    """Train (or continue training) and write the best model by eval macro F1 to `output_dir`.

    Args:
        data_dir: ExampleGen output (Split-train and Split-eval TFRecords, schema.json, stats.json).
        run_dir: the run directory holding checkpoints/ and logs/ (created).
        model_config: `emorecog.models.model_config.ModelConfig`.
        training_config: `emorecog.training.training_config.TrainingConfig`.
        output_dir: where the Trainer's artifacts go: model.keras (best epoch by eval macro F1),
            model_config.json, training_config.json, schema.json, history.json, training_summary.json.
        restart: discard existing checkpoints instead of resuming from them.
        log: a function taking one line of progress text.

    Returns:
        The training summary dict (also written as training_summary.json).
    """
    import keras
    import tensorflow as tf

    from emorecog.artifact_metadata import fingerprint_path
    from emorecog.datasets import tfrecord_reader
    from emorecog.evaluation.band_image_layout import BandImageLayout
    from emorecog.models.builder import build_model
    from emorecog.training import distribution, training_checkpoint
    from emorecog.training.distributed_fit import fit_distributed
    from emorecog.training.epoch_progress_log import EpochProgressLog
    from emorecog.training.epoch_seeds import EpochSeeds
    from emorecog.training.epoch_timer import EpochTimer
    from emorecog.training.eval_split_metrics import EvalSplitMetrics
    from emorecog.training.glimpse_image_summary import GlimpseImageSummary

    data = read_training_data(data_dir)
    if data.num_train_samples == 0 or data.num_eval_samples == 0:
        raise ValueError(
            f"{data_dir}: the train and eval splits must both hold samples "
            f"(train {data.num_train_samples}, eval {data.num_eval_samples})"
        )
    _, _, is_chief = distribution.worker_role()
    checkpoint_dir = os.path.join(run_dir, CHECKPOINTS_DIR)
    log_dir = os.path.join(run_dir, LOGS_DIR)
    if restart and is_chief:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        shutil.rmtree(log_dir, ignore_errors=True)
    fingerprint = {
        "model_config": model_config.to_dict(),
        "training_config": {k: v for k, v in training_config.to_dict().items() if k != "epochs"},
        "data": fingerprint_path(data_dir),
    }
    state = training_checkpoint.load_state(checkpoint_dir, fingerprint)

    strategy = distribution.distribution_strategy(training_config.strategy)
    global_batch = training_config.batch_size * strategy.num_replicas_in_sync
    with strategy.scope():
        model = build_model(
            model_config,
            data.sample_shape,
            eeg_band_mean=data.eeg_band_mean,
            eeg_band_std=data.eeg_band_std,
            training_config=training_config,
        )
        model.optimizer.build(model.trainable_variables)
        initial_epoch = 0
        if state is not None:
            training_checkpoint.restore(model, checkpoint_dir, state)
            initial_epoch = state["epochs_done"]
            log(
                f"resuming {run_dir} after epoch {initial_epoch} (best eval macro F1 so far "
                f"{state['best_value']:.4f} at epoch {state['best_epoch']})"
            )

    train_dataset = None
    if initial_epoch < training_config.epochs:
        train_dataset = _train_dataset(data_dir, training_config, model_config, global_batch, initial_epoch)
    eval_dataset = tfrecord_reader.make_dataset(
        data_dir, "eval", training_config.eval_batch_size, target=training_config.target
    )
    callbacks = [
        EpochSeeds(model_config.seed),  # first: before anything of the epoch draws a random number
        EpochTimer(data.num_train_samples),
        EvalSplitMetrics(eval_dataset),
    ]
    if is_chief and training_config.image_summary_samples:
        sample_inputs, sample_names = _image_summary_samples(data_dir, training_config)
        callbacks.append(
            GlimpseImageSummary(
                log_dir,
                sample_inputs,
                sample_names,
                training_config.image_summary_glimpses,
                BandImageLayout.read(data_dir),
            )
        )
    if is_chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"))
    checkpoint = training_checkpoint.TrainingCheckpoint(
        checkpoint_dir if is_chief else os.path.join(output_dir, "worker-checkpoints"), fingerprint, state=state
    )
    callbacks.append(checkpoint)
    callbacks.append(EpochProgressLog(log, training_config.epochs))

    started = time.perf_counter()
    if initial_epoch < training_config.epochs:
        log(
            f"training {model_config.variant} on {data.num_train_samples} train / {data.num_eval_samples} eval "
            f"samples, target {training_config.target}, epochs {initial_epoch + 1}..{training_config.epochs}, "
            f"global batch {global_batch}, strategy {training_config.strategy} "
            f"({strategy.num_replicas_in_sync} replica(s))"
        )
        steps_per_epoch = math.ceil(data.num_train_samples / global_batch)
        try:
            if strategy.num_replicas_in_sync > 1:
                fit_distributed(
                    model, strategy, train_dataset, training_config.epochs, initial_epoch, steps_per_epoch, callbacks
                )
            else:
                model.fit(
                    train_dataset,
                    epochs=training_config.epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=steps_per_epoch,
                    callbacks=callbacks,
                    verbose=0,
                )
        except tf.errors.DataLossError as error:
            # The files matched their SHA-256 when training started: one changed while being read.
            raise tfrecord_reader.CorruptRecordFileError(
                f"{data_dir}: a record file of Split-train or Split-eval became unreadable during training "
                f"({error.message.strip().splitlines()[0]}); it was intact when training started, so it changed "
                "since: run emorecog ingest again"
            ) from None
    else:
        log(f"{run_dir} already finished {initial_epoch} epochs; nothing to train")
    seconds = time.perf_counter() - started

    best_weights = os.path.join(checkpoint.checkpoint_dir, training_checkpoint.BEST_WEIGHTS)
    model.load_weights(best_weights)
    summary = _summary(checkpoint, data, training_config, seconds)
    if is_chief:
        _write_outputs(output_dir, model, model_config, training_config, data, checkpoint.history, summary)
    else:
        shutil.rmtree(os.path.join(output_dir, "worker-checkpoints"), ignore_errors=True)
    return summary


def _train_dataset(data_dir, training_config, model_config, global_batch, initial_epoch):
    """The train split as one freshly shuffled pass per remaining epoch (the last batch of a pass may be
    smaller); epoch e's order depends only on (seed, e), so a resumed run reads what a straight one would."""
    import tensorflow as tf

    from emorecog.datasets import tfrecord_reader
    from emorecog.training.epoch_seeds import epoch_seed

    dataset = tfrecord_reader.make_dataset(
        data_dir,
        "train",
        global_batch,
        target=training_config.target,
        shuffle=True,
        shuffle_buffer=training_config.shuffle_buffer,
        pass_seeds=[epoch_seed(model_config.seed, epoch) for epoch in range(initial_epoch, training_config.epochs)],
    )
    options = tf.data.Options()
    # Records are few and large: shard by element so every worker gets data whatever the file count.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _image_summary_samples(data_dir, training_config):
    from emorecog.datasets import tfrecord_reader

    dataset = tfrecord_reader.make_dataset(
        data_dir,
        "eval",
        training_config.image_summary_samples,
        target=training_config.target,
        with_context=True,
        verify="none",
    )
    inputs, _, context = next(iter(dataset))
    inputs = {key: value.numpy() for key, value in inputs.items()}
    names = [
        f"{subject.decode()}-trial{int(trial):02d}"
        for subject, trial in zip(context[features.SUBJECT_KEY].numpy(), context[features.TRIAL_KEY].numpy())
    ]
    return inputs, names


def _summary(checkpoint, data, training_config, seconds):
    history = checkpoint.history
    rates = [entry["train_samples_per_second"] for entry in history if "train_samples_per_second" in entry]
    # The first epoch includes tracing the train step; later epochs show the steady throughput.
    steady = rates[1:] or rates
    return {
        "target": training_config.target,
        "epochs_done": len(history) and history[-1]["epoch"],
        "best_epoch": checkpoint.best_epoch,
        "best_eval_f1_macro": checkpoint.best_value,
        "selection": "highest eval-split macro F1 (test split never used)",
        "num_train_samples": data.num_train_samples,
        "num_eval_samples": data.num_eval_samples,
        "train_samples_per_second": (sorted(steady)[len(steady) // 2] if steady else None),
        "seconds_this_run": round(seconds, 2),
    }


def _write_outputs(output_dir, model, model_config, training_config, data, history, summary):
    os.makedirs(output_dir, exist_ok=True)
    model.save(os.path.join(output_dir, MODEL_FILE))
    # the data's record schema (with its EEG interpolation operator): the exported model's signatures use it
    features.write_schema(os.path.join(output_dir, "schema.json"), data.record_schema)
    documents = {
        "model_config.json": model_config.to_dict(),
        "training_config.json": training_config.to_dict(),
        "history.json": history,
        "training_summary.json": summary,
        "eeg_normalisation.json": {
            "source": "train split (stats.json)",
            "band_mean": data.eeg_band_mean,
            "band_std": data.eeg_band_std,
            "bands": list(features.EEG_BANDS),
        },
    }
    preprocessing = preprocessing_settings(data.data_dir)
    if preprocessing is not None:
        documents[PREPROCESSING_FILE] = preprocessing
    for name, value in documents.items():
        with open(os.path.join(output_dir, name), "w") as handle:
            json.dump(value, handle, indent=2)


def preprocessing_settings(data_dir):
    """How the ExampleGen output was made (preprocessing, label rule, split), from its metadata, or None.

    `emorecog predict --deap` preprocesses a new trial with exactly these settings.
    """
    from emorecog.artifact_metadata import read_metadata

    metadata = read_metadata(data_dir) or {}
    parameters = metadata.get("parameters") or {}
    if "preprocess" not in parameters:
        return None
    return {
        "preprocess_config": parameters["preprocess"],
        "eeg_channels": parameters.get("eeg_channels"),
        "label_rule": parameters.get("label_rule"),
        "split": parameters.get("split"),
        "example_gen_config_hash": metadata.get("config_hash"),
    }
