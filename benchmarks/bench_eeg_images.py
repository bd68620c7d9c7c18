"""EEG band images: the precomputed Clough-Tocher operator vs scipy `griddata(method="cubic")` per frame.

Both turn [frames, 32 electrodes, 3 bands] into [frames, 32, 32, 3] images over the same grid.
- Reference (the goal's): EEGLearn's loop, `griddata` once per frame and band (`gen_images`).
- Stricter reference, reported next to it: one `griddata` call per frame for all three bands (scipy
  triangulates once per call, so this is ~2-3x faster than EEGLearn's loop).
- Operator: one call on the whole trial, returning a C-contiguous float32 [T, 32, 32, 3].
The machine is shared and noisy, so every side is timed by its best run: the operator over whole-trial
calls, griddata over single frames (short runs, which favours the references). The operator's one-off
construction (MNE montage, triangulation, 32 interpolations) is reported apart.
Goal: the operator delivers at least 200x the frames per second of per-frame griddata (EEGLearn's loop).
"""

import time

import numpy as np

GOAL_SPEEDUP = 200.0
DEAP_CHANNELS = (
    "Fp1",
    "AF3",
    "F3",
    "F7",
    "FC5",
    "FC1",
    "C3",
    "T7",
    "CP5",
    "CP1",
    "P3",
    "P7",
    "PO3",
    "O1",
    "Oz",
    "Pz",
    "Fp2",
    "AF4",
    "Fz",
    "F4",
    "F8",
    "FC6",
    "FC2",
    "Cz",
    "C4",
    "T8",
    "CP6",
    "CP2",
    "P4",
    "P8",
    "PO4",
    "O2",
)


def run(quick=False):
    from scipy.interpolate import griddata

    from emorecog.preprocessing.eeg_images import InterpolationOperator

    num_frames = 480
    reference_frames = 48 if quick else 480
    repeats = 30 if quick else 100
    values = np.random.default_rng(0).uniform(-1.0, 1.0, (num_frames, len(DEAP_CHANNELS), 3))

    started = time.perf_counter()
    operator = InterpolationOperator(DEAP_CHANNELS, image_size=32)
    build_seconds = time.perf_counter() - started
    operator(values)  # the first call builds the band matrix and warms up BLAS
    operator_seconds = min(_timed(lambda: operator(values)) for _ in range(repeats))
    images = operator(values)

    grid = (operator.grid_u, operator.grid_v)
    reference, per_band_seconds, all_bands_seconds = [], [], []
    for frame in range(reference_frames):
        started = time.perf_counter()
        for band in range(3):
            griddata(operator.points, values[frame, :, band], grid, method="cubic")
        per_band_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        reference.append(griddata(operator.points, values[frame], grid, method="cubic"))
        all_bands_seconds.append(time.perf_counter() - started)
    reference = np.stack(reference)

    inside = operator.inside_hull
    max_difference = float(np.abs(images[:reference_frames][:, inside] - reference[:, inside]).max())
    operator_fps = num_frames / operator_seconds
    per_band_fps = 1.0 / min(per_band_seconds)
    all_bands_fps = 1.0 / min(all_bands_seconds)
    speedup = operator_fps / per_band_fps
    return {
        "goal": f"operator >= {GOAL_SPEEDUP:.0f}x the frames/s of per-frame scipy griddata(cubic) as EEGLearn "
        "runs it (one call per frame and band), same run",
        "goal_met": bool(speedup >= GOAL_SPEEDUP),
        "speedup": round(speedup, 1),
        "speedup_vs_griddata_all_bands_per_call": round(operator_fps / all_bands_fps, 1),
        "operator_frames_per_second": round(operator_fps, 1),
        "griddata_per_band_frames_per_second": round(per_band_fps, 1),
        "griddata_all_bands_frames_per_second": round(all_bands_fps, 1),
        "operator_build_seconds": round(build_seconds, 4),
        "max_abs_difference_inside_hull": max_difference,
        "frames": num_frames,
        "reference_frames": reference_frames,
        "image_size": 32,
    }


def _timed(step):
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
