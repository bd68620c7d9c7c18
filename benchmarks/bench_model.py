"""Model speed and learning: the glimpse model (temporal attention) against the full-sequence stacked LSTM.

Speed, on the same random inputs of the default sample shape (32x32 EEG images, 64x64 faces) and the
paper's sizes (N_max 40, L 3): inference latency per sample at batch 1 and batch 32 (a traced
`tf.function`, as served), and training samples per second at the paper's batch of 12, for T = 480
(60 s at 8 fps) and T = 240. The untrained policy never ends a sample early, so the glimpse model runs all
N_max glimpses: its worst case. A third glimpse-model row with N_max 10 shows that its cost follows the
number of glimpses, while the full-sequence cost follows T.

Learning (full run only): both models trained the same way on the planted-window task of
`tests/test_model_learning.py` (label only in 1/8 of the frames); held-out accuracy, glimpses per sample,
fraction of glimpses inside the window, training time.

Goal: the glimpse model's inference is >= 5x faster than the full-sequence model's for T = 480, at batch 1
and at batch 32 (ratio measured in the same run). The quick run checks the same ratio with T = 240 and
N_max = 20 (the same T / N_max) at batch 1 and 8.

Measured with TF_ENABLE_ONEDNN_OPTS=0 (as the CLI sets it) when this module is imported before TensorFlow.
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# As the `emorecog` CLI does: oneDNN's primitives make the glimpse model's batch-1 convs several times
# slower. Only effective if TensorFlow was not imported before this module (the result records it).
TENSORFLOW_IMPORTED_BEFORE = "tensorflow" in sys.modules
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

GOAL_INFERENCE_SPEEDUP = 5.0


def _inputs(shape, batch, seed=0):
    import numpy as np

    from emorecog import features

    rng = np.random.default_rng(seed)
    return {
        features.EEG_KEY: rng.normal(1.0, 0.5, size=(batch, *shape.eeg_shape)).astype("float32"),
        features.FACE_KEY: rng.integers(0, 256, size=(batch, *shape.face_shape)).astype("uint8"),
        features.FACE_PRESENT_KEY: (rng.random((batch, shape.num_frames)) > 0.1).astype("float32"),
    }


def _traced_inference(model, shape, batch):
    """A no-argument callable running one traced inference call (the serving path) on a fixed batch."""
    import tensorflow as tf

    from emorecog import features

    specs = features.serving_input_signature(shape)
    serve = tf.function(lambda inputs: model(inputs, training=False), autograph=False, input_signature=[specs])
    inputs = {key: tf.constant(value) for key, value in _inputs(shape, batch).items()}
    outputs = serve(inputs)  # trace and warm up
    glimpses = float(tf.reduce_mean(tf.cast(outputs["glimpse_count"], tf.float32)))
    return (lambda: serve(inputs)["probabilities"].numpy()), glimpses


def _interleaved_median_seconds(functions, rounds):
    """Median seconds per call of each function, timed round-robin so that a change in the machine's
    load (the CPU is shared) hits every function alike instead of whichever ran at that moment."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def _training_samples_per_second(model, shape, batch, steps):
    """Samples per second of `model.fit` steps (traced train_step: forward, losses, gradients, Adam)."""
    import numpy as np
    import tensorflow as tf

    inputs = _inputs(shape, batch, seed=1)
    labels = np.arange(batch) % 2
    batches = tf.data.Dataset.from_tensors((inputs, labels))
    model.fit(batches, epochs=1, verbose=0)  # trace and warm up
    started = time.perf_counter()
    model.fit(batches.repeat(steps), epochs=1, verbose=0)
    return batch * steps / (time.perf_counter() - started)


def measure_speed(quick):
    from emorecog.features import SampleShape
    from emorecog.models.builder import build_model
    from emorecog.models.model_config import ModelConfig

    if quick:
        # The same T / N_max = 12 as the full run, and the full-size frames, at half the length.
        frame_counts, batches, train_batch, repeats, image_size, face_size = (240, 120), (1, 8), 4, 5, 32, 64
        configs = {"glimpse": ModelConfig(max_glimpses=20), "glimpse_few": ModelConfig(max_glimpses=5),
                   "full_sequence": ModelConfig.for_ablation("full_sequence")}
    else:
        frame_counts, batches, train_batch, repeats, image_size, face_size = (480, 240), (1, 32), 12, 9, 32, 64
        configs = {"glimpse": ModelConfig(), "glimpse_few": ModelConfig(max_glimpses=10),
                   "full_sequence": ModelConfig.for_ablation("full_sequence")}
    rows = []
    for num_frames in frame_counts:
        shape = SampleShape(num_frames=num_frames, image_size=image_size, face_size=face_size)
        models = {name: build_model(config, shape) for name, config in configs.items()
                  if name != "glimpse_few" or num_frames == frame_counts[0]}
        rows_here = {name: {"model": name, "num_frames": num_frames,
                            "max_glimpses": configs[name].max_glimpses if configs[name].variant == "glimpse" else None}
                     for name in models}
        for batch in batches:
            calls = {}
            for name, model in models.items():
                calls[name], rows_here[name]["frames_read_per_sample"] = _traced_inference(model, shape, batch)
            for name, seconds in _interleaved_median_seconds(calls, repeats).items():
                rows_here[name][f"inference_ms_per_sample_batch_{batch}"] = round(1000 * seconds / batch, 3)
        for name, model in models.items():
            rows_here[name]["training_samples_per_second"] = round(
                _training_samples_per_second(model, shape, train_batch, 3), 2)
        rows.extend(rows_here.values())
    return rows, frame_counts, batches


