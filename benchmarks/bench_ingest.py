"""End-to-end ingest (DEAP directory -> TFRecords): trials per second, memory, and where one trial's time goes.

Each run is a child process (`process_tree.run_python`), so its wall time and the peak resident memory of
its process tree (the main process + Beam's worker processes) are its own. On synthetic DEAP sets written
for the run (full: DEAP-size trials, 60 s + 3 s baseline, face video 720 x 576 at 50 fps, MJPEG as
`emorecog synth --deap-size` writes it; quick: small ones):

with face (full: 3 subjects x 8 trials; the multi-process runs' start-up, workers importing Beam, SciPy
and MediaPipe and stopping at the end, is a few seconds of that, reported as `startup_seconds`):
- `serial_loop`: every trial through the library in one process (read, `TrialPreprocessor.process`,
  `features.encode_example`, one GZIP member per record), no Beam: the reference for the runners;
- `beam_in_process`: ExampleGen with one in-process worker;
- `beam_multiprocess`: ExampleGen's default runner (one worker process per core);
- `baseline_multiprocess`: the SAME default runner of the code before issue 11 (commit BASELINE_COMMIT,
  exported with `git archive` into a temporary folder and run with this interpreter), on the same trials:
  "today's" figure. Skipped (reported as such) where git or the commit is not available.
- `per_stage_profile`: cProfile of one trial through the library, by stage (read, decode, select, detect,
  crop, JPEG encode, EEG denoise / band energy, image moments, serialise, write): where the time goes, so
  the next change is aimed by data (`per_stage_profile_eeg_only`: the same for an EEG-only trial).
EEG only (full: 1, 2 and 4 subjects x 40 trials without video):
- `serial_loop`, `beam_in_process` (80 trials) and `beam_multiprocess` (2 workers) on 40, 80 and 160
  trials: trials/s and the process tree's peak RSS for 1x, 2x, 4x the trials.

Multi-process runs pay a start-up (worker processes importing NumPy, SciPy, Beam; MediaPipe when the
first face trial arrives). From the progress events of a run (trials done over time)
a straight line gives the steady rate R and the start-up S = wall - trials / R; the trials needed before
the whole run reaches `GOAL_MULTIPROCESS_RATIO` x the serial rate r are n = k r S / (1 - k r / R). The
same line projects each runner's wall time S + n / R to the 880 face trials of the full DEAP.

Goals (issue 11): with face, default runner >= 5x the baseline's trials/s, and its steady rate >= 1.7x the
serial loop; EEG only: steady rate >= 10 trials/s on 2 cores, Beam in-process >= 0.8x the serial loop,
peak RSS for 2x and 4x the trials <= 1.2x the peak for 1x, and < 1.5 GB with 2 workers.
"""

import json
import os
import shutil
import subprocess
import tempfile

from benchmarks import process_tree

BASELINE_COMMIT = "c426acc"  # main before issue 11: records of float32 images, WriteToTFRecord, two decodes
GOAL_VS_BASELINE = 5.0
GOAL_MULTIPROCESS_RATIO = 1.7
GOAL_EEG_TRIALS_PER_SECOND = 10.0
GOAL_EEG_IN_PROCESS_RATIO = 0.8
GOAL_MEMORY_GROWTH = 1.2
GOAL_EEG_PEAK_BYTES = 1.5e9
DEAP_FACE_TRIALS = 880  # s01..s22 x 40 trials have face video

_EXAMPLE_GEN_CHILD = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from emorecog.components import example_gen
assert {expected_code!r} in example_gen.__file__, example_gen.__file__
events = []
started = time.perf_counter()
def progress(done, total):
    if done and (not events or events[-1][1] != done):
        events.append((round(time.perf_counter() - started, 3), done))
run = example_gen.run_example_gen({deap!r}, {out!r}, num_workers={workers!r}, force=True, progress=progress,
                                  beam_log={log!r})
print(json.dumps({{"written": run.metadata["summary"]["trials"]["written"],
                   "seconds": time.perf_counter() - started, "events": events}}))
"""

_SERIAL_CHILD = """
import json, os, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
started = time.perf_counter()
from emorecog import features
from emorecog.components.record_shards import gzip_record_member
from emorecog.datasets.deap import DeapDataset
from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor
dataset = DeapDataset({deap!r})
keys = dataset.trial_keys()
with TrialPreprocessor() as preprocessor, open({out!r}, "wb") as out:
    for key in keys:
        sample, _ = preprocessor.process(dataset.read_trial(key.subject, key.trial), dataset=dataset.name)
        out.write(gzip_record_member(features.encode_example(sample)))
