"""`SyntheticPhysiology`: one synthetic subject's 40 DEAP channels at 128 Hz, with a planted event.

EEG (channels 1-32, microvolts), per trial:
- background: 1/f^0.9 amplitude spectrum shaped like DEAP's 4-45 Hz band-pass, independent per channel
  plus a shared (volume-conducted) source, then common average reference as in DEAP;
- alpha rhythm: narrow-band noise at the subject's alpha peak (9-11.5 Hz), waxing and waning, strongest
  over occipital/parietal channels;
- per-subject gain and per-channel gains (electrode impedance), a per-trial gain;
- eye blinks (10-20/min): a 0.35 s bump, 70-150 uV on Fp1/Fp2, 60 % on AF3/AF4, ~30 % on F3/F4/Fz/F7/F8,
  10 % on FC1/FC2/FC5/FC6, added after the reference (residual EOG for the wavelet denoiser);
- inside the hidden event window only (raised-cosine edges, 0.25 s), two label-dependent bursts added
  after the reference, so their topography is exactly this:
  * valence: an alpha burst on the frontal pairs, asymmetric: amplitude A(1 + k e) on the right
    (F4, AF4, F8, FC6) and A(1 - k e) on the left (F3, AF3, F7, FC5) for high valence, mirrored for low
    (more right-frontal alpha = relatively more left-frontal activation, the approach/positive pattern);
  * arousal: a beta (15-25 Hz) burst on frontal and central channels, amplitude B(1 + k e) for high
    arousal and B(1 - k e) for low.
  e = 1 - difficulty, k = 0.8. Both bursts exist whatever the labels (the window itself carries no label),
  and outside the window no signal depends on the labels.
Peripheral (channels 33-40, no label information): hEOG (saccade steps), vEOG (the same blinks, larger),
zEMG and tEMG (band-limited bursts), GSR (tonic level + skin conductance responses), respiration
(0.2-0.33 Hz), plethysmograph (pulse wave, 60-90 bpm), temperature (slow drift); arbitrary units except
EOG/EMG (uV) and temperature (deg C).
"""

import dataclasses

import numpy as np

from emorecog.datasets.deap import (
    BASELINE_SAMPLES,
    EEG_CHANNELS,
    PERIPHERAL_CHANNELS,
    SAMPLING_RATE_HZ,
)

VALENCE_LEFT = ("F3", "AF3", "F7", "FC5")
VALENCE_RIGHT = ("F4", "AF4", "F8", "FC6")
AROUSAL_CHANNELS = (
    "Fp1",
    "Fp2",
    "AF3",
    "AF4",
    "F3",
    "F4",
    "Fz",
    "F7",
    "F8",
    "FC1",
    "FC2",
    "FC5",
    "FC6",
    "C3",
    "C4",
    "Cz",
)
BLINK_WEIGHTS = {
    "Fp1": 1.0,
    "Fp2": 1.0,
    "AF3": 0.6,
    "AF4": 0.6,
    "F3": 0.3,
    "F4": 0.3,
    "Fz": 0.3,
    "F7": 0.35,
    "F8": 0.35,
    "FC1": 0.1,
    "FC2": 0.1,
    "FC5": 0.1,
    "FC6": 0.1,
}
ALPHA_REGION_WEIGHTS = {
    "O": 1.0,
    "PO": 0.9,
    "P": 0.75,
    "CP": 0.5,
    "C": 0.4,
    "T": 0.35,
    "FC": 0.3,
    "F": 0.25,
    "AF": 0.2,
    "Fp": 0.15,
}
EFFECT_ASYMMETRY = 0.8  # k above
VALENCE_BURST_UV = 4.0  # A above
AROUSAL_BURST_UV = 4.0  # B above
BETA_BURST_BAND_HZ = (15.0, 25.0)
WINDOW_EDGE_S = 0.25


def _channel_region(name):
    letters = "".join(character for character in name if character.isalpha())
    return letters.rstrip("z") or letters


