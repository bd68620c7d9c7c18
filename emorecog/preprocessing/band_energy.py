"""EEG band energy per video frame: zero-phase band filters over the whole trial, then the energy of each
1/fps segment, normalised to the trial's own pre-trial baseline (paper section III.B; EEGLearn).

Why filter first and cut later: a 1/8 s segment at 128 Hz is 16 samples, whose spectrum has 8 Hz bins
and cannot tell theta from alpha. Each band is therefore filtered over the baseline and trial joined
together (so the filter's start-up transient falls before the trial and the baseline is filtered the same
way), with a Butterworth band-pass run forwards and backwards (`scipy.signal.sosfiltfilt`: zero phase,
the magnitude response squared). Energy = mean square of the band signal over each segment.

Segments: frame k of the trial covers samples [round(k * fs / fps), round((k + 1) * fs / fps)) after the
trial start; 60 s at 128 Hz and 8 fps -> 480 frames of 16 samples. The baseline is cut into frames of the
same length ending at the trial start (3 s -> 24 frames).

Baseline normalisation (per channel and band, from the trial's own baseline):

    "relative_db" (default)  10 log10(E / mean_b(E_b))               change from rest in dB
    "zscore"                 (L - mean_b(L_b)) / std_b(L_b),  L = 10 log10(E)   in baseline std units
    "log_db"                 10 log10(E)                             no baseline used
    "none"                   E (mean square, signal units squared)   no baseline used

"relative_db" is the default: it is unit-free (a subject's electrode impedance or gain cancels), 0 means
"as at rest", and its scale (a few dB) suits a network without further statistics. Energies are floored at
`ENERGY_FLOOR` before a logarithm so a flat channel gives finite values.
"""

import functools

import numpy as np

from emorecog.features import BAND_EDGES_HZ, EEG_BANDS

NORMALISATIONS = ("relative_db", "zscore", "log_db", "none")
ENERGY_FLOOR = 1e-12
ZSCORE_STD_FLOOR_DB = 1e-3


def band_filter(signal, sampling_rate, low_hz, high_hz, order=4):
    """Zero-phase Butterworth band-pass along the last axis.

    Args:
        signal: float array [..., samples].
        sampling_rate: samples per second.
        low_hz, high_hz: pass band edges (-3 dB of the one-way filter; -6 dB after forward-backward).
        order: Butterworth order of the one-way filter.

    Returns:
        float64 array like `signal`.
    """
    from scipy import signal as scipy_signal

    nyquist = sampling_rate / 2.0
    if not 0.0 < low_hz < high_hz < nyquist:
        raise ValueError(f"band {low_hz}-{high_hz} Hz must satisfy 0 < low < high < Nyquist ({nyquist} Hz)")
    sections = _bandpass_sections(order, float(low_hz), float(high_hz), float(sampling_rate))
    return scipy_signal.sosfiltfilt(sections, np.asarray(signal, dtype=np.float64), axis=-1)


@functools.lru_cache(maxsize=16)
def _bandpass_sections(order, low_hz, high_hz, sampling_rate):
    """Second-order sections of the Butterworth band-pass: designed once per band, not once per trial."""
    from scipy import signal as scipy_signal

    return scipy_signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=sampling_rate, output="sos")


def frame_boundaries(num_samples, sampling_rate, fps):
    """Sample indices [frames + 1] delimiting whole 1/fps segments from sample 0 (a partial tail is dropped).

    Args:
        num_samples: samples available.
        sampling_rate: samples per second.
        fps: frames per second.

    Returns:
        int64 array [frames + 1]: frame k is samples [b[k], b[k + 1]).
    """
    samples_per_frame = sampling_rate / fps
    if samples_per_frame < 1:
        raise ValueError(f"fps {fps} is above the sampling rate {sampling_rate}: a frame would hold no sample")
    num_frames = int(np.floor(num_samples / samples_per_frame + 1e-9))
    return np.round(np.arange(num_frames + 1) * samples_per_frame).astype(np.int64)


def segment_energy(signal, boundaries):
    """Mean square of `signal` [..., samples] within each [b[k], b[k + 1]) -> [..., frames]."""
    squared = np.square(signal[..., boundaries[0] : boundaries[-1]])
    sums = np.add.reduceat(squared, boundaries[:-1] - boundaries[0], axis=-1)
    return sums / np.diff(boundaries)


