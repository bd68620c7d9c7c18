"""One trial (EEG + face video) -> one emorecog sample keyed as in `emorecog.features`, plus a report.

EEG path (paper section III.B):
    baseline + trial joined -> `wavelet_denoise` -> `band_energy` (zero-phase theta/alpha/beta filters,
    energy per 1/fps segment, baseline normalisation) -> eeg_band_energy float32 [T, C, 3], the record's
    EEG. The band images [T, H, W, 3] are `InterpolationOperator` (azimuthal projection, Clough-Tocher) of
    it: a constant linear map that the reader and the served model apply (`features.eeg_images`), and
    `interpolation_operator(...)(energy)` here.
Face path:
    `read_trial_frames` (one decoding pass: frames chosen by timestamp with the trial aligned to the
    video's end by default, the frame count checked while decoding; MJPEG frames decoded at half size or
    less while the frame's shorter side keeps 4 S pixels) -> `crop_faces` (BlazeFace on every
    `face_detection_interval`-th frame, squares interpolated between agreeing detections, square crop
    never enlarged by the reduction, JPEG)
    -> face: T JPEG byte strings, face_present int64 [T]. A trial without video gets T black JPEGs and
    face_present all 0 (EEG-only).

T = floor(EEG samples * fps / sampling_rate): 480 for DEAP's 60 s at 8 fps. The video is cut to the same
T frames (duration T / fps).

`TrialPreprocessor` is built once per worker (Beam `DoFn.setup`): it keeps the interpolation operator
(one per channel order) and the MediaPipe detector across trials. It pickles as its config only.
"""

import dataclasses
import hashlib
import json
import math
import time

import numpy as np

from emorecog import features
from emorecog.features import BAND_EDGES_HZ
from emorecog.preprocessing.band_energy import NORMALISATIONS, band_energy
from emorecog.preprocessing.eeg_images import FILL_RULES, InterpolationOperator
from emorecog.preprocessing.video_frames import ALIGNMENTS
from emorecog.preprocessing.wavelet_denoise import THRESHOLD_RULES, wavelet_denoise

