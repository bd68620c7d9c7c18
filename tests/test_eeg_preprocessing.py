"""EEG path: wavelet denoising, band energy per frame, baseline normalisation, EEG band images, and the
EEG half of `TrialPreprocessor` (the face half is in test_face_path.py)."""

import dataclasses
import json
import os
import pickle

import numpy as np
import pytest
from scipy import signal as scipy_signal
from scipy.interpolate import griddata

from emorecog import features
from emorecog.preprocessing.band_energy import band_energy, frame_boundaries, normalise_to_baseline
from emorecog.preprocessing.eeg_images import (
    InterpolationOperator,
    azimuthal_equidistant_projection,
    electrode_positions,
)
from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor, record_schema_for
from emorecog.preprocessing.wavelet_denoise import wavelet_denoise

GENEVA_CHANNELS = (
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
SAMPLING_RATE = 128
BAND_INDEX = {band: index for index, band in enumerate(features.EEG_BANDS)}


@pytest.fixture(scope="module")
def operator():
    return InterpolationOperator(GENEVA_CHANNELS, image_size=32)


def sinusoid(frequency_hz, seconds, amplitude=10.0, channels=32, phase_seed=0):
    times = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    phases = np.random.default_rng(phase_seed).uniform(0, 2 * np.pi, (channels, 1))
    return amplitude * np.sin(2 * np.pi * frequency_hz * times + phases)


def band_power(signal, low_hz, high_hz):
    sections = scipy_signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=SAMPLING_RATE, output="sos")
    return float(np.mean(scipy_signal.sosfiltfilt(sections, signal, axis=-1) ** 2))


