"""SavedModel serving latency on CPU: the glimpse model vs the full-sequence baseline, same run, same inputs.

Both models are built at the paper's defaults for one DEAP trial (T = 480 frames at 8 fps, 32 x 32 EEG
images, 64 x 64 face crops), exported with `emorecog.serving.saved_model` (the Pusher's code) and
loaded back with `tf.saved_model.load`, as TF Serving or another TensorFlow app would; the timed call is
the `serving_default` signature on tensors already in memory. Weights are untrained: latency depends on the
graph, not on the values, except through the number of glimpses the policy takes (reported; the worst
case is N_max = 40, which an untrained policy usually takes).

Reported: latency p50 / p99 at batch 1 and throughput (trials/s) at batch 32, for each model, and the
glimpse model's speed-up over the full-sequence model (the reference measured in the same run).
`run(quick=True)` times 20 s trials (T = 160, the demo's) instead, with fewer calls: a smoke run.

REST request bodies (issue 11): one synthetic DEAP-size trial (60 s, face video 720 x 576 at 50 fps) goes
through the real preprocessing (MediaPipe crops, band energies) into a record, and the JSON body that
`emorecog predict --request-json` writes is measured for each signature: `serving_default` (dense float32
images and uint8 crops as JSON numbers), `serve_examples` (the base64 record) and `serve_compact` (band
energies as numbers, JPEG crops as base64). The synthetic face is a drawn cartoon: real faces have more
texture, so their JPEG crops, and the bodies, are larger (see the README).

Goals: p50 at batch 1 of the glimpse model <= 50 ms per trial on this 2-core machine (issue 5); the
serve_compact body of a 60 s trial <= 1.5 MB (issue 11).
"""

import os
import shutil
import tempfile
import time

import numpy as np

GOAL_P50_MS = 50.0
GOAL_COMPACT_BODY_BYTES = 1.5e6


def request_body_sizes(directory, quick):
    """Bytes of each signature's REST body (compact JSON) for one synthetic trial, and the record's size."""
    import json

    from emorecog import features
    from emorecog.datasets.deap import DeapDataset
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap
    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor
    from emorecog.serving import signatures, trial_request
    from emorecog.serving.trial_request import compact_inputs

    config = (
        SynthConfig(subjects=1, trials=1, duration_s=10, fps=25, width=320, height=240)
        if quick
        else SynthConfig.deap_size(subjects=1, trials=1)
    )
    dataset = DeapDataset(write_synthetic_deap(os.path.join(directory, "deap"), config))
    trial = dataset.read_trial("s01", 1)
    with TrialPreprocessor() as preprocessor:
        sample, report = preprocessor.process(trial, dataset=dataset.name)
        shape = preprocessor.config.sample_shape(trial.duration_s, trial.sampling_rate)
        schema = preprocessor.record_schema(trial.eeg_channels, shape)
    record = features.encode_example(sample)
    decoded = {key: value.numpy() for key, value in features.decode_examples([record], schema).items()}
    bodies = {
        signatures.SERVING_DEFAULT: trial_request.dense_request_body(
            {key: decoded[key] for key in signatures.DENSE_INPUT_KEYS}
        ),
        signatures.SERVE_EXAMPLES: trial_request.examples_request_body([record]),
        signatures.SERVE_COMPACT: trial_request.compact_request_body(compact_inputs(record, schema)),
    }
    sizes = {name: len(json.dumps(body, separators=(",", ":"))) for name, body in bodies.items()}
    jpegs = [
        len(jpeg) for jpeg, present in zip(sample[features.FACE_KEY], sample[features.FACE_PRESENT_KEY]) if present
    ]
    return {
        "trial_seconds": config.duration_s,
        "num_frames": shape.num_frames,
        "body_bytes": sizes,
        "record_bytes": len(record),
        "face_frames": len(jpegs),
        "mean_face_jpeg_bytes": round(sum(jpegs) / max(len(jpegs), 1)),
        "detection_rate": report["detection_rate"],
    }