def normalise_to_baseline(energy, baseline_energy, normalisation):
    """Normalise frame energies with baseline frame energies, per channel and band.

    Args:
        energy: [frames, channels, bands] mean squares of the trial.
        baseline_energy: [baseline_frames, channels, bands] mean squares of the baseline, or None for
            the modes that use no baseline.
        normalisation: one of `NORMALISATIONS` (see the module docstring).

    Returns:
        float64 [frames, channels, bands].
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown baseline normalisation {normalisation!r}: expected one of {NORMALISATIONS}")
    if normalisation == "none":
        return energy
    if normalisation == "log_db":
        return _decibels(energy)
    if baseline_energy is None or baseline_energy.shape[0] == 0:
        raise ValueError(f"baseline normalisation {normalisation!r} needs a pre-trial baseline, got none")
    if normalisation == "relative_db":
        return _decibels(energy) - _decibels(baseline_energy.mean(axis=0))
    baseline_db = _decibels(baseline_energy)
    spread = np.maximum(baseline_db.std(axis=0), ZSCORE_STD_FLOOR_DB)
    return (_decibels(energy) - baseline_db.mean(axis=0)) / spread


def band_energy(eeg, sampling_rate, fps, baseline=None, normalisation="relative_db", filter_order=4, band_edges=None):
    """Per-frame band energies of a trial, normalised to its baseline.

    Args:
        eeg: float [channels, samples], the trial (e.g. DEAP: [32, 7680], 60 s at 128 Hz).
        sampling_rate: samples per second.
        fps: frames per second of the output (the face video's rate after resampling, 8 by default).
        baseline: float [channels, baseline_samples] recorded just before the trial (DEAP: [32, 384]),
            or None (only "log_db" and "none" then).
        normalisation: "relative_db" (default), "zscore", "log_db" or "none" (module docstring).
        filter_order: Butterworth order of each one-way band filter.
        band_edges: {band: (low_hz, high_hz)} for every band of `EEG_BANDS`; default `BAND_EDGES_HZ`.

    Returns:
        float32 [frames, channels, bands] with frames = floor(samples * fps / sampling_rate) and the
        bands in `EEG_BANDS` order (theta, alpha, beta).
    """
    band_edges = BAND_EDGES_HZ if band_edges is None else band_edges
    eeg = np.asarray(eeg, dtype=np.float64)
    if eeg.ndim != 2:
        raise ValueError(f"expected eeg [channels, samples], got shape {eeg.shape}")
    if baseline is not None:
        baseline = np.asarray(baseline, dtype=np.float64)
        if baseline.ndim != 2 or baseline.shape[0] != eeg.shape[0]:
            raise ValueError(
                f"expected baseline [{eeg.shape[0]} channels, samples] like eeg {eeg.shape}, got {baseline.shape}"
            )
    missing = [band for band in EEG_BANDS if band not in band_edges]
    if missing:
        raise ValueError(f"band_edges lacks {missing}: expected edges for {EEG_BANDS}")

    baseline_samples = 0 if baseline is None else baseline.shape[1]
    joined = eeg if baseline is None else np.concatenate([baseline, eeg], axis=1)
    trial_bounds = baseline_samples + frame_boundaries(eeg.shape[1], sampling_rate, fps)
    if len(trial_bounds) < 2:
        raise ValueError(f"eeg of {eeg.shape[1]} samples is shorter than one frame at {fps} fps")
    baseline_bounds = None
    if baseline_samples:
        own_bounds = frame_boundaries(baseline_samples, sampling_rate, fps)
        # align baseline frames so the last one ends exactly where the trial starts
        baseline_bounds = own_bounds + (baseline_samples - own_bounds[-1])

    trial_energy, baseline_energy = [], []
    for band in EEG_BANDS:
        low_hz, high_hz = band_edges[band]
        filtered = band_filter(joined, sampling_rate, low_hz, high_hz, order=filter_order)
        trial_energy.append(segment_energy(filtered, trial_bounds))
        if baseline_bounds is not None and len(baseline_bounds) > 1:
            baseline_energy.append(segment_energy(filtered, baseline_bounds))
    # [bands, channels, frames] -> [frames, channels, bands]
    trial_energy = np.transpose(np.stack(trial_energy), (2, 1, 0))
    baseline_energy = np.transpose(np.stack(baseline_energy), (2, 1, 0)) if baseline_energy else None
    return normalise_to_baseline(trial_energy, baseline_energy, normalisation).astype(np.float32)


def _decibels(energy):
    return 10.0 * np.log10(np.maximum(energy, ENERGY_FLOOR))