def background_eeg(seconds, channels=32, seed=0):
    """Band-limited (4-45 Hz, like DEAP's preprocessing) noise plus a 10 Hz alpha rhythm, in microvolts."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * SAMPLING_RATE)
    sections = scipy_signal.butter(2, [4, 45], btype="bandpass", fs=SAMPLING_RATE, output="sos")
    noise = 8.0 * scipy_signal.sosfiltfilt(sections, rng.standard_normal((channels, samples)), axis=-1)
    return noise + sinusoid(10.0, seconds, amplitude=10.0, channels=channels, phase_seed=seed)


def planted_blinks(seconds, channels=32, amplitude=150.0):
    """Eye-blink-like transients: 140 ms wide bumps of `amplitude` uV every 3.7 s, strongest frontally."""
    times = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    blink = np.zeros_like(times)
    for centre in np.arange(1.5, seconds - 0.5, 3.7):
        blink += amplitude * np.exp(-0.5 * ((times - centre) / 0.07) ** 2)
    return np.linspace(1.0, 0.05, channels)[:, None] * blink


# --- EEG images -------------------------------------------------------------------------------------------


def test_operator_equals_griddata_cubic_inside_hull(operator):
    values = np.random.default_rng(1).uniform(-1.0, 1.0, (12, 32, 3))
    images = operator(values)
    for frame in range(values.shape[0]):
        for band in range(3):
            reference = griddata(
                operator.points, values[frame, :, band], (operator.grid_u, operator.grid_v), method="cubic"
            )
            inside = operator.inside_hull
            assert np.array_equal(~np.isnan(reference), inside)
            np.testing.assert_allclose(images[frame][inside][:, band], reference[inside], atol=1e-5, rtol=0)


def test_operator_output_shape_dtype_and_single_frame(operator):
    values = np.random.default_rng(2).normal(size=(5, 32, 3))
    images = operator(values)
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.float32 and images.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(operator(values[3]), images[3], atol=1e-6)
    assert operator.matrix.shape == (32 * 32, 32)


def test_pixel_moments_equal_the_moments_of_the_images(operator):
    values = np.random.default_rng(12).normal(2.0, 3.0, size=(40, 32, 3)).astype(np.float32)
    pixels = operator(values).astype(np.float64).reshape(-1, 3)
    moments = operator.pixel_moments(values)
    assert moments["count"] == pixels.shape[0]
    np.testing.assert_allclose(moments["mean"], pixels.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(moments["m2"], ((pixels - pixels.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-6)


def test_operator_zero_fill_outside_hull(operator):
    images = operator(np.random.default_rng(3).uniform(1.0, 2.0, (4, 32, 3)))
    outside = ~operator.inside_hull
    assert 0 < outside.sum() < outside.size
    assert np.all(images[:, outside] == 0.0)
    assert np.all(images[:, operator.inside_hull] != 0.0)


def test_operator_nearest_fill_outside_hull(operator):
    nearest = InterpolationOperator(GENEVA_CHANNELS, image_size=32, outside_hull="nearest")
    values = np.random.default_rng(4).uniform(-1.0, 1.0, (3, 32, 3))
    images = nearest(values)
    inside = nearest.inside_hull
    np.testing.assert_array_equal(images[:, inside], operator(values)[:, inside])
    for row, column in zip(*np.nonzero(~inside)):
        pixel = np.array([nearest.grid_u[row, column], nearest.grid_v[row, column]])
        closest = np.argmin(np.linalg.norm(nearest.points - pixel, axis=1))
        np.testing.assert_allclose(images[:, row, column], values[:, closest], atol=1e-6)


def test_operator_reproduces_a_constant_field_inside_hull(operator):
    images = operator(np.full((1, 32, 3), 2.5))
    np.testing.assert_allclose(images[0][operator.inside_hull], 2.5, atol=1e-5)


def test_images_are_oriented_nose_up_left_on_the_left(operator):
    values = np.zeros((32, 1))
    values[GENEVA_CHANNELS.index("Fp1")] = 1.0
    image = operator(values)[:, :, 0]
    row, column = np.unravel_index(np.argmax(image), image.shape)
    assert row < 16 and column < 16


def test_azimuthal_projection_places_vertex_at_centre_and_keeps_arc_length():
    positions = electrode_positions(["Cz", "Fz", "Oz", "T7", "T8"])
    points = azimuthal_equidistant_projection(positions)
    np.testing.assert_allclose(points[0], [0.0, 0.0], atol=0.02)
    assert points[1, 1] > 0 > points[2, 1]  # Fz in front, Oz behind
    assert points[3, 0] < 0 < points[4, 0]  # T7 left, T8 right
    unit = positions / np.linalg.norm(positions, axis=1, keepdims=True)
    arc_from_vertex = np.arccos(np.clip(unit[:, 2], -1.0, 1.0))
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), arc_from_vertex, atol=1e-9)


def test_channel_names_are_matched_case_insensitively(operator):
    upper = InterpolationOperator([name.upper() for name in GENEVA_CHANNELS])
    np.testing.assert_array_equal(upper.matrix, operator.matrix)


def test_unknown_channel_name_is_named_in_the_error():
    names = list(GENEVA_CHANNELS)
    names[5] = "FCz9"
    with pytest.raises(ValueError, match=r"unknown EEG channel name 'FCz9' \(channel 5\)"):
        InterpolationOperator(names)


def test_duplicate_channel_name_is_an_error():
    with pytest.raises(ValueError, match=r"'cz' \(channel 2\) appears twice: channel 0 is 'Cz'"):
        electrode_positions(["Cz", "Pz", "cz"])


def test_non_spherical_montage_is_refused():
    with pytest.raises(ValueError, match="not a sphere"):
        electrode_positions(["Cz"], montage="standard_1020")


def test_operator_rejects_wrong_channel_count(operator):
    with pytest.raises(ValueError, match="32 channels"):
        operator(np.zeros((4, 31, 3)))


# --- band energy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("frequency_hz, band", [(6.0, "theta"), (10.0, "alpha"), (20.0, "beta")])
def test_sinusoid_energy_lands_in_its_band(frequency_hz, band):
    recording = sinusoid(frequency_hz, 13.0, channels=4)
    baseline, trial = recording[:, : 3 * SAMPLING_RATE], recording[:, 3 * SAMPLING_RATE :]
    energy = band_energy(trial, SAMPLING_RATE, 8, baseline=baseline, normalisation="none")
    assert energy.shape == (80, 4, 3)
    assert np.all(np.argmax(energy, axis=-1) == BAND_INDEX[band])
    mean_energy = energy.mean(axis=0)
    target = mean_energy[:, BAND_INDEX[band]]
    assert np.all(target > 100.0 * np.delete(mean_energy, BAND_INDEX[band], axis=-1).max(axis=-1))
    # mean square of a sinusoid of amplitude 10 is 50; the zero-phase filter passes its band centre
    np.testing.assert_allclose(target, 50.0, rtol=0.02)


def test_sixty_seconds_at_eight_fps_gives_480_frames():
    rng = np.random.default_rng(5)
    energy = band_energy(
        rng.normal(size=(32, 60 * SAMPLING_RATE)), SAMPLING_RATE, 8, baseline=rng.normal(size=(32, 3 * SAMPLING_RATE))
    )
    assert energy.shape == (480, 32, 3) and energy.dtype == np.float32
    assert np.all(np.isfinite(energy))


def test_frame_boundaries_for_a_non_integer_samples_per_frame():
    bounds = frame_boundaries(60 * SAMPLING_RATE, SAMPLING_RATE, 10)
    assert len(bounds) == 601 and bounds[-1] == 7680
    assert set(np.diff(bounds)) <= {12, 13}
    np.testing.assert_array_equal(frame_boundaries(7680, 128, 8), np.arange(481) * 16)


def test_band_energy_follows_a_rhythm_switched_on_mid_trial():
    trial = sinusoid(10.0, 8.0, amplitude=1.0, channels=2)
    trial[:, : 4 * SAMPLING_RATE] *= 0.1
    energy = band_energy(trial, SAMPLING_RATE, 8, normalisation="none")[..., BAND_INDEX["alpha"]]
    early, late = energy[4:28].mean(), energy[36:60].mean()
    np.testing.assert_allclose(late / early, 100.0, rtol=0.1)


def test_relative_db_is_zero_at_rest_and_six_db_for_twice_the_amplitude():
    recording = sinusoid(10.0, 23.0, channels=8)
    baseline, trial = recording[:, : 3 * SAMPLING_RATE], recording[:, 3 * SAMPLING_RATE :]
    alpha = BAND_INDEX["alpha"]
    at_rest = band_energy(trial, SAMPLING_RATE, 8, baseline=baseline)[..., alpha]
    np.testing.assert_allclose(at_rest.mean(), 0.0, atol=0.1)
    doubled = band_energy(2.0 * trial, SAMPLING_RATE, 8, baseline=baseline)[..., alpha]
    # 20 log10(2) = 6.02 dB; the first frame shares the filter's smoothing of the step with the baseline
    np.testing.assert_allclose(doubled[1:].mean(), 6.02, atol=0.2)


@pytest.mark.parametrize("normalisation", ["relative_db", "zscore"])
def test_baseline_normalisation_cancels_a_recording_gain(normalisation):
    recording = background_eeg(13.0, channels=4, seed=2)
    baseline, trial = recording[:, : 3 * SAMPLING_RATE], recording[:, 3 * SAMPLING_RATE :]
    reference = band_energy(trial, SAMPLING_RATE, 8, baseline=baseline, normalisation=normalisation)
    scaled = band_energy(7.0 * trial, SAMPLING_RATE, 8, baseline=7.0 * baseline, normalisation=normalisation)
    np.testing.assert_allclose(scaled, reference, atol=1e-3)
    raw = band_energy(7.0 * trial, SAMPLING_RATE, 8, baseline=7.0 * baseline, normalisation="none")
    np.testing.assert_allclose(
        raw, 49.0 * band_energy(trial, SAMPLING_RATE, 8, baseline=baseline, normalisation="none"), rtol=1e-4
    )


def test_normalisation_formulas_on_known_energies():
    baseline = np.array([1.0, 10.0, 100.0, 10.0]).reshape(4, 1, 1)
    energy = np.array([10.0, 1000.0]).reshape(2, 1, 1)
    relative = normalise_to_baseline(energy, baseline, "relative_db")
    np.testing.assert_allclose(relative.ravel(), 10 * np.log10([10.0 / 30.25, 1000.0 / 30.25]))
    baseline_db = np.array([0.0, 10.0, 20.0, 10.0])
    zscore = normalise_to_baseline(energy, baseline, "zscore")
    np.testing.assert_allclose(zscore.ravel(), (np.array([10.0, 30.0]) - 10.0) / baseline_db.std())
    np.testing.assert_allclose(normalise_to_baseline(energy, None, "log_db").ravel(), [10.0, 30.0])
    np.testing.assert_array_equal(normalise_to_baseline(energy, None, "none"), energy)


def test_baseline_modes_need_a_baseline():
    trial = sinusoid(10.0, 2.0, channels=2)
    with pytest.raises(ValueError, match="needs a pre-trial baseline"):
        band_energy(trial, SAMPLING_RATE, 8, baseline=None, normalisation="relative_db")
    assert band_energy(trial, SAMPLING_RATE, 8, baseline=None, normalisation="log_db").shape == (16, 2, 3)
    with pytest.raises(ValueError, match="unknown baseline normalisation"):
        band_energy(trial, SAMPLING_RATE, 8, normalisation="percent")


def test_flat_channel_gives_finite_values():
    trial = np.zeros((2, 2 * SAMPLING_RATE))
    baseline = np.zeros((2, SAMPLING_RATE))
    for mode in ("relative_db", "zscore", "log_db"):
        assert np.all(np.isfinite(band_energy(trial, SAMPLING_RATE, 8, baseline=baseline, normalisation=mode)))


# --- wavelet denoising ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blink_trial():
    clean = background_eeg(63.0, channels=8, seed=3)
    blinks = planted_blinks(63.0, channels=8)
    return clean, blinks


def test_artifact_rule_removes_planted_blinks(blink_trial):
    clean, blinks = blink_trial
    denoised = wavelet_denoise(clean + blinks, SAMPLING_RATE).astype(np.float64)
    blink_energy_left = np.sum((denoised - clean) ** 2) / np.sum(blinks**2)
    assert blink_energy_left < 0.05


def test_artifact_rule_keeps_the_alpha_rhythm_and_beta(blink_trial):
    clean, blinks = blink_trial
    denoised = wavelet_denoise(clean + blinks, SAMPLING_RATE).astype(np.float64)
    np.testing.assert_allclose(band_power(denoised, 8, 13), band_power(clean, 8, 13), rtol=0.01)
    np.testing.assert_allclose(band_power(denoised, 13, 30), band_power(clean, 13, 30), rtol=0.01)
    # theta is where blinks leak: after denoising it is closer to the clean value than before
    assert abs(band_power(denoised, 4, 8) - band_power(clean, 4, 8)) < 0.6 * abs(
        band_power(clean + blinks, 4, 8) - band_power(clean, 4, 8)
    )


def test_artifact_rule_leaves_blink_free_eeg_and_pure_rhythms_unchanged(blink_trial):
    clean, _ = blink_trial
    denoised = wavelet_denoise(clean, SAMPLING_RATE).astype(np.float64)
    assert np.sum((denoised - clean) ** 2) / np.sum(clean**2) < 1e-3
    for frequency_hz in (3.0, 6.0, 10.0):
        rhythm = sinusoid(frequency_hz, 63.0, channels=2)
        np.testing.assert_allclose(wavelet_denoise(rhythm, SAMPLING_RATE), rhythm, atol=1e-3)


def test_alpha_burst_contrast_survives_denoising(blink_trial):
    clean, blinks = blink_trial
    times = np.arange(clean.shape[1]) / SAMPLING_RATE
    burst = np.where((times > 20) & (times < 30), 10.0 * np.sin(2 * np.pi * 11 * times), 0.0)
    with_burst = clean + burst
    denoised = wavelet_denoise(with_burst + blinks, SAMPLING_RATE)
    energy_clean = band_energy(with_burst, SAMPLING_RATE, 8, normalisation="none")[..., BAND_INDEX["alpha"]]
    energy_denoised = band_energy(denoised, SAMPLING_RATE, 8, normalisation="none")[..., BAND_INDEX["alpha"]]
    contrast = lambda energy: energy[170:230].mean() / energy[300:450].mean()  # noqa: E731
    np.testing.assert_allclose(contrast(energy_denoised), contrast(energy_clean), rtol=0.02)


def test_universal_rule_is_the_textbook_denoiser_and_keeps_blinks(blink_trial):
    clean, blinks = blink_trial
    denoised = wavelet_denoise(clean + blinks, SAMPLING_RATE, threshold_rule="universal").astype(np.float64)
    blink_window = np.abs(blinks).max(axis=0) > 30.0
    assert np.abs(denoised[:, blink_window]).max() > 0.5 * np.abs(blinks).max()
    white = np.random.default_rng(7).normal(size=(4, 4096))
    assert np.sum(wavelet_denoise(white, SAMPLING_RATE, threshold_rule="universal") ** 2) < 0.2 * np.sum(white**2)


def test_none_rule_and_odd_lengths():
    signal = np.random.default_rng(8).normal(size=(3, 1001))
    np.testing.assert_array_equal(
        wavelet_denoise(signal, SAMPLING_RATE, threshold_rule="none"), signal.astype(np.float32)
    )
    denoised = wavelet_denoise(signal, SAMPLING_RATE, wavelet="sym8", level=4)
    assert denoised.shape == (3, 1001) and denoised.dtype == np.float32


def pywt_reference_denoise(signal, level, wavelet, threshold_rule):
    """The rules of `wavelet_denoise` written with pywt.swt / pywt.iswt directly (its FFT filters' reference)."""
    import math

    import pywt

    from emorecog.preprocessing.wavelet_denoise import _level_may_hold_artifacts

    num_samples = signal.shape[-1]
    padded_length = -(-num_samples // 2**level) * 2**level
    padded = np.pad(signal, [(0, 0)] * (signal.ndim - 1) + [(0, padded_length - num_samples)], mode="symmetric")
    bands = pywt.swt(padded, wavelet, level=level, axis=-1, trim_approx=True, norm=True)
    factor = math.sqrt(2.0 * math.log(num_samples))
    if threshold_rule == "universal":
        threshold = np.median(np.abs(bands[-1]), axis=-1, keepdims=True) / 0.6745 * factor
        cleaned = [bands[0]] + [np.sign(d) * np.maximum(np.abs(d) - threshold, 0.0) for d in bands[1:]]
    else:
        cleaned = []
        for index, band in enumerate(bands):
            if not _level_may_hold_artifacts(index, level, SAMPLING_RATE, 8.0):
                cleaned.append(band)
                continue
            centre = np.median(band, axis=-1, keepdims=True)
            threshold = np.median(np.abs(band - centre), axis=-1, keepdims=True) / 0.6745 * factor
            cleaned.append(centre + np.clip(band - centre, -threshold, threshold))
    return pywt.iswt(cleaned, wavelet, norm=True, axis=-1)[..., :num_samples]


@pytest.mark.parametrize("threshold_rule", ["artifact", "universal"])
@pytest.mark.parametrize("shape, wavelet, level", [((4, 8064), "db4", 5), ((3, 1001), "sym8", 4), ((700,), "db2", 3)])
def test_fft_stationary_transform_equals_pywt_swt_and_iswt(threshold_rule, shape, wavelet, level):
    signal = np.random.default_rng(13).normal(0.0, 10.0, size=shape)
    signal[..., 300:320] += 200.0  # a blink-like step, so the artifact rule clips something
    expected = pywt_reference_denoise(signal, level, wavelet, threshold_rule)
    denoised = wavelet_denoise(signal, SAMPLING_RATE, wavelet=wavelet, level=level, threshold_rule=threshold_rule)
    assert np.abs(denoised - expected).max() <= 1e-5 * np.abs(expected).max()
    assert not np.allclose(expected, signal, atol=1e-3)  # the rule did change the signal


def test_wavelet_settings_are_checked():
    signal = np.zeros((2, 256))
    with pytest.raises(ValueError, match="unknown discrete wavelet"):
        wavelet_denoise(signal, SAMPLING_RATE, wavelet="db999")
    with pytest.raises(ValueError, match="level 9"):
        wavelet_denoise(signal, SAMPLING_RATE, level=9)
    with pytest.raises(ValueError, match="unknown threshold_rule"):
        wavelet_denoise(signal, SAMPLING_RATE, threshold_rule="hard")
    signal[1, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        wavelet_denoise(signal, SAMPLING_RATE)


# --- TrialPreprocessor, EEG side --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Trial:
    """The attributes `TrialPreprocessor` reads (the DEAP reader's `DeapTrial` has the same ones)."""

    subject: str
    trial: int
    eeg: np.ndarray
    eeg_baseline: np.ndarray
    eeg_channels: tuple
    sampling_rate: int
    ratings: tuple
    labels: tuple
    face_video: object = None


def make_trial(seconds=4.0, seed=0, **changes):
    eeg = background_eeg(seconds + 3.0, seed=seed)
    fields = dict(
        subject="s07",
        trial=12,
        eeg=eeg[:, 3 * SAMPLING_RATE :],
        eeg_baseline=eeg[:, : 3 * SAMPLING_RATE],
        eeg_channels=GENEVA_CHANNELS,
        sampling_rate=SAMPLING_RATE,
        ratings=(6.5, 3.0, 5.0, 7.1),
        labels=(1, 0),
    )
    fields.update(changes)
    return Trial(**fields)


RECORD_KEYS = set(features.schema_dict(record_schema_for(features.SampleShape()))["record_features"]) - {
    "schema_version"
}


def test_process_without_video_gives_a_complete_eeg_only_sample():
    with TrialPreprocessor(PreprocessConfig(face_size=16)) as preprocessor:
        sample, report = preprocessor.process(make_trial(), dataset="synthetic-deap")
    assert set(sample) == RECORD_KEYS
    assert sample["eeg_band_energy"].shape == (32, 32, 3) and sample["eeg_band_energy"].dtype == np.float32
    assert len(sample["face"]) == 32 and np.all(sample["face_present"] == 0)
    assert sample["num_frames"] == 32 and sample["fps"] == 8 and sample["trial"] == 12
    assert (sample["label_valence"], sample["label_arousal"]) == (1, 0)
    assert sample["dataset"] == "synthetic-deap" and sample["config_hash"] == preprocessor.config_hash()
    assert report["has_face_video"] is False and report["detection_rate"] == 0.0
    assert 0.0 <= report["denoise_energy_removed"] < 0.01


def test_process_sample_round_trips_through_the_record_schema():
    with TrialPreprocessor(PreprocessConfig(face_size=16)) as preprocessor:
        sample, _ = preprocessor.process(make_trial(seconds=2.0))
    shape = features.SampleShape(num_frames=16, image_size=32, face_size=16)
    decoded = features.decode_examples([features.encode_example(sample)], record_schema_for(shape))
    np.testing.assert_array_equal(decoded["eeg_band_energy"].numpy()[0], sample["eeg_band_energy"])
    images = TrialPreprocessor().interpolation_operator(GENEVA_CHANNELS)(sample["eeg_band_energy"])
    np.testing.assert_allclose(decoded["eeg"].numpy()[0], images, rtol=0, atol=1e-5)
    assert decoded["face"].shape == (1, 16, 16, 16, 3) and int(decoded["face"].numpy().max()) < 8
    assert decoded["subject"].numpy()[0] == b"s07"


def test_stored_band_energies_are_the_band_energies_to_five_significant_digits():
    from emorecog.preprocessing.band_energy import band_energy
    from emorecog.preprocessing.trial_preprocessor import ENERGY_SIGNIFICANT_DIGITS, round_significant
    from emorecog.preprocessing.wavelet_denoise import wavelet_denoise

    trial = make_trial(seconds=2.0)
    with TrialPreprocessor() as preprocessor:
        sample, _ = preprocessor.process(trial)
    joined = np.concatenate([trial.eeg_baseline, trial.eeg], axis=1)
    denoised = wavelet_denoise(joined, SAMPLING_RATE).astype(np.float64)
    exact = band_energy(denoised[:, 384:], SAMPLING_RATE, 8, baseline=denoised[:, :384])
    stored = sample["eeg_band_energy"]
    assert ENERGY_SIGNIFICANT_DIGITS == 5
    np.testing.assert_array_equal(stored, round_significant(exact, 5))
    np.testing.assert_allclose(stored, exact, rtol=5e-5, atol=0)
    assert max(len(str(value)) for value in stored.ravel()) <= len("-0.00012345")  # as float32 prints in JSON
    # and so the images the model sees move by at most that much
    operator = preprocessor.interpolation_operator(GENEVA_CHANNELS)
    scale = np.abs(operator(exact)).max()
    assert np.abs(operator(stored) - operator(exact)).max() <= 5e-5 * scale


def test_config_hash_is_stable_and_follows_every_setting():
    assert PreprocessConfig().config_hash() == PreprocessConfig().config_hash()
    assert len(PreprocessConfig().config_hash()) == 16
    hashes = {
        PreprocessConfig().config_hash(),
        PreprocessConfig(fps=4).config_hash(),
        PreprocessConfig(baseline_normalisation="zscore").config_hash(),
        PreprocessConfig(denoise_rule="none").config_hash(),
        PreprocessConfig(video_fps=50.0).config_hash(),
    }
    assert len(hashes) == 5


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="baseline_normalisation"):
        PreprocessConfig(baseline_normalisation="percent")
    with pytest.raises(ValueError, match="fps"):
        PreprocessConfig(fps=0)
    with pytest.raises(ValueError, match="video_alignment"):
        PreprocessConfig(video_alignment="middle")
    assert PreprocessConfig().sample_shape() == features.SampleShape(480, 32, 64)


def test_nan_in_eeg_names_subject_trial_field_and_channel():
    eeg = make_trial().eeg.copy()
    eeg[GENEVA_CHANNELS.index("Oz"), 100] = np.nan
    with TrialPreprocessor() as preprocessor:
        with pytest.raises(ValueError, match=r"subject s07 trial 12: field 'eeg' has 1 NaN.*\['Oz'\]"):
            preprocessor.process(make_trial(eeg=eeg))


def test_unknown_channel_in_a_trial_names_the_trial_and_channel():
    channels = ("Fp1X",) + GENEVA_CHANNELS[1:]
    with TrialPreprocessor() as preprocessor:
        with pytest.raises(ValueError, match="subject s07 trial 12: unknown EEG channel name 'Fp1X'"):
            preprocessor.process(make_trial(eeg_channels=channels))


def test_bad_labels_and_ratings_are_named():
    with TrialPreprocessor() as preprocessor:
        with pytest.raises(ValueError, match="field 'labels'"):
            preprocessor.process(make_trial(labels=(1, 2)))
        with pytest.raises(ValueError, match="field 'ratings'"):
            preprocessor.process(make_trial(ratings=(1.0, 2.0)))


def test_operator_is_built_once_per_channel_order_and_preprocessor_pickles():
    preprocessor = TrialPreprocessor()
    first = preprocessor.interpolation_operator(GENEVA_CHANNELS)
    assert preprocessor.interpolation_operator(list(GENEVA_CHANNELS)) is first
    restored = pickle.loads(pickle.dumps(preprocessor))
    assert restored.config == preprocessor.config and restored.config_hash() == preprocessor.config_hash()
    sample_a, _ = preprocessor.process(make_trial(seconds=1.0))
    sample_b, _ = restored.process(make_trial(seconds=1.0))
    np.testing.assert_array_equal(sample_a["eeg_band_energy"], sample_b["eeg_band_energy"])


def test_denoising_in_the_preprocessor_reports_removed_blink_energy():
    trial = make_trial(seconds=20.0)
    blinks = planted_blinks(23.0)
    blinky = dataclasses.replace(
        trial,
        eeg=trial.eeg + blinks[:, 3 * SAMPLING_RATE :],
        eeg_baseline=trial.eeg_baseline + blinks[:, : 3 * SAMPLING_RATE],
    )
    with TrialPreprocessor() as preprocessor:
        clean_sample, clean_report = preprocessor.process(trial)
        blinky_sample, blinky_report = preprocessor.process(blinky)
    assert blinky_report["denoise_energy_removed"] > 0.3 > 10 * clean_report["denoise_energy_removed"]
    alpha = BAND_INDEX["alpha"]
    operator = TrialPreprocessor().interpolation_operator(GENEVA_CHANNELS)
    blinky_images, clean_images = operator(blinky_sample["eeg_band_energy"]), operator(clean_sample["eeg_band_energy"])
    np.testing.assert_allclose(blinky_images[..., alpha].mean(), clean_images[..., alpha].mean(), atol=0.3)


# --- on the synthetic DEAP (the reader's DeapTrial, planted blinks and label effects) ------------------------


@pytest.fixture(scope="module")
def synthetic_deap(tmp_path_factory):
    from emorecog.datasets.deap import DeapDataset
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

    root = write_synthetic_deap(
        tmp_path_factory.mktemp("synthetic") / "deap",
        SynthConfig(subjects=1, trials=4, duration_s=10, subjects_without_video=1),
    )
    with open(os.path.join(root, "ground_truth.json")) as handle:
        truth = json.load(handle)
    return DeapDataset(root), truth


def truth_of(truth, trial):
    return next(entry for entry in truth["subjects"][trial.subject]["trials"] if entry["trial"] == trial.trial)


def test_denoising_removes_most_of_the_synthetic_blink_energy(synthetic_deap):
    dataset, truth = synthetic_deap
    checked = 0
    for trial in dataset.trials("s01"):
        blinks_s = truth_of(truth, trial)["blinks_s"]
        if not blinks_s:
            continue
        joined = np.concatenate([trial.eeg_baseline, trial.eeg], axis=1).astype(np.float64)
        denoised = wavelet_denoise(joined, trial.sampling_rate).astype(np.float64)
        times = np.arange(joined.shape[1]) / trial.sampling_rate - trial.eeg_baseline.shape[1] / trial.sampling_rate
        near_blink = np.zeros(times.shape, dtype=bool)
        for peak in blinks_s:
            near_blink |= np.abs(times - peak) < 0.25
        fp1 = trial.eeg_channels.index("Fp1")
        background = np.mean(joined[fp1, ~near_blink] ** 2)
        excess_before = np.mean(joined[fp1, near_blink] ** 2) - background
        excess_after = np.mean(denoised[fp1, near_blink] ** 2) - background
        assert excess_after < 0.2 * excess_before
        checked += 1
    assert checked >= 2


def test_planted_band_effects_survive_denoising(synthetic_deap):
    from emorecog.datasets.synthetic.physiology import AROUSAL_CHANNELS, VALENCE_LEFT, VALENCE_RIGHT

    dataset, truth = synthetic_deap
    for trial in dataset.trials("s01"):
        entry = truth_of(truth, trial)
        start_s, end_s = entry["event_window_s"]
        window = np.arange(int(start_s * 8) + 2, int(end_s * 8) - 2)
        channels = {name: index for index, name in enumerate(trial.eeg_channels)}
        right, left = [channels[n] for n in VALENCE_RIGHT], [channels[n] for n in VALENCE_LEFT]
        arousal = [channels[n] for n in AROUSAL_CHANNELS]

        def effects(eeg, baseline):
            energy = band_energy(eeg, trial.sampling_rate, 8, baseline=baseline, normalisation="none")
            alpha = energy[window][..., BAND_INDEX["alpha"]]
            beta = energy[..., BAND_INDEX["beta"]][:, arousal]
            return (
                alpha[:, right].mean() / alpha[:, left].mean(),
                beta[window].mean() / np.delete(beta, window, axis=0).mean(),
            )

        joined = np.concatenate([trial.eeg_baseline, trial.eeg], axis=1)
        denoised = wavelet_denoise(joined, trial.sampling_rate)
        baseline_samples = trial.eeg_baseline.shape[1]
        raw_effects = effects(trial.eeg, trial.eeg_baseline)
        denoised_effects = effects(denoised[:, baseline_samples:], denoised[:, :baseline_samples])
        np.testing.assert_allclose(denoised_effects, raw_effects, rtol=0.02)
        # the valence effect points the planted way: more right-frontal alpha for high valence
        assert (denoised_effects[0] > 1.0) == bool(entry["labels"]["valence"])


def test_preprocessor_accepts_the_readers_trials(synthetic_deap):
    dataset, _ = synthetic_deap
    trial = dataset.read_trial("s01", 2)
    with TrialPreprocessor() as preprocessor:
        sample, report = preprocessor.process(trial, dataset=dataset.name)
    assert sample["eeg_band_energy"].shape == (80, 32, 3) and sample["num_frames"] == 80
    assert sample["dataset"] == "synthetic-deap" and sample["trial"] == 2 and sample["subject"] == "s01"
    assert (sample["label_valence"], sample["label_arousal"]) == tuple(trial.labels)
    np.testing.assert_allclose(sample["ratings"], trial.ratings, rtol=1e-6)
    assert report["has_face_video"] is False