def _spectral_noise(rng, shape, gain_of_frequency):
    """Gaussian noise [..., samples] with amplitude spectrum `gain_of_frequency(f)`, unit std per row."""
    samples = shape[-1]
    frequencies = np.fft.rfftfreq(samples, d=1.0 / SAMPLING_RATE_HZ)
    spectrum = np.fft.rfft(rng.standard_normal(shape), axis=-1) * gain_of_frequency(frequencies)
    noise = np.fft.irfft(spectrum, n=samples, axis=-1)
    return noise / np.maximum(noise.std(axis=-1, keepdims=True), 1e-12)


def _band_gain(low, high, order=4):
    def gain(frequencies):
        f = np.maximum(frequencies, 1e-3)
        return 1.0 / np.sqrt((1.0 + (low / f) ** (2 * order)) * (1.0 + (f / high) ** (2 * order)))

    return gain


def _eeg_background_gain(frequencies):
    f = np.maximum(frequencies, 1e-3)
    return f**-0.9 * _band_gain(4.0, 45.0)(frequencies)


def _slow_envelope(rng, samples, cutoff_hz, depth):
    """A positive, slowly varying envelope: exp(depth * low-passed noise)."""
    return np.exp(depth * _spectral_noise(rng, (samples,), _band_gain(0.01, cutoff_hz, order=2)))


def _blink_waveform(duration_s=0.35):
    t = np.arange(int(round(duration_s * SAMPLING_RATE_HZ))) / SAMPLING_RATE_HZ
    shape = (t / 0.09) ** 2 * np.exp(-t / 0.045)
    return shape / shape.max()


def window_envelope(samples, start_sample, length_samples):
    """1 inside [start, start + length), raised-cosine edges of WINDOW_EDGE_S inside it, 0 outside."""
    envelope = np.zeros(samples)
    envelope[start_sample : start_sample + length_samples] = 1.0
    edge = int(round(WINDOW_EDGE_S * SAMPLING_RATE_HZ))
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(edge) + 0.5) / edge)
    envelope[start_sample : start_sample + edge] = ramp
    end = start_sample + length_samples
    envelope[end - edge : end] = ramp[::-1]
    return envelope