def measure_learning():
    from emorecog.models.builder import build_model
    from emorecog.models.model_config import ModelConfig
    from emorecog.models.planted_window_task import PlantedWindowTask

    task = PlantedWindowTask(num_frames=128, window_start=76, window_length=16, evidence_rate=0.6)
    num_train, max_epochs = 384, 20
    train = task.generate(num_train, seed=0)
    validation = task.generate(96, seed=1)
    test_inputs, test_labels, test_starts = task.generate(128, seed=2)
    results = {"task": {"num_frames": task.num_frames,
                        "window": [task.window_start, task.window_start + task.window_length],
                        "evidence_rate": task.evidence_rate, "train_samples": num_train, "max_epochs": max_epochs}}
    for name, config in (("glimpse", ModelConfig(max_glimpses=16)),
                         ("full_sequence", ModelConfig.for_ablation("full_sequence"))):
        model = build_model(config, task.sample_shape, task.band_mean, task.band_std)
        started = time.perf_counter()
        history = task.fit_and_select(model, train, validation, max_epochs, config.batch_size, seed=0)
        seconds = time.perf_counter() - started
        score = task.score(model.predict(test_inputs, batch_size=64, verbose=0), test_labels, test_starts)
        reached = [entry["epoch"] for entry in history if entry["validation"]["accuracy"] >= 0.9]
        results[name] = {
            **{key: round(value, 4) for key, value in score.items()},
            "training_seconds": round(seconds, 1),
            "epochs": len(history),
            "selected_epoch": [entry["epoch"] for entry in history if entry["selected"]][0],
            "first_epoch_with_validation_accuracy_0.9": reached[0] if reached else None,
        }
    results["goals"] = {
        "accuracy_at_least_0.9": results["glimpse"]["accuracy"] >= 0.9,
        "glimpses_at_most_a_quarter_of_T": results["glimpse"]["mean_glimpses"] <= task.num_frames / 4,
        "inside_window_at_least_0.6": results["glimpse"]["inside_window_fraction"] >= 0.6,
    }
    return results


def run(quick=False):
    rows, frame_counts, batches = measure_speed(quick)
    by_key = {(row["model"], row["num_frames"]): row for row in rows}
    longest, shortest = frame_counts
    speedups = {}
    for batch in batches:
        key = f"inference_ms_per_sample_batch_{batch}"
        speedups[f"batch_{batch}"] = round(
            by_key[("full_sequence", longest)][key] / by_key[("glimpse", longest)][key], 2)
    cost_growth = {
        model: round(by_key[(model, longest)][f"inference_ms_per_sample_batch_{batches[0]}"]
                     / by_key[(model, shortest)][f"inference_ms_per_sample_batch_{batches[0]}"], 2)
        for model in ("glimpse", "full_sequence")
    }
    glimpse_ratio = round(by_key[("glimpse", longest)][f"inference_ms_per_sample_batch_{batches[0]}"]
                          / by_key[("glimpse_few", longest)][f"inference_ms_per_sample_batch_{batches[0]}"], 2)
    result = {
        "settings": {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                     "tensorflow_imported_before_this_benchmark": TENSORFLOW_IMPORTED_BEFORE},
        "goal": (f"glimpse model inference >= {GOAL_INFERENCE_SPEEDUP:g}x faster than the full-sequence stacked "
                 f"LSTM at T={longest}, batch {batches[0]} and {batches[1]}"),
        "goal_met": all(value >= GOAL_INFERENCE_SPEEDUP for value in speedups.values()),
        "inference_speedup_at_longest_T": speedups,
        f"latency_ratio_T{longest}_over_T{shortest}_batch_{batches[0]}": cost_growth,
        f"glimpse_latency_ratio_max_glimpses_{by_key[('glimpse', longest)]['max_glimpses']}_over_"
        f"{by_key[('glimpse_few', longest)]['max_glimpses']}": glimpse_ratio,
        "speed": rows,
        "learning": "skipped in the quick run (see tests/test_model_learning.py)" if quick else measure_learning(),
    }
    return result


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