# Bump when the preprocessing code changes what it writes for the same config: the config hash changes
# with it, so an ExampleGen cache made by older code is not reused.
PREPROCESSING_VERSION = 4
# MJPEG frames are decoded at a reduced scale while their shorter side keeps this many crop sides (S): a
# face whose crop square spans a quarter of the frame's height (DEAP's frontal camera: ~0.45) is then
# still cut from >= S pixels; a smaller one is cut from the frame decoded again at full resolution.
REDUCED_DECODE_CROPS_PER_SIDE = 4
# Band energies are stored to this many significant decimal digits (relative rounding <= 5e-5, far below
# the variation between frames): written as JSON numbers in a REST request they then take ~7 characters
# instead of ~10, a quarter of a 60 s trial's `serve_compact` body.
ENERGY_SIGNIFICANT_DIGITS = 5


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """Every setting that changes a preprocessed sample (all of them enter `config_hash`).

    Args:
        fps: frames per second of the sample (the paper resamples the face video to 8 fps).
        image_size: H = W of the EEG band images (32, as in EEGLearn).
        face_size: S of the face crops (64 for a CPU; the paper's 227 is a preset).
        denoise_rule: wavelet threshold rule, "artifact" (default), "universal" or "none"
            (see `wavelet_denoise`).
        denoise_wavelet: PyWavelets wavelet name.
        denoise_level: wavelet decomposition depth (5 at 128 Hz: approximation 0-2 Hz).
        denoise_max_hz: artifact rule: levels starting at or above this frequency are left untouched.
        band_filter_order: Butterworth order of each one-way band filter.
        baseline_normalisation: "relative_db" (default), "zscore", "log_db" or "none" (see `band_energy`).
        outside_hull_fill: EEG image pixels outside the electrodes' hull: "zero" or "nearest".
        montage: MNE standard montage name (spherical, centred: e.g. biosemi32, biosemi64) or a montage file
            MNE reads (.elc, .sfp, .bvef, ...) with positions on a centred sphere; also names the channels
            MAHNOB-HCI and manifest recordings are read by.
        face_margin: crop side / largest side of the detected face box.
        face_max_gap_frames: frames without a located face that reuse the last box before face_present
            drops to 0.
        face_detection_interval: run the face detector on every n-th frame and interpolate the crop square
            between two agreeing detections (1: detect on every frame; see `face_crops`).
        face_min_confidence: BlazeFace detection threshold.
        jpeg_quality: JPEG quality of the face crops (1..100).
        video_alignment: how the trial maps onto its video when the dataset does not say where the stimulus
            starts in it (DEAP): "end" (the video ends with the trial) or "start".
        video_fps: the camera's true frame rate (DEAP: 50); unset: the container's.
        eeg_rate_hz: the pipeline's EEG rate; recordings at another rate are resampled to it (polyphase).
        trial_seconds: seconds of each trial's stimulus part to keep (from its start), so trials of
            different lengths (MAHNOB-HCI's clips last 34-117 s) give samples of one shape; shorter trials
            are skipped. Unset: the first trial's length, and every trial must be that long.
        theta_hz: theta band edges (low, high) in Hz.
        alpha_hz: alpha band edges (low, high) in Hz.
        beta_hz: beta band edges (low, high) in Hz.
    """

    fps: int = 8
    image_size: int = 32
    face_size: int = 64
    denoise_rule: str = "artifact"
    denoise_wavelet: str = "db4"
    denoise_level: int = 5
    denoise_max_hz: float = 8.0
    band_filter_order: int = 4
    baseline_normalisation: str = "relative_db"
    outside_hull_fill: str = "zero"
    montage: str = "biosemi32"
    face_margin: float = 1.4
    face_max_gap_frames: int = 4
    face_detection_interval: int = 2
    face_min_confidence: float = 0.5
    jpeg_quality: int = 90
    video_alignment: str = "end"
    video_fps: float = None
    eeg_rate_hz: int = 128
    trial_seconds: float = None
    theta_hz: tuple = BAND_EDGES_HZ["theta"]
    alpha_hz: tuple = BAND_EDGES_HZ["alpha"]
    beta_hz: tuple = BAND_EDGES_HZ["beta"]

    # The allowed values of the fields that take one of a few words.
    CHOICES = {
        "denoise_rule": THRESHOLD_RULES,
        "baseline_normalisation": NORMALISATIONS,
        "outside_hull_fill": FILL_RULES,
        "video_alignment": ALIGNMENTS,
    }

    @classmethod
    def from_dict(cls, values):
        """The config of a `dataclasses.asdict` (e.g. read back from JSON, where tuples became lists)."""
        return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})

    def band_edges(self):
        """{band: (low_hz, high_hz)} in `features.EEG_BANDS` order."""
        return {band: tuple(getattr(self, f"{band}_hz")) for band in features.EEG_BANDS}

    def __post_init__(self):
        positive_ints = (
            "fps",
            "image_size",
            "face_size",
            "denoise_level",
            "band_filter_order",
            "eeg_rate_hz",
            "face_detection_interval",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PreprocessConfig.{name} must be a positive int, got {value!r}")
        if self.image_size < 2:
            raise ValueError(f"PreprocessConfig.image_size must be >= 2, got {self.image_size}")
        for name, allowed in self.CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"PreprocessConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if not isinstance(self.face_max_gap_frames, int) or self.face_max_gap_frames < 0:
            raise ValueError(
                f"PreprocessConfig.face_max_gap_frames must be an int >= 0, got {self.face_max_gap_frames!r}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"PreprocessConfig.jpeg_quality must be in 1..100, got {self.jpeg_quality!r}")
        if not self.face_margin >= 1.0:
            raise ValueError(f"PreprocessConfig.face_margin must be >= 1, got {self.face_margin!r}")
        if not 0.0 <= self.face_min_confidence <= 1.0:
            raise ValueError(
                f"PreprocessConfig.face_min_confidence must be in [0, 1], got {self.face_min_confidence!r}"
            )
        if self.video_fps is not None and not (math.isfinite(self.video_fps) and self.video_fps > 0):
            raise ValueError(f"PreprocessConfig.video_fps must be None or a positive number, got {self.video_fps!r}")
        if self.denoise_max_hz is not None and not self.denoise_max_hz > 0:
            raise ValueError(f"PreprocessConfig.denoise_max_hz must be None or positive, got {self.denoise_max_hz!r}")
        if self.trial_seconds is not None and not (math.isfinite(self.trial_seconds) and self.trial_seconds > 0):
            raise ValueError(
                f"PreprocessConfig.trial_seconds must be None or a positive number, got {self.trial_seconds!r}"
            )
        if self.fps > self.eeg_rate_hz:
            raise ValueError(f"PreprocessConfig.fps ({self.fps}) must not exceed eeg_rate_hz ({self.eeg_rate_hz})")
        nyquist = self.eeg_rate_hz / 2.0
        for band in features.EEG_BANDS:
            name = f"{band}_hz"
            edges = getattr(self, name)
            try:
                low, high = (float(edge) for edge in edges)
            except (TypeError, ValueError):
                raise ValueError(
                    f"PreprocessConfig.{name} must be two numbers (low, high) in Hz, got {edges!r}"
                ) from None
            if not 0.0 < low < high < nyquist:
                raise ValueError(
                    f"PreprocessConfig.{name} = ({low:g}, {high:g}) Hz must satisfy 0 < low < high < "
                    f"{nyquist:g} Hz (half of eeg_rate_hz)"
                )
            object.__setattr__(self, name, (low, high))

    def config_hash(self):
        """16 hex digits identifying this config and `PREPROCESSING_VERSION` (stable across runs/machines)."""
        payload = {"preprocessing_version": PREPROCESSING_VERSION, "config": dataclasses.asdict(self)}
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def sample_shape(self, trial_seconds=60.0, sampling_rate=None):
        """The `features.SampleShape` of samples from trials of `trial_seconds` (at `eeg_rate_hz`)."""
        sampling_rate = self.eeg_rate_hz if sampling_rate is None else sampling_rate
        samples = int(round(trial_seconds * sampling_rate))
        num_frames = int(math.floor(samples * self.fps / sampling_rate + 1e-9))
        return features.SampleShape(num_frames=num_frames, image_size=self.image_size, face_size=self.face_size)


class TrialPreprocessor:
    """Turns trials into samples ready for `features.encode_example`.

    Args:
        config: a `PreprocessConfig` (default: `PreprocessConfig()`).

    The trial is duck-typed (`emorecog.datasets.deap.DeapTrial` fits): it needs `subject`,
    `trial`, `eeg` [C, samples], `eeg_baseline` [C, baseline samples] (or None), `eeg_channels` (C names),
    `sampling_rate`, `ratings` (valence, arousal, dominance, liking), `labels` ((valence, arousal) or a
    mapping by target) and `face_video` (path or None).

    Use as a context manager or call `close()` (the face detector holds native resources).

    Example:
        >>> with TrialPreprocessor(PreprocessConfig(fps=8)) as preprocessor:
        ...     sample, report = preprocessor.process(trial, dataset="deap")
        ...     record = features.encode_example(sample)
        ...     images = preprocessor.interpolation_operator(trial.eeg_channels)(sample["eeg_band_energy"])
    """

    def __init__(self, config=None):
        self.config = PreprocessConfig() if config is None else config
        self._operators = {}
        self._detector = None
        self._blank_jpeg = None

    def config_hash(self):
        """The config hash written into every sample (`config_hash` key) and used by ExampleGen."""
        return self.config.config_hash()

    def interpolation_operator(self, channel_names):
        """The `InterpolationOperator` for this channel order, built on first use and then kept."""
        key = tuple(str(name) for name in channel_names)
        if key not in self._operators:
            self._operators[key] = InterpolationOperator(
                key,
                image_size=self.config.image_size,
                outside_hull=self.config.outside_hull_fill,
                montage=self.config.montage,
            )
        return self._operators[key]

    def record_schema(self, channel_names, sample_shape):
        """The `features.RecordSchema` of samples of this config: `sample_shape` + the channels' operator."""
        operator = self.interpolation_operator(channel_names)
        return features.RecordSchema(sample_shape, operator.channel_names, operator.matrix)

    def process(self, trial, dataset="deap"):
        """Preprocess one trial.

        Args:
            trial: a trial object (see the class docstring).
            dataset: the dataset name written into the sample ("deap" or "synthetic-deap").

        Returns:
            (sample, report): `sample` is keyed exactly as in `emorecog.features` (eeg_band_energy float32
            [T, C, 3] in the order of `trial.eeg_channels`, face list of T JPEG bytes, face_present int64 [T],
            subject, trial, ratings
            float32 [4], label_valence, label_arousal, fps, num_frames, dataset, config_hash);
            `report` is a JSON-ready dict (detection rate, frames with a face, denoising, timings, ...).

        Raises:
            ValueError / FileNotFoundError: bad input, with the subject and trial in the message.
        """
        where = f"subject {trial.subject} trial {trial.trial}"
        ratings = np.asarray(trial.ratings, dtype=np.float32).reshape(-1)
        if ratings.shape != (len(features.RATING_NAMES),) or not np.all(np.isfinite(ratings)):
            raise ValueError(
                f"{where}: field 'ratings' must hold {len(features.RATING_NAMES)} finite values "
                f"{features.RATING_NAMES}, got {trial.ratings!r}"
            )
        labels = self._labels(trial, where)

        eeg = trial.eeg
        if self.config.trial_seconds is not None:
            kept = int(round(self.config.trial_seconds * trial.sampling_rate))
            if eeg.shape[1] < kept:
                raise ValueError(
                    f"{where}: the trial lasts {eeg.shape[1] / trial.sampling_rate:.2f} s, shorter than "
                    f"trial_seconds ({self.config.trial_seconds:g} s)"
                )
            eeg = eeg[:, :kept]
        started = time.perf_counter()
        eeg_band_energy, eeg_report = _with_context(
            where,
            lambda: self.process_eeg(
                eeg, getattr(trial, "eeg_baseline", None), trial.sampling_rate, trial.eeg_channels
            ),
        )
        eeg_seconds = time.perf_counter() - started
        num_frames = eeg_band_energy.shape[0]

        started = time.perf_counter()
        video = getattr(trial, "face_video", None)
        if video is None:
            face_jpegs, face_present, face_report = self._no_face(num_frames)
        else:
            face_jpegs, face_present, face_report = _with_context(
                where,
                lambda: self.process_face(
                    video,
                    num_frames,
                    start_seconds=getattr(trial, "face_video_start_s", None),
                    trial_seconds=trial.eeg.shape[1] / trial.sampling_rate,
                ),
            )
        face_seconds = time.perf_counter() - started

        sample = {
            features.EEG_BAND_ENERGY_KEY: eeg_band_energy,
            features.FACE_KEY: face_jpegs,
            features.FACE_PRESENT_KEY: face_present,
            features.SUBJECT_KEY: str(trial.subject),
            features.TRIAL_KEY: int(trial.trial),
            features.RATINGS_KEY: ratings,
            features.label_key("valence"): labels["valence"],
            features.label_key("arousal"): labels["arousal"],
            features.FPS_KEY: self.config.fps,
            features.NUM_FRAMES_KEY: num_frames,
            features.DATASET_KEY: str(dataset),
            features.CONFIG_HASH_KEY: self.config_hash(),
        }
        report = {
            "subject": str(trial.subject),
            "trial": int(trial.trial),
            "num_frames": num_frames,
            **eeg_report,
            **face_report,
            "seconds": {"eeg": round(eeg_seconds, 4), "face": round(face_seconds, 4)},
        }
        return sample, report

    def process_eeg(self, eeg, baseline, sampling_rate, channel_names):
        """EEG [C, samples] (+ baseline [C, baseline samples]) -> band energies float32 [T, C, 3], report.

        The energies are rounded to ENERGY_SIGNIFICANT_DIGITS significant digits (`round_significant`).
        The band images are `self.interpolation_operator(channel_names)(energies)`.

        Raises:
            ValueError: shapes that disagree with the channel names, non-finite samples, unknown channels.
        """
        config = self.config
        eeg = _finite_channels_by_samples(eeg, "eeg", channel_names)
        baseline_samples = 0
        if baseline is not None:
            baseline = _finite_channels_by_samples(baseline, "eeg_baseline", channel_names)
            baseline_samples = baseline.shape[1]
        self.interpolation_operator(channel_names)  # unknown channel names fail here, naming them

        joined = eeg if baseline is None else np.concatenate([baseline, eeg], axis=1)
        if sampling_rate != config.eeg_rate_hz:
            # resampled joined, so the filter's edge falls before the baseline, not between it and the trial
            joined, baseline_samples = _resample(joined, baseline_samples, sampling_rate, config.eeg_rate_hz)
            eeg = joined[:, baseline_samples:]
            sampling_rate = config.eeg_rate_hz
        denoised = wavelet_denoise(
            joined,
            sampling_rate,
            wavelet=config.denoise_wavelet,
            level=config.denoise_level,
            threshold_rule=config.denoise_rule,
            artifact_max_hz=config.denoise_max_hz,
        ).astype(np.float64)
        joined_energy = float(np.sum(np.square(joined, dtype=np.float64)))
        removed_energy = float(np.sum(np.square(joined - denoised)))

        energies = band_energy(
            denoised[:, baseline_samples:],
            sampling_rate,
            config.fps,
            baseline=denoised[:, :baseline_samples] if baseline_samples else None,
            normalisation=config.baseline_normalisation,
            filter_order=config.band_filter_order,
            band_edges=config.band_edges(),
        )
        report = {
            "eeg_seconds": eeg.shape[1] / sampling_rate,
            "baseline_seconds": baseline_samples / sampling_rate,
            "denoise_energy_removed": removed_energy / joined_energy if joined_energy > 0 else 0.0,
        }
        return round_significant(energies, ENERGY_SIGNIFICANT_DIGITS), report

    def process_face(self, video_path, num_frames, start_seconds=None, trial_seconds=None):
        """Face crops of the `num_frames` frames (at `config.fps`) that the trial covers in `video_path`.

        Args:
            start_seconds: where the stimulus starts in the video, when the dataset says (MAHNOB-HCI's events,
                a manifest's video_onset_s); None: `config.video_alignment` places the trial.
            trial_seconds: the whole trial's length (for "end" alignment when fewer frames are kept).

        Returns:
            (jpegs list [T], face_present int64 [T], report dict).

        Raises:
            FileNotFoundError / ValueError: missing, unreadable, corrupt or too short video (file named).
        """
        from emorecog.preprocessing.face_crops import crop_faces
        from emorecog.preprocessing.video_frames import read_trial_frames

        config = self.config
        video_path = str(video_path)

        def crop(frames):
            return crop_faces(
                frames,
                self._face_detector(),
                face_size=config.face_size,
                margin=config.face_margin,
                max_gap_frames=config.face_max_gap_frames,
                jpeg_quality=config.jpeg_quality,
                detection_interval=config.face_detection_interval,
            )

        crops, info = read_trial_frames(
            video_path,
            num_frames / config.fps,
            config.fps,
            source_fps=config.video_fps,
            alignment=config.video_alignment,
            consume=crop,
            start_seconds=start_seconds,
            trial_seconds=trial_seconds,
            min_reduced_side=REDUCED_DECODE_CROPS_PER_SIDE * config.face_size,
        )
        report = {
            "has_face_video": True,
            "face_video": video_path,
            "video_frames": info.num_frames,
            "video_fps": info.source_fps,
            "video_seconds": round(info.duration_seconds, 3),
            "detection_rate": crops.detection_rate,
            "frames_detected": int(crops.detected.sum()),
            "frames_interpolated": int(crops.interpolated.sum()),
            "frames_with_face": crops.frames_with_face,
            "frames_gap_filled": crops.frames_gap_filled,
            "full_resolution_crops": crops.full_resolution_crops,
        }
        return list(crops.jpegs), crops.face_present, report

    def close(self):
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __getstate__(self):
        # the detector is a native MediaPipe graph and the operators are cheap to rebuild
        return {"config": self.config}

    def __setstate__(self, state):
        self.__init__(state["config"])

    def _face_detector(self):
        if self._detector is None:
            from emorecog.preprocessing.face_detector import FaceDetector

            self._detector = FaceDetector(min_confidence=self.config.face_min_confidence)
        return self._detector

    def _no_face(self, num_frames):
        if self._blank_jpeg is None:
            from emorecog.preprocessing.face_crops import blank_face_jpeg

            self._blank_jpeg = blank_face_jpeg(self.config.face_size, self.config.jpeg_quality)
        report = {
            "has_face_video": False,
            "face_video": None,
            "detection_rate": 0.0,
            "frames_detected": 0,
            "frames_interpolated": 0,
            "frames_with_face": 0,
            "frames_gap_filled": 0,
            "full_resolution_crops": 0,
        }
        return [self._blank_jpeg] * num_frames, np.zeros(num_frames, dtype=np.int64), report

    @staticmethod
    def _labels(trial, where):
        labels = trial.labels
        if isinstance(labels, dict):
            values = [labels.get(target) for target in features.TARGETS]
        else:
            values = list(labels) if labels is not None else []
        if len(values) != len(features.TARGETS) or any(value not in (0, 1) for value in values):
            raise ValueError(f"{where}: field 'labels' must give 0/1 labels for {features.TARGETS}, got {labels!r}")
        return {target: int(value) for target, value in zip(features.TARGETS, values)}


def round_significant(values, digits):
    """float32 `values` rounded to `digits` significant decimal digits (zeros stay zero).

    A decimal of at most 6 significant digits is the shortest text that reads back as its float32, so
    the rounded values print (JSON, `repr`) with at most `digits` digits.
    """
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0.0, 1.0, values))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.ascontiguousarray(np.round(values * scale) / scale, dtype=np.float32)