def run(quick=False):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from emorecog import features
    from emorecog.models.builder import build_model
    from emorecog.models.model_config import ModelConfig
    from emorecog.preprocessing.trial_preprocessor import record_schema_for
    from emorecog.serving.saved_model import export_saved_model

    # Quick (smoke) runs use the demo's 20 s trials: building the full-sequence model runs its 480-step
    # recurrence eagerly once, which alone takes most of a minute on a busy 2-core machine.
    shape = features.SampleShape(num_frames=160) if quick else features.SampleShape()
    latency_calls = 8 if quick else 100
    throughput_calls = 1 if quick else 3
    random = np.random.default_rng(0)

    def batch(size):
        return {
            features.EEG_KEY: tf.constant(random.gamma(2.0, 1.0, (size, *shape.eeg_shape)).astype(np.float32)),
            features.FACE_KEY: tf.constant(random.integers(0, 256, (size, *shape.face_shape), dtype=np.uint8)),
            features.FACE_PRESENT_KEY: tf.constant(np.ones((size, shape.num_frames), np.float32)),
        }

    single, thirty_two = batch(1), batch(32)
    results = {}
    stage_seconds = {}
    scratch = tempfile.mkdtemp(prefix="bench-serving-")
    try:
        for name, ablation in (("glimpse", "full"), ("full_sequence", "full_sequence")):
            config = ModelConfig.for_ablation(ablation)
            started = time.perf_counter()
            model = build_model(config, shape)
            stage_seconds[f"{name}_build"] = round(time.perf_counter() - started, 2)
            export_dir = os.path.join(scratch, name)
            started = time.perf_counter()
            export_saved_model(model, record_schema_for(shape), export_dir)
            export_seconds = time.perf_counter() - started
            del model
            signature = tf.saved_model.load(export_dir).signatures["serving_default"]
            outputs = signature(**single)  # first call: graph warm-up, not timed
            glimpses = int(outputs["glimpse_count"][0])
            latencies = [_timed(lambda: signature(**single)) for _ in range(latency_calls)]
            if not quick:
                signature(**thirty_two)  # warm-up (memory of the large batch); quick runs time the first call
            batch_seconds = min(_timed(lambda: signature(**thirty_two)) for _ in range(throughput_calls))
            results[name] = {
                "p50_ms_batch_1": round(1000 * float(np.percentile(latencies, 50)), 2),
                "p99_ms_batch_1": round(1000 * float(np.percentile(latencies, 99)), 2),
                "throughput_trials_per_s_batch_32": round(32 / batch_seconds, 2),
                "glimpses_taken": glimpses,
                "export_seconds": round(export_seconds, 2),
                "saved_model_mb": round(_size_mb(export_dir), 2),
            }
        bodies = request_body_sizes(scratch, quick)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    glimpse, full = results["glimpse"], results["full_sequence"]
    compact_bytes = bodies["body_bytes"]["serve_compact"]
    return {
        "rest_bodies": bodies,
        "compact_body_mb": round(compact_bytes / 1e6, 3),
        "compact_body_goal_met": compact_bytes <= GOAL_COMPACT_BODY_BYTES,
        "sample_shape": {"num_frames": shape.num_frames, "image_size": shape.image_size, "face_size": shape.face_size},
        "latency_calls": latency_calls,
        "setup_seconds": stage_seconds,
        "models": results,
        "speedup_p50_vs_full_sequence": round(full["p50_ms_batch_1"] / glimpse["p50_ms_batch_1"], 2),
        "speedup_throughput_vs_full_sequence": round(
            glimpse["throughput_trials_per_s_batch_32"] / full["throughput_trials_per_s_batch_32"], 2
        ),
        "goal": f"glimpse SavedModel p50 latency at batch 1 <= {GOAL_P50_MS:g} ms per trial "
        "(full-sequence export measured in the same run as the reference); serve_compact REST body of "
        f"one 60 s trial <= {GOAL_COMPACT_BODY_BYTES / 1e6:g} MB",
        "goal_met": glimpse["p50_ms_batch_1"] <= GOAL_P50_MS and compact_bytes <= GOAL_COMPACT_BODY_BYTES,
    }


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _size_mb(directory):
    return (
        sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(directory) for name in names) / 1e6
    )