@dataclasses.dataclass(frozen=True)
class SyntheticPhysiology:
    """A synthetic subject's physiology: fixed traits, and `trial()` to render the 40 channels of a trial.

    Args:
        gain: subject-wide EEG gain.
        channel_gains: 32 per-electrode gains.
        alpha_peak_hz: individual alpha frequency.
        alpha_uv: alpha rhythm amplitude (std, uV) at occipital channels, before the common average
            reference (which removes about half of it there).
        background_uv: background EEG std (uV) before gains.
        blinks_per_minute: blink rate.
        blink_uv: blink amplitude at Fp1/Fp2 (uV).
        heart_rate_bpm, breaths_per_minute, gsr_level, temperature_c: peripheral traits.

    Example:
        >>> physiology = SyntheticPhysiology.random(np.random.default_rng(0))
        >>> data, blinks = physiology.trial(rng, 384 + 20 * 128, window_start=1000, window_length=384,
        ...                                 valence_high=True, arousal_high=False, effect=0.7)
        >>> data.shape   # [40, 2944]: 32 EEG + 8 peripheral channels, float64
    """

    gain: float
    channel_gains: tuple
    alpha_peak_hz: float
    alpha_uv: float
    background_uv: float
    blinks_per_minute: float
    blink_uv: float
    heart_rate_bpm: float
    breaths_per_minute: float
    gsr_level: float
    temperature_c: float

    @classmethod
    def random(cls, rng):
        """Random traits for one subject, drawn from `rng` (a numpy Generator)."""
        return cls(
            gain=float(rng.uniform(0.7, 1.4)),
            channel_gains=tuple(float(g) for g in rng.uniform(0.85, 1.15, size=len(EEG_CHANNELS))),
            alpha_peak_hz=float(rng.uniform(9.0, 11.5)),
            alpha_uv=float(rng.uniform(8.0, 14.0)),
            background_uv=float(rng.uniform(7.0, 9.0)),
            blinks_per_minute=float(rng.uniform(10.0, 20.0)),
            blink_uv=float(rng.uniform(70.0, 150.0)),
            heart_rate_bpm=float(rng.uniform(60.0, 90.0)),
            breaths_per_minute=float(rng.uniform(12.0, 20.0)),
            gsr_level=float(rng.uniform(2000.0, 8000.0)),
            temperature_c=float(rng.uniform(31.0, 34.0)),
        )

    def to_dict(self):
        result = dataclasses.asdict(self)
        result["channel_gains"] = list(self.channel_gains)
        return result

    def trial(self, rng, samples, window_start, window_length, valence_high, arousal_high, effect):
        """Render one trial.

        Args:
            rng: numpy Generator for this trial (the same draws whatever the labels).
            samples: baseline + stimulus samples (8064 in DEAP).
            window_start, window_length: the event window in samples of the whole trial (baseline included).
            valence_high, arousal_high: the binary labels the window expresses.
            effect: e in [0, 1], the label-dependent part of the bursts (1 - difficulty).

        Returns:
            (data float64 [40, samples], blink_times_s): blink peak times in seconds from the start of the
            stimulus part (negative inside the baseline).
        """
        num_eeg = len(EEG_CHANNELS)
        eeg = _spectral_noise(rng, (num_eeg, samples), _eeg_background_gain) * 0.8
        shared = _spectral_noise(rng, (1, samples), _eeg_background_gain)
        eeg += shared * rng.uniform(0.3, 0.6, size=(num_eeg, 1))
        eeg *= self.background_uv

        alpha_source = _spectral_noise(
            rng, (samples,), _band_gain(self.alpha_peak_hz - 1.0, self.alpha_peak_hz + 1.0, order=3)
        )
        alpha_source *= _slow_envelope(rng, samples, 0.3, 0.5)
        alpha_weights = np.array([ALPHA_REGION_WEIGHTS[_channel_region(name)] for name in EEG_CHANNELS])
        eeg += self.alpha_uv * alpha_weights[:, None] * alpha_source[None, :]

        eeg -= eeg.mean(axis=0, keepdims=True)  # common average reference, as in DEAP's preprocessing

        # the event window: label-dependent bursts, added after the reference
        envelope = window_envelope(samples, window_start, window_length)
        channel_index = {name: index for index, name in enumerate(EEG_CHANNELS)}
        alpha_burst = (
            _spectral_noise(rng, (samples,), _band_gain(self.alpha_peak_hz - 1.5, self.alpha_peak_hz + 1.5, order=3))
            * envelope
        )
        beta_burst = _spectral_noise(rng, (samples,), _band_gain(*BETA_BURST_BAND_HZ, order=3)) * envelope
        jitter = rng.uniform(0.85, 1.15, size=num_eeg)
        valence_sign = 1.0 if valence_high else -1.0
        arousal_sign = 1.0 if arousal_high else -1.0
        right = VALENCE_BURST_UV * (1.0 + EFFECT_ASYMMETRY * effect * valence_sign)
        left = VALENCE_BURST_UV * (1.0 - EFFECT_ASYMMETRY * effect * valence_sign)
        for name in VALENCE_RIGHT:
            eeg[channel_index[name]] += right * jitter[channel_index[name]] * alpha_burst
        for name in VALENCE_LEFT:
            eeg[channel_index[name]] += left * jitter[channel_index[name]] * alpha_burst
        beta_amplitude = AROUSAL_BURST_UV * (1.0 + EFFECT_ASYMMETRY * effect * arousal_sign)
        for name in AROUSAL_CHANNELS:
            eeg[channel_index[name]] += beta_amplitude * jitter[channel_index[name]] * beta_burst

        gains = self.gain * np.asarray(self.channel_gains) * rng.uniform(0.9, 1.1)
        eeg *= gains[:, None]

        blink_train, blink_samples = self._blink_train(rng, samples)
        blink_weights = np.array([BLINK_WEIGHTS.get(name, 0.0) for name in EEG_CHANNELS])
        eeg += self.blink_uv * blink_weights[:, None] * blink_train[None, :]

        peripheral = self._peripheral(rng, samples, blink_train)
        data = np.concatenate([eeg, peripheral], axis=0)
        blink_times_s = [(int(s) - BASELINE_SAMPLES) / SAMPLING_RATE_HZ for s in blink_samples]
        return data, blink_times_s

    def _blink_train(self, rng, samples):
        """(blink signal [samples] with unit peaks, peak sample indices)."""
        waveform = _blink_waveform()
        peak_offset = int(np.argmax(waveform))
        mean_gap = 60.0 * SAMPLING_RATE_HZ / self.blinks_per_minute
        min_gap = int(0.6 * SAMPLING_RATE_HZ)
        train = np.zeros(samples)
        peaks = []
        position = int(rng.exponential(mean_gap))
        while position + len(waveform) < samples:
            amplitude = rng.uniform(0.7, 1.2)
            train[position : position + len(waveform)] += amplitude * waveform
            peaks.append(position + peak_offset)
            position += min_gap + int(rng.exponential(mean_gap))
        return train, peaks

    def _peripheral(self, rng, samples, blink_train):
        t = np.arange(samples) / SAMPLING_RATE_HZ
        channels = {}
        # hEOG: fixations and saccades (mean-reverting steps, 30 ms smoothing)
        steps = np.zeros(samples)
        position, gaze = 0, 0.0
        while position < samples:
            gaze = 0.6 * gaze + rng.normal(0.0, 40.0)
            length = int(rng.uniform(0.3, 2.0) * SAMPLING_RATE_HZ)
            steps[position : position + length] = gaze
            position += length
        kernel = np.ones(4) / 4.0
        channels["hEOG"] = (
            np.convolve(steps, kernel, mode="same") + 0.1 * self.blink_uv * blink_train + rng.normal(0.0, 3.0, samples)
        )
        channels["vEOG"] = (
            2.5 * self.blink_uv * blink_train
            + 0.3 * np.convolve(np.roll(steps, int(rng.integers(samples))), kernel, mode="same")
            + rng.normal(0.0, 3.0, samples)
        )
        emg_band = _band_gain(20.0, 60.0, order=3)
        channels["zEMG"] = (
            rng.uniform(3.0, 8.0) * _spectral_noise(rng, (samples,), emg_band) * _slow_envelope(rng, samples, 0.5, 0.6)
        )
        channels["tEMG"] = (
            rng.uniform(3.0, 8.0) * _spectral_noise(rng, (samples,), emg_band) * _slow_envelope(rng, samples, 0.3, 0.4)
        )
        # GSR: tonic level with drift plus skin conductance responses (1-3 s rise, slow decay)
        gsr = self.gsr_level * (1.0 + 0.02 * _spectral_noise(rng, (samples,), _band_gain(0.001, 0.05, order=1)))
        for onset in np.sort(rng.uniform(0.0, t[-1], size=int(rng.integers(1, 5)))):
            dt = np.clip(t - onset, 0.0, None)
            gsr -= rng.uniform(0.01, 0.05) * self.gsr_level * (1.0 - np.exp(-dt / 1.0)) * np.exp(-dt / 8.0)
        channels["GSR"] = gsr
        breath_rate = (
            self.breaths_per_minute
            / 60.0
            * (1.0 + 0.1 * _spectral_noise(rng, (samples,), _band_gain(0.001, 0.05, order=1)))
        )
        breath_phase = 2.0 * np.pi * np.cumsum(breath_rate) / SAMPLING_RATE_HZ + rng.uniform(0, 2 * np.pi)
        channels["Respiration"] = rng.uniform(500.0, 1500.0) * (
            np.sin(breath_phase) + 0.15 * np.sin(2 * breath_phase)
        ) + rng.normal(0.0, 10.0, samples)
        heart_rate = (
            self.heart_rate_bpm
            / 60.0
            * (
                1.0
                + 0.03 * np.sin(breath_phase)
                + 0.03 * _spectral_noise(rng, (samples,), _band_gain(0.001, 0.1, order=1))
            )
        )
        beat_phase = 2.0 * np.pi * np.cumsum(heart_rate) / SAMPLING_RATE_HZ + rng.uniform(0, 2 * np.pi)
        pulse = np.sin(beat_phase) + 0.45 * np.sin(2 * beat_phase + 0.8) + 0.15 * np.sin(3 * beat_phase + 1.6)
        channels["Plethysmograph"] = rng.uniform(1000.0, 3000.0) * pulse * (1.0 + 0.1 * np.sin(breath_phase))
        channels["Temperature"] = (
            self.temperature_c
            + 0.1 * _spectral_noise(rng, (samples,), _band_gain(0.001, 0.02, order=1))
            + rng.normal(0.0, 0.005, samples)
        )
        return np.stack([channels[name] for name in PERIPHERAL_CHANNELS])