def record_schema_for(sample_shape, channel_names=None, config=None):
    """The `features.RecordSchema` of `sample_shape` for DEAP's 32 channels (or `channel_names`).

    For code that writes or reads records without an ExampleGen run at hand (tests, benchmarks): the
    operator is the one ExampleGen would compute for these channels and `config` (image size from the
    shape).
    """
    from emorecog.datasets.deap import EEG_CHANNELS

    config = dataclasses.replace(config or PreprocessConfig(), image_size=sample_shape.image_size)
    return TrialPreprocessor(config).record_schema(
        EEG_CHANNELS if channel_names is None else channel_names, sample_shape
    )


def _resample(joined, baseline_samples, rate, target_rate):
    """(joined [C, n] resampled from `rate` to `target_rate` by a polyphase filter, baseline samples at the new
    rate)."""
    from fractions import Fraction

    from scipy import signal as scipy_signal

    ratio = Fraction(target_rate) / Fraction(rate).limit_denominator(1000)
    resampled = scipy_signal.resample_poly(joined, ratio.numerator, ratio.denominator, axis=1)
    return resampled, int(round(baseline_samples * float(ratio)))


def _finite_channels_by_samples(array, field, channel_names):
    """Check a [C, samples] EEG field against the channel names and for NaN/inf; return float64."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != len(channel_names):
        raise ValueError(
            f"field {field!r} must be [{len(channel_names)} channels, samples] to match eeg_channels, "
            f"got shape {array.shape}"
        )
    bad = ~np.isfinite(array)
    if bad.any():
        channels = [channel_names[index] for index in np.flatnonzero(bad.any(axis=1))]
        raise ValueError(f"field {field!r} has {int(bad.sum())} NaN or infinite samples in channels {channels}")
    return array


def _with_context(where, step):
    """Run `step()`; prefix a ValueError / FileNotFoundError message with the trial it concerns."""
    try:
        return step()
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{where}: {error}") from error
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