print(json.dumps({{"written": len(keys), "seconds": time.perf_counter() - started}}))
"""


def steady_state(events, written, seconds):
    """(steady trials/s, start-up seconds) from (time, trials done) events: a least-squares line."""
    if len(events) < 3:
        return None, None
    times = [float(t) for t, _ in events]
    done = [float(d) for _, d in events]
    mean_t, mean_d = sum(times) / len(times), sum(done) / len(done)
    spread = sum((t - mean_t) ** 2 for t in times)
    if spread <= 0:
        return None, None
    rate = sum((t - mean_t) * (d - mean_d) for t, d in zip(times, done)) / spread
    if rate <= 0:
        return None, None
    return rate, max(0.0, seconds - written / rate)


def projected_seconds(run, trials):
    """Wall seconds of `run` (an `example_gen_run` result) for `trials` trials: start-up + trials / steady rate."""
    if not run.get("steady_trials_per_second"):
        return None
    return run["startup_seconds"] + trials / run["steady_trials_per_second"]


def trials_to_amortise(serial_rate, steady_rate, startup_seconds, ratio=GOAL_MULTIPROCESS_RATIO):
    """Smallest trial count n with n / (S + n / R) >= ratio * r, or None if R itself is below ratio * r."""
    if steady_rate is None or startup_seconds is None or steady_rate <= ratio * serial_rate:
        return None
    return int(-(-ratio * serial_rate * startup_seconds // (1.0 - ratio * serial_rate / steady_rate)))


def example_gen_run(deap_dir, out_dir, workers, pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    code = _EXAMPLE_GEN_CHILD.format(
        deap=deap_dir,
        out=out_dir,
        workers=workers,
        expected_code=pythonpath or os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        log=os.path.join(os.path.dirname(out_dir), "beam.log"),
    )
    # `python -c` puts its working directory first on sys.path: run away from the repository, so that
    # PYTHONPATH (the baseline's code) decides which emorecog is imported.
    result, seconds, peak = process_tree.run_python(code, env=env, cwd=os.path.dirname(out_dir))
    rate, startup = steady_state(result["events"], result["written"], result["seconds"])
    stored = _stored_bytes(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "trials": result["written"],
        "seconds": round(result["seconds"], 2),
        "trials_per_second": round(result["written"] / result["seconds"], 3),
        "steady_trials_per_second": None if rate is None else round(rate, 3),
        "startup_seconds": None if startup is None else round(startup, 1),
        "peak_tree_rss_mb": round(peak / 1e6),
        "stored_mb": round(stored / 1e6, 1),
        "stored_mb_per_trial": round(stored / 1e6 / max(result["written"], 1), 3),
    }


def _stored_bytes(out_dir):
    """Bytes of the record files (Split-*/*.gz) of an ExampleGen output."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(out_dir)
        for name in names
        if name.endswith(".gz")
    )


def serial_run(deap_dir, out_path):
    result, _, peak = process_tree.run_python(
        _SERIAL_CHILD.format(deap=deap_dir, out=out_path), cwd=os.path.dirname(out_path)
    )
    os.remove(out_path)
    return {
        "trials": result["written"],
        "seconds": round(result["seconds"], 2),
        "trials_per_second": round(result["written"] / result["seconds"], 3),
        "peak_tree_rss_mb": round(peak / 1e6),
    }


def baseline_tree(directory):
    """The code of BASELINE_COMMIT laid out as the installed package (components/ -> emorecog/components), or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.path.join(directory, "baseline")
    try:
        archive = subprocess.run(
            ["git", "-C", root, "archive", BASELINE_COMMIT, "emorecog", "components", "pipelines"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    os.makedirs(target)
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    for name in ("components", "pipelines"):
        os.rename(os.path.join(target, name), os.path.join(target, "emorecog", name))
    return target


def per_stage_profile(deap_dir, with_video=True):
    """cProfile of one trial (the first with video, or without) through the library, in seconds per stage.

    The trial goes through what ExampleGen's worker does with it: read, preprocess, serialise, GZIP, and
    the per-band moments of its EEG images for the train split's normalisation statistics.
    """
    import cProfile
    import pstats

    from emorecog import features
    from emorecog.components.record_shards import gzip_record_member
    from emorecog.datasets.deap import DeapDataset
    from emorecog.preprocessing.trial_preprocessor import TrialPreprocessor

    dataset = DeapDataset(deap_dir)
    key = next(key for key in dataset.trial_keys() if (key.face_video is not None) == with_video)
    with TrialPreprocessor() as preprocessor, tempfile.TemporaryFile() as out:
        preprocessor.process(dataset.read_trial(key.subject, key.trial))  # warm-up: detector, operator, imports
        profile = cProfile.Profile()
        profile.enable()
        trial = dataset.read_trial(key.subject, key.trial)
        sample, _ = preprocessor.process(trial, dataset=dataset.name)
        serialized = features.encode_example(sample)
        out.write(gzip_record_member(serialized))
        preprocessor.interpolation_operator(trial.eeg_channels).pixel_moments(sample[features.EEG_BAND_ENERGY_KEY])
        profile.disable()
    stats = pstats.Stats(profile).stats
    total = sum(entry[2] for entry in stats.values())  # total of own times = profiled wall (one thread)

    def cumulative(file_part, function):
        return sum(entry[3] for (path, _, name), entry in stats.items() if file_part in path and name == function)

    def own(function):
        return sum(entry[2] for (_, _, name), entry in stats.items() if function in name)

    stages = {
        "read (DEAP .dat)": cumulative("deap.py", "read_trial"),
        "decode (demux + JPEG / FFmpeg decode + RGB)": own("'read' of 'cv2.VideoCapture'")
        + own("'grab' of 'cv2.VideoCapture'")
        + cumulative("video_frames.py", "_decode_packet")
        + cumulative("video_frames.py", "_retrieve"),
        "select (timestamps)": cumulative("video_frames.py", "select_frame_indices"),
        "detect (MediaPipe BlazeFace)": cumulative("face_detector.py", "detect"),
        "crop + resize": cumulative("face_crops.py", "crop_and_resize"),
        "JPEG encode": cumulative("face_crops.py", "encode_jpeg"),
        "EEG: wavelet denoise": cumulative("wavelet_denoise.py", "wavelet_denoise"),
        "EEG: band filters + energy": cumulative("band_energy.py", "band_energy"),
        "EEG: checks, rounding": cumulative("trial_preprocessor.py", "process_eeg")
        - cumulative("wavelet_denoise.py", "wavelet_denoise")
        - cumulative("band_energy.py", "band_energy"),
        "EEG image moments (normalisation statistics)": cumulative("eeg_images.py", "pixel_moments"),
        "serialise (tf.train.Example)": cumulative("features.py", "encode_example"),
        "write (GZIP member)": cumulative("record_shards.py", "gzip_record_member") + own("'write' of"),
    }
    stages["other"] = max(0.0, total - sum(stages.values()))
    return {
        "trial": f"{key.subject} video {key.trial}",
        "seconds": round(total, 3),
        "stages": {
            name: {"seconds": round(value, 3), "share": round(value / total, 3)} for name, value in stages.items()
        },
    }


def run(quick=False):
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

    cores = os.cpu_count() or 1
    workers = min(2, cores)
    if quick:
        face_config = SynthConfig(subjects=2, trials=3, duration_s=10, fps=25, width=320, height=240)
        eeg_configs = [SynthConfig(subjects=n, trials=6, duration_s=10, subjects_without_video=n) for n in (1, 2, 4)]
    else:
        face_config = SynthConfig.deap_size(subjects=3, trials=8)
        eeg_configs = [SynthConfig.deap_size(subjects=n, subjects_without_video=n) for n in (1, 2, 4)]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        face_dir = write_synthetic_deap(os.path.join(directory, "deap-face"), face_config, workers=None)
        face = {
            "serial_loop": serial_run(face_dir, os.path.join(directory, "face-serial.gz")),
            "beam_in_process": example_gen_run(face_dir, os.path.join(directory, "face-1"), 1),
            "beam_multiprocess": example_gen_run(face_dir, os.path.join(directory, "face-n"), workers),
        }
        baseline = None if quick else baseline_tree(directory)
        if baseline is not None:
            face["baseline_multiprocess"] = example_gen_run(
                face_dir, os.path.join(directory, "face-base"), workers, pythonpath=baseline
            )
        profile = per_stage_profile(face_dir)
        shutil.rmtree(face_dir)

        eeg = {}
        for multiple, config in zip((1, 2, 4), eeg_configs):
            eeg_dir = write_synthetic_deap(os.path.join(directory, f"deap-eeg-{multiple}x"), config, workers=None)
            if multiple == 2:
                eeg_profile = per_stage_profile(eeg_dir, with_video=False)
                eeg["serial_loop"] = serial_run(eeg_dir, os.path.join(directory, "eeg-serial.gz"))
                eeg["beam_in_process"] = example_gen_run(eeg_dir, os.path.join(directory, "eeg-1"), 1)
            eeg[f"beam_multiprocess_{multiple}x"] = example_gen_run(
                eeg_dir, os.path.join(directory, f"eeg-{multiple}x"), workers
            )
            shutil.rmtree(eeg_dir)

    serial_face = face["serial_loop"]["trials_per_second"]
    multi_face = face["beam_multiprocess"]
    results["with_face"] = face
    face_ratios = {
        "multiprocess_vs_serial_wall": round(multi_face["trials_per_second"] / serial_face, 3),
        "multiprocess_steady_vs_serial": (
            round(multi_face["steady_trials_per_second"] / serial_face, 3)
            if multi_face["steady_trials_per_second"]
            else None
        ),
        "in_process_vs_serial": round(face["beam_in_process"]["trials_per_second"] / serial_face, 3),
        "trials_to_amortise_startup_at_1.7x": trials_to_amortise(
            serial_face, multi_face["steady_trials_per_second"], multi_face["startup_seconds"]
        ),
    }
    if "baseline_multiprocess" in face:
        face_ratios["multiprocess_vs_baseline_multiprocess"] = round(
            multi_face["trials_per_second"] / face["baseline_multiprocess"]["trials_per_second"], 2
        )
        new, old = (projected_seconds(run, DEAP_FACE_TRIALS) for run in (multi_face, face["baseline_multiprocess"]))
        if new and old:
            face_ratios[f"projected_seconds_for_{DEAP_FACE_TRIALS}_trials"] = round(new)
            face_ratios[f"baseline_projected_seconds_for_{DEAP_FACE_TRIALS}_trials"] = round(old)
            face_ratios[f"projected_vs_baseline_at_{DEAP_FACE_TRIALS}_trials"] = round(old / new, 2)
    results["with_face_ratios"] = face_ratios
    results["per_stage_profile"] = profile

    eeg_serial = eeg["serial_loop"]["trials_per_second"]
    peaks = {f"{m}x": eeg[f"beam_multiprocess_{m}x"]["peak_tree_rss_mb"] for m in (1, 2, 4)}
    eeg_4x = eeg["beam_multiprocess_4x"]
    results["eeg_only"] = eeg
    results["per_stage_profile_eeg_only"] = eeg_profile
    results["eeg_only_ratios"] = {
        "in_process_vs_serial": round(eeg["beam_in_process"]["trials_per_second"] / eeg_serial, 3),
        "multiprocess_4x_wall_trials_per_second": eeg_4x["trials_per_second"],
        "multiprocess_4x_steady_trials_per_second": eeg_4x["steady_trials_per_second"],
        "projected_seconds_for_1280_trials": (
            round(eeg_4x["startup_seconds"] + 1280 / eeg_4x["steady_trials_per_second"])
            if eeg_4x["steady_trials_per_second"]
            else None
        ),
        "peak_tree_rss_mb": peaks,
        "peak_2x_over_1x": round(peaks["2x"] / peaks["1x"], 3),
        "peak_4x_over_1x": round(peaks["4x"] / peaks["1x"], 3),
    }

    goals = {
        "eeg_in_process_vs_serial": results["eeg_only_ratios"]["in_process_vs_serial"] >= GOAL_EEG_IN_PROCESS_RATIO,
        "eeg_memory_flat": max(peaks["2x"], peaks["4x"]) <= GOAL_MEMORY_GROWTH * peaks["1x"],
        "eeg_memory_under_1.5_gb": max(peaks.values()) * 1e6 < GOAL_EEG_PEAK_BYTES,
    }
    if not quick:
        goals["eeg_steady_trials_per_second"] = (eeg_4x["steady_trials_per_second"] or 0) >= GOAL_EEG_TRIALS_PER_SECOND
        goals["face_multiprocess_steady_vs_serial"] = (
            face_ratios["multiprocess_steady_vs_serial"] or 0
        ) >= GOAL_MULTIPROCESS_RATIO
        goals["face_vs_baseline"] = face_ratios.get("multiprocess_vs_baseline_multiprocess", 0) >= GOAL_VS_BASELINE
    return {
        "goal": (
            f"with face: default runner >= {GOAL_VS_BASELINE}x the baseline ({BASELINE_COMMIT}), steady rate >= "
            f"{GOAL_MULTIPROCESS_RATIO}x serial; EEG only: steady >= {GOAL_EEG_TRIALS_PER_SECOND} trials/s, "
            f"in-process >= {GOAL_EEG_IN_PROCESS_RATIO}x serial, peak RSS at 2x/4x trials <= "
            f"{GOAL_MEMORY_GROWTH}x the 1x peak and < 1.5 GB"
        ),
        "goal_met": all(goals.values()),
        "goals": goals,
        **results,
        "datasets": {
            "with_face": {
                "subjects": face_config.subjects,
                "trials_per_subject": face_config.trials,
                "trial_seconds": face_config.duration_s,
                "video": f"{face_config.width}x{face_config.height}@{face_config.fps} MJPEG",
            },
            "eeg_only_trials": {f"{m}x": c.subjects * c.trials for m, c in zip((1, 2, 4), eeg_configs)},
        },
        "cpu_count": cores,
        "workers": workers,
        "note": (
            "wall times of whole runs in child processes, including worker start-up; peak RSS sampled every "
            "0.1 s over the process tree (a lower bound); the machine may be shared, so compare runs of "
            "the same benchmark, not across runs"
        ),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick=True), indent=2))
