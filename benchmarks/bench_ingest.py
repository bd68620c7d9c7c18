"""End-to-end ingest throughput (trials per second): DEAP directory -> TFRecords, with face and EEG only.

On a synthetic DEAP written for the run (quick: 2 subjects x 3 trials of 10 s, 320 x 240 video at 25 fps;
full: 2 subjects x 4 DEAP-sized trials, 60 s, 720 x 576 at 50 fps), three ways over the same trials:
- reference: a plain serial loop in this process (read trial, `TrialPreprocessor.process`,
  `features.encode_example`, GZIP TFRecordWriter), no Beam;
- ExampleGen on Beam with one in-process worker (`num_workers=1`): the pipeline's own overhead;
- ExampleGen with the default runner (multi-process DirectRunner, one worker per core): wall time
  including worker start-up (each worker imports TensorFlow and MediaPipe). Full run only for EEG-only.
Times are wall-clock of the whole call (splits, pipeline, stats.json), so small sets show start-up costs.

Goal: the in-process Beam run reaches >= 0.75x the serial loop's trials/s with face (Beam costs <= 25 %);
in the full run also the default multi-process run >= 1.2x the serial loop with face when >= 2 cores.
"""

import os
import shutil
import tempfile
import time

GOAL_IN_PROCESS_RATIO = 0.75
GOAL_MULTIPROCESS_RATIO = 1.2


def serial_loop(deap_dir, out_path):
    """The reference: every trial through the library in one process, written to one GZIP TFRecord file."""
    import tensorflow as tf

    from emorecog import features
    from emorecog.datasets.deap import DeapDataset
    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor

    started = time.perf_counter()
    dataset = DeapDataset(deap_dir)
    keys = dataset.trial_keys()
    with TrialPreprocessor() as preprocessor, tf.io.TFRecordWriter(out_path, options="GZIP") as writer:
        for key in keys:
            trial = dataset.read_trial(key.subject, key.trial)
            sample, _ = preprocessor.process(trial, dataset=dataset.name)
            writer.write(features.encode_example(sample))
    return len(keys), time.perf_counter() - started


def example_gen_run(deap_dir, out_dir, num_workers):
    from emorecog.components import example_gen

    started = time.perf_counter()
    run = example_gen.run_example_gen(deap_dir, out_dir, num_workers=num_workers, force=True,
                                      beam_log=os.path.join(os.path.dirname(out_dir), "beam.log"))
    seconds = time.perf_counter() - started
    return run.metadata["summary"]["trials"]["written"], seconds


def run(quick=False):
    import tensorflow  # noqa: F401  (imported once up front: no run below pays for it)

    from emorecog.datasets.deap_format import FACE_VIDEO_DIR
    from emorecog.datasets.synthetic import SynthConfig, write_synthetic_deap

    if quick:
        config = SynthConfig(subjects=2, trials=3, duration_s=10, fps=25, width=320, height=240)
    else:
        config = SynthConfig.deap_size(subjects=2, trials=4)
    cores = os.cpu_count() or 1
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        with_face = os.path.join(directory, "deap")
        started = time.perf_counter()
        write_synthetic_deap(with_face, config)
        generate_seconds = time.perf_counter() - started
        eeg_only = os.path.join(directory, "deap-eeg-only")
        shutil.copytree(with_face, eeg_only, ignore=shutil.ignore_patterns(FACE_VIDEO_DIR))

        for name, deap_dir in (("with_face", with_face), ("eeg_only", eeg_only)):
            runs = {}
            trials, seconds = serial_loop(deap_dir, os.path.join(directory, f"{name}-serial.gz"))
            runs["serial_loop"] = (trials, seconds)
            runs["beam_in_process"] = example_gen_run(deap_dir, os.path.join(directory, f"{name}-1"), 1)
            if name == "with_face" or not quick:
                runs["beam_multiprocess"] = example_gen_run(deap_dir, os.path.join(directory, f"{name}-n"), None)
            results[name] = {
                run_name: {"trials": trials, "seconds": round(seconds, 2),
                           "trials_per_second": round(trials / seconds, 3),
                           "trial_seconds_per_second": round(trials * config.duration_s / seconds, 2)}
                for run_name, (trials, seconds) in runs.items()
            }
            reference = results[name]["serial_loop"]["trials_per_second"]
            for run_name in runs:
                results[name][run_name]["vs_serial_loop"] = round(
                    results[name][run_name]["trials_per_second"] / reference, 3)

    in_process_ratio = results["with_face"]["beam_in_process"]["vs_serial_loop"]
    multiprocess_ratio = results["with_face"]["beam_multiprocess"]["vs_serial_loop"]
    goal_met = in_process_ratio >= GOAL_IN_PROCESS_RATIO
    if not quick and cores >= 2:
        goal_met = goal_met and multiprocess_ratio >= GOAL_MULTIPROCESS_RATIO
    return {
        "goal": (f"Beam in-process ingest >= {GOAL_IN_PROCESS_RATIO}x the serial loop's trials/s with face"
                 + ("" if quick else f"; default multi-process >= {GOAL_MULTIPROCESS_RATIO}x on >= 2 cores")),
        "goal_met": bool(goal_met),
        "with_face": results["with_face"],
        "eeg_only": results["eeg_only"],
        "dataset": {"subjects": config.subjects, "trials_per_subject": config.trials,
                    "trial_seconds": config.duration_s, "video": f"{config.width}x{config.height}@{config.fps}",
                    "generation_seconds": round(generate_seconds, 2)},
        "cpu_count": cores,
        "note": "wall time of whole runs including Beam and worker start-up; the default multi-process run "
                "pays ~10-20 s of worker start-up, which small sets cannot amortise",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
