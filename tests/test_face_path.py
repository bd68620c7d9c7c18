"""Face path: frame selection by timestamp, video errors, face crops (real MediaPipe on drawn faces), the gap
rule, and the face half of `TrialPreprocessor`."""

import dataclasses
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from emorecog.preprocessing.face_crops import FaceCrops, crop_and_resize, crop_faces, encode_jpeg
from emorecog.preprocessing.face_detector import FaceDetector
from emorecog.preprocessing.trial_preprocessor import PreprocessConfig, TrialPreprocessor
from emorecog.preprocessing.video_frames import (
    iter_frames,
    iter_video_frames,
    probe_video,
    read_trial_frames,
    read_video_header,
    select_frame_indices,
)

SAMPLING_RATE = 128
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
SKIN_BGR = (150, 180, 220)
BARCODE_BITS = 10
BARCODE_CELL = 16


def draw_face(bgr, centre_x, centre_y, radius):
    """A cartoon face MediaPipe's BlazeFace detects: skin ellipse, two eyes, nose, mouth (BGR, in place)."""
    cv2.ellipse(bgr, (centre_x, centre_y), (int(0.8 * radius), radius), 0, 0, 360, SKIN_BGR, -1)
    for side in (-0.35, 0.35):
        eye = (int(centre_x + side * radius), int(centre_y - 0.25 * radius))
        cv2.ellipse(bgr, eye, (int(0.15 * radius), int(0.08 * radius)), 0, 0, 360, (255, 255, 255), -1)
        cv2.circle(bgr, eye, int(0.06 * radius), (40, 30, 20), -1)
    cv2.line(
        bgr, (centre_x, int(centre_y - 0.1 * radius)), (centre_x, int(centre_y + 0.2 * radius)), (100, 120, 170), 2
    )
    cv2.ellipse(
        bgr,
        (centre_x, int(centre_y + 0.45 * radius)),
        (int(0.3 * radius), int(0.1 * radius)),
        0,
        0,
        360,
        (60, 60, 160),
        -1,
    )
    return bgr


def draw_barcode(bgr, number):
    """The frame number as BARCODE_BITS black/white cells along the top edge (survives lossy codecs)."""
    for bit in range(BARCODE_BITS):
        value = 255 if (number >> bit) & 1 else 0
        bgr[:BARCODE_CELL, bit * BARCODE_CELL : (bit + 1) * BARCODE_CELL] = value
    return bgr


def read_barcode(rgb):
    cells = [
        rgb[2 : BARCODE_CELL - 2, bit * BARCODE_CELL + 2 : (bit + 1) * BARCODE_CELL - 2].mean()
        for bit in range(BARCODE_BITS)
    ]
    return sum(1 << bit for bit, mean in enumerate(cells) if mean > 128)


def background(width, height):
    return np.full((height, width, 3), 90, dtype=np.uint8)


def write_video(path, num_frames, fps, size=(240, 180), face=(120, 100, 50), barcode=True, codec="XVID"):
    """An AVI (XVID, or MJPG / dvsd) of `num_frames` frames, each with its number as a barcode and a face."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    assert writer.isOpened()
    for number in range(num_frames):
        frame = background(width, height)
        if face is not None:
            draw_face(frame, *face)
        if barcode:
            draw_barcode(frame, number)
        writer.write(frame)
    writer.release()
    return str(path)


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as face_detector:
        yield face_detector


# --- frame selection --------------------------------------------------------------------------------------


def test_fifty_to_eight_fps_takes_the_frame_at_each_interval_centre():
    indices = select_frame_indices(3000, 50.0, 8, 60.0, alignment="start")
    assert indices.shape == (480,)
    np.testing.assert_array_equal(indices[:9], [3, 9, 15, 21, 28, 34, 40, 46, 53])
    assert set(np.diff(indices)) == {6, 7}
    expected = np.floor((np.arange(480) + 0.5) / 8 * 50).astype(int)
    np.testing.assert_array_equal(indices, expected)
    assert indices[-1] == 2996


def test_end_alignment_uses_the_last_trial_seconds_of_the_video():
    # a 63 s video (3 s before the stimulus), a 60 s trial: the trial starts at video second 3
    indices = select_frame_indices(3150, 50.0, 8, 60.0, alignment="end")
    assert indices[0] == 153 and indices[-1] == 3146
    np.testing.assert_array_equal(indices - 150, select_frame_indices(3000, 50.0, 8, 60.0, alignment="start"))


def test_slower_source_repeats_frames():
    indices = select_frame_indices(25, 5.0, 8, 5.0, alignment="start")
    assert len(indices) == 40 and indices.max() == 24 and np.all(np.diff(indices) >= 0)


def test_video_one_frame_short_is_tolerated_but_shorter_is_an_error():
    # 59.98 s of video: the end-aligned trial starts 0.02 s (one frame) before the video does
    indices = select_frame_indices(2999, 50.0, 8, 60.0, alignment="end")
    np.testing.assert_array_equal(indices, select_frame_indices(3000, 50.0, 8, 60.0, alignment="start") - 1)
    with pytest.raises(ValueError, match=r"face video s01_trial01\.avi is shorter than the trial: 2900 frames"):
        select_frame_indices(2900, 50.0, 8, 60.0, path="s01_trial01.avi")


def test_decoded_frames_are_the_selected_source_frames(tmp_path):
    path = write_video(tmp_path / "numbered.avi", num_frames=200, fps=50, face=None)
    info = probe_video(path)
    assert (info.num_frames, info.source_fps, info.width, info.height) == (200, 50.0, 240, 180)
    indices = select_frame_indices(info.num_frames, info.source_fps, 8, 3.0, alignment="end", path=path)
    decoded = [read_barcode(frame) for frame in iter_frames(path, indices)]
    assert decoded == list(indices)
    assert indices[0] == int(np.floor((1.0 + 0.5 / 8) * 50))


def test_frame_count_comes_from_decoding_and_the_rate_can_be_overridden(tmp_path):
    # the header says 25 fps; the camera really ran at 50 fps
    path = write_video(tmp_path / "header_25fps.avi", num_frames=100, fps=25, face=None)
    assert probe_video(path).duration_seconds == pytest.approx(4.0)
    info = probe_video(path, source_fps=50.0)
    assert info.container_fps == 25.0 and info.num_frames == 100 and info.duration_seconds == pytest.approx(2.0)
    indices = select_frame_indices(info.num_frames, info.source_fps, 8, 2.0, path=path)
    assert [read_barcode(frame) for frame in iter_frames(path, indices)] == list(indices)


def test_video_shorter_than_trial_is_an_error_naming_the_file(tmp_path):
    path = write_video(tmp_path / "s02_trial05.avi", num_frames=100, fps=50, face=None)
    info = probe_video(path)
    with pytest.raises(ValueError, match=r"s02_trial05\.avi is shorter than the trial: 100 frames at 50 fps = 2\.00 s"):
        select_frame_indices(info.num_frames, info.source_fps, 8, 3.0, path=path)


def test_corrupt_video_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "s03_trial01.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"s03_trial01\.avi"):
        probe_video(path)


def test_truncated_video_decodes_fewer_frames_and_is_too_short(tmp_path):
    path = write_video(tmp_path / "full.avi", num_frames=150, fps=50, face=None)
    truncated = tmp_path / "s04_trial09.avi"
    data = open(path, "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    info = probe_video(truncated)
    assert 0 < info.num_frames < 150
    with pytest.raises(ValueError, match=r"s04_trial09\.avi is shorter than the trial"):
        select_frame_indices(info.num_frames, info.source_fps, 8, 3.0, path=str(truncated))


def test_missing_video_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.avi"):
        probe_video(tmp_path / "nowhere.avi")


def test_iter_frames_reports_a_video_that_ends_early(tmp_path):
    path = write_video(tmp_path / "short.avi", num_frames=20, fps=50, face=None)
    with pytest.raises(ValueError, match=r"short\.avi ended after 20 frames, frame 25 was wanted"):
        list(iter_frames(path, [3, 25]))


class CountingCapture:
    """The real cv2.VideoCapture, counting the frames it decodes (grab / retrieve) and demuxes (raw reads)."""

    decoded = 0
    demuxed = 0

    def __init__(self, path):
        self._capture = REAL_CAPTURE(path)
        self._raw = False

    def set(self, prop, value):
        done = self._capture.set(prop, value)
        self._raw = self._raw or (prop == cv2.CAP_PROP_FORMAT and value == -1 and done)
        return done

    def grab(self):
        if self._raw:
            CountingCapture.demuxed += 1
        else:
            CountingCapture.decoded += 1
        return self._capture.grab()

    def read(self):
        if self._raw:
            CountingCapture.demuxed += 1
        else:
            CountingCapture.decoded += 1
        return self._capture.read()

    def __getattr__(self, name):
        return getattr(self._capture, name)


REAL_CAPTURE = cv2.VideoCapture


@pytest.mark.parametrize("codec", ["XVID", "MJPG"])
def test_a_trial_video_is_decoded_once(tmp_path, monkeypatch, codec):
    """One pass: every frame decoded once (XVID), or demuxed once with only the chosen JPEGs decoded (MJPG)."""
    path = write_video(tmp_path / f"once-{codec}.avi", num_frames=200, fps=50, face=None, codec=codec)
    decoded_jpegs = []
    real_imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "VideoCapture", CountingCapture)
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decoded_jpegs.append(1) or real_imdecode(*args))
    CountingCapture.decoded = CountingCapture.demuxed = 0
    frames, info = read_trial_frames(path, 3.0, 8, consume=lambda frames: [read_barcode(f.rgb) for f in frames])
    assert frames == list(select_frame_indices(200, 50.0, 8, 3.0)) and info.num_frames == 200
    if codec == "XVID":
        assert CountingCapture.decoded == 200 + 1 and CountingCapture.demuxed == 0  # + the read that finds the end
    else:
        assert CountingCapture.decoded == 0 and CountingCapture.demuxed == 200 + 1 and len(decoded_jpegs) == 24


def test_mjpeg_frames_decoded_from_packets_match_ffmpegs_decode(tmp_path):
    path = write_video(tmp_path / "mjpeg.avi", num_frames=60, fps=25, codec="MJPG")
    indices = [0, 7, 30, 59]
    from_packets = list(iter_frames(path, indices))
    capture = cv2.VideoCapture(path)
    by_ffmpeg = []
    for number in range(60):
        ok, bgr = capture.read()
        if number in indices:
            by_ffmpeg.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    assert [read_barcode(frame) for frame in from_packets] == indices
    for packet_frame, ffmpeg_frame in zip(from_packets, by_ffmpeg):
        # two JPEG decoders: libjpeg and FFmpeg upsample chroma differently, by a few levels on average
        assert np.abs(packet_frame.astype(int) - ffmpeg_frame).mean() < 3


def test_mjpeg_frames_are_decoded_reduced_while_the_frame_keeps_the_asked_side(tmp_path):
    path = write_video(tmp_path / "mjpeg.avi", num_frames=50, fps=25, size=(720, 576), face=None, codec="MJPG")
    frames, _ = read_trial_frames(path, 2.0, 8, min_reduced_side=256, consume=list)
    full = list(iter_frames(path, select_frame_indices(50, 25.0, 8, 2.0)))
    assert {frame.reduction for frame in frames} == {2} and frames[0].rgb.shape == (288, 360, 3)
    for frame, full_frame in zip(frames, full):
        np.testing.assert_array_equal(frame.full_resolution(), full_frame)  # the same packet, decoded again
        assert read_barcode(cv2.resize(frame.rgb, (720, 576))) == read_barcode(full_frame)
    smaller, _ = read_trial_frames(path, 2.0, 8, min_reduced_side=100, consume=list)
    assert smaller[0].reduction == 4 and smaller[0].rgb.shape == (144, 180, 3)
    unreduced, _ = read_trial_frames(path, 2.0, 8, min_reduced_side=400, consume=list)
    assert unreduced[0].reduction == 1 and unreduced[0].rgb.shape == (576, 720, 3)


def test_a_corrupt_jpeg_packet_is_an_error_naming_the_file_and_frame(tmp_path):
    path = write_video(tmp_path / "s06_trial02.avi", num_frames=50, fps=25, size=(320, 240), face=None, codec="MJPG")
    data = bytearray(open(path, "rb").read())
    starts = [i for i in range(len(data) - 2) if data[i : i + 3] == b"\xff\xd8\xff"]  # each frame's JPEG SOI
    data[starts[20] : starts[20] + 2] = b"\x00\x00"  # source frame 20 is no JPEG any more
    open(path, "wb").write(bytes(data))
    for min_reduced_side in (None, 100):
        with pytest.raises(ValueError, match=r"s06_trial02\.avi: frame 20 cannot be decoded \(corrupt JPEG packet\)"):
            read_trial_frames(path, 2.0, 8, source_fps=25, min_reduced_side=min_reduced_side, consume=list)


def test_only_mjpeg_is_decoded_reduced(tmp_path):
    path = write_video(tmp_path / "xvid.avi", num_frames=50, fps=25, size=(720, 576), face=None)
    frames, _ = read_trial_frames(path, 2.0, 8, min_reduced_side=64, consume=list)
    assert frames[0].reduction == 1 and frames[0].rgb.shape == (576, 720, 3)
    with pytest.raises(ValueError, match="reduction must be one of"):
        list(iter_video_frames(path, [0], reduction=3))


def test_dv_video_takes_the_frame_by_frame_path(tmp_path):
    path = write_video(tmp_path / "camera.avi", num_frames=60, fps=25, size=(720, 576), face=None, codec="dvsd")
    frames, info = read_trial_frames(path, 2.0, 8, consume=lambda frames: [read_barcode(f.rgb) for f in frames])
    assert frames == list(select_frame_indices(60, 25.0, 8, 2.0)) and info.num_frames == 60


def test_a_header_that_overstates_the_frame_count_is_corrected_by_counting(tmp_path):
    path = write_video(tmp_path / "full.avi", num_frames=150, fps=50, face=None)
    truncated = tmp_path / "s04_trial09.avi"
    data = open(path, "rb").read()
    truncated.write_bytes(data[: int(len(data) * 0.8)])
    counted = probe_video(truncated).num_frames
    assert read_video_header(truncated).num_frames != counted  # the header is wrong
    frames, info = read_trial_frames(
        str(truncated), 1.0, 8, consume=lambda frames: [read_barcode(f.rgb) for f in frames]
    )
    assert info.num_frames == counted
    assert frames == list(select_frame_indices(counted, 50.0, 8, 1.0))
    with pytest.raises(ValueError, match=r"s04_trial09\.avi is shorter than the trial"):
        read_trial_frames(str(truncated), 3.0, 8)


# --- face crops -------------------------------------------------------------------------------------------


def decode_jpeg(data):
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def skin_mask(rgb):
    skin_rgb = np.array(SKIN_BGR[::-1], dtype=np.int32)
    return np.abs(rgb.astype(np.int32) - skin_rgb).max(axis=-1) < 25


@pytest.mark.parametrize("centre_x, centre_y, radius", [(250, 300, 120), (470, 230, 90)])
def test_crop_is_centred_on_the_drawn_face(detector, centre_x, centre_y, radius):
    frame = cv2.cvtColor(draw_face(background(720, 576), centre_x, centre_y, radius), cv2.COLOR_BGR2RGB)
    crops = crop_faces([frame], detector, face_size=64, margin=1.4)
    assert crops.face_present.tolist() == [1] and crops.detected.tolist() == [True]
    square_x, square_y, side = crops.squares[0]
    assert abs(square_x - centre_x) < 0.1 * radius and abs(square_y - centre_y) < 0.3 * radius
    assert 1.4 * radius < side < 3.5 * radius
    crop = decode_jpeg(crops.jpegs[0])
    assert crop.shape == (64, 64, 3)
    rows, columns = np.nonzero(skin_mask(crop))
    assert rows.size > 0.25 * 64 * 64  # the face fills a good part of the crop
    assert abs(columns.mean() - 31.5) < 4 and abs(rows.mean() - 31.5) < 10


def test_crop_beyond_the_frame_edge_is_padded_black():
    frame = np.full((100, 100, 3), 200, dtype=np.uint8)
    crop = crop_and_resize(frame, (10.0, 50.0, 40.0), 40)
    assert crop.shape == (40, 40, 3)
    assert crop[:, :8].max() == 0 and crop[:, 12:].min() == 200


def test_missing_face_reuses_the_last_box_for_a_short_gap(detector):
    face = cv2.cvtColor(draw_face(background(320, 240), 160, 120, 60), cv2.COLOR_BGR2RGB)
    empty = cv2.cvtColor(background(320, 240), cv2.COLOR_BGR2RGB)
    frames = [empty, face, face, face] + [empty] * 6 + [face]
    crops = crop_faces(frames, detector, face_size=32, max_gap_frames=4)
    assert isinstance(crops, FaceCrops) and crops.num_frames == 11
    assert crops.detected.tolist() == [False, True, True, True] + [False] * 6 + [True]
    assert crops.face_present.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1]
    np.testing.assert_array_equal(crops.squares[4:8], np.repeat(crops.squares[3:4], 4, axis=0))
    assert np.isnan(crops.squares[[0, 8, 9]]).all()
    for index in (0, 8, 9):
        assert decode_jpeg(crops.jpegs[index]).max() < 8  # black where no face
    assert decode_jpeg(crops.jpegs[5]).max() > 60  # the gap reuses the old box's pixels
    assert crops.detection_rate == pytest.approx(4 / 11)
    assert crops.frames_with_face == 8 and crops.frames_gap_filled == 4


def test_gap_zero_never_reuses_a_box(detector):
    face = cv2.cvtColor(draw_face(background(320, 240), 160, 120, 60), cv2.COLOR_BGR2RGB)
    empty = cv2.cvtColor(background(320, 240), cv2.COLOR_BGR2RGB)
    crops = crop_faces([face, empty, face], detector, face_size=32, max_gap_frames=0, detection_interval=1)
    assert crops.face_present.tolist() == [1, 0, 1]
    # searched every other frame, a face lost for one frame between two agreeing detections is not seen
    every_other = crop_faces([face, empty, face], detector, face_size=32, max_gap_frames=0, detection_interval=2)
    assert every_other.face_present.tolist() == [1, 1, 1] and every_other.interpolated.tolist() == [0, 1, 0]


DETECT_WITHOUT_TENSORFLOW = """
import sys
import cv2
from emorecog.preprocessing.face_detector import FaceDetector
frame = cv2.cvtColor(cv2.imread(sys.argv[1]), cv2.COLOR_BGR2RGB)
with FaceDetector() as detector:
    before = detector.detect(frame)
    loaded = "tensorflow" in sys.modules
    import tensorflow as tf
    after = detector.detect(frame)
print(loaded, before is not None, int(tf.constant(2) + 1), before == after)
"""


def test_the_detector_does_not_load_tensorflow_into_a_process_without_it(tmp_path):
    # ExampleGen's workers never need TensorFlow; MediaPipe's package would import it for doc decorators
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), draw_face(background(320, 240), 160, 120, 60))
    result = subprocess.run(
        [sys.executable, "-c", DETECT_WITHOUT_TENSORFLOW, str(image)], capture_output=True, text=True, check=True
    )
    # TensorFlow stays out while the detector works, and imports normally afterwards
    assert result.stdout.split() == ["False", "True", "3", "True"]


class CountingDetector:
    """The real detector, counting the frames it is run on."""

    def __init__(self, detector):
        self.detector, self.calls = detector, 0

    def detect(self, frame):
        self.calls += 1
        return self.detector.detect(frame)


def drifting_face_frames(num_frames, width=320, height=240, absent=()):
    """RGB frames of a face moving 2 px a frame to the right; frames in `absent` are empty."""
    frames = []
    for number in range(num_frames):
        frame = background(width, height)
        if number not in absent:
            draw_face(frame, 120 + 2 * number, 120, 60)
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return frames


def test_detection_interval_interpolates_between_agreeing_detections(detector):
    frames = drifting_face_frames(9)
    every_frame = crop_faces(frames, detector, face_size=32, detection_interval=1)
    counting = CountingDetector(detector)
    every_other = crop_faces(frames, counting, face_size=32, detection_interval=2)
    assert counting.calls == 5  # frames 0, 2, 4, 6, 8
    assert every_other.detected.tolist() == [True, False] * 4 + [True]
    assert every_other.interpolated.tolist() == [False, True] * 4 + [False]
    assert every_other.face_present.tolist() == [1] * 9 and every_other.detection_rate == 1.0
    np.testing.assert_array_equal(every_other.squares[::2], every_frame.squares[::2])
    # interpolated squares: where the detector itself puts the face, within 2 % of the side
    side = every_frame.squares[:, 2].mean()
    assert np.abs(every_other.squares[1::2] - every_frame.squares[1::2]).max() < 0.02 * side


def test_detection_interval_detects_every_frame_around_a_change(detector):
    frames = drifting_face_frames(11, absent=(4, 5))  # a face lost for two frames
    counting = CountingDetector(detector)
    crops = crop_faces(frames, counting, face_size=32, max_gap_frames=0, detection_interval=2)
    assert crops.face_present.tolist() == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]
    assert crops.detected.tolist() == [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1]  # 3 and 5 searched: 4 is empty
    assert crops.interpolated.tolist() == [0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0]
    assert counting.calls == 8
    shorter = crop_faces(frames[:6], detector, face_size=32, max_gap_frames=0, detection_interval=4)
    assert shorter.face_present.tolist() == [1, 1, 1, 1, 0, 0]  # the frames after the last search: searched


def test_a_crop_is_never_enlarged_by_the_reduced_decode(tmp_path, detector):
    """A small face in a reduced frame is cut from the full-resolution decode; a large one from the reduced frame."""
    for radius, reduced_crops in ((35, False), (85, True)):
        path = write_video(
            tmp_path / f"face-{radius}.avi", 25, 25, size=(320, 240), face=(160, 120, radius), codec="MJPG"
        )
        frames, _ = read_trial_frames(path, 1.0, 8, min_reduced_side=100, consume=list)
        crops = crop_faces(frames, detector, face_size=64)
        assert crops.face_present.all() and {frame.reduction for frame in frames} == {2}
        for frame, square, jpeg in zip(frames, crops.squares, crops.jpegs):
            assert (square[2] / 2 >= 64) == reduced_crops
            full = crop_and_resize(frame.full_resolution(), square, 64)
            if not reduced_crops:  # exactly the crop of the full-resolution frame
                assert jpeg == encode_jpeg(full, 90)
            else:  # the same picture as from the full-resolution frame, up to resampling
                assert np.abs(decode_jpeg(jpeg).astype(int) - full).mean() < 4
        assert crops.full_resolution_crops == (0 if reduced_crops else len(frames))


def test_crop_settings_are_checked(detector):
    with pytest.raises(ValueError, match="margin"):
        crop_faces([], detector, margin=0.5)
    with pytest.raises(ValueError, match="jpeg_quality"):
        crop_faces([], detector, jpeg_quality=0)


# --- TrialPreprocessor, face side -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Trial:
    subject: str
    trial: int
    eeg: np.ndarray
    eeg_baseline: np.ndarray
    eeg_channels: tuple
    sampling_rate: int
    ratings: tuple
    labels: tuple
    face_video: object = None


def make_trial(seconds, face_video):
    rng = np.random.default_rng(0)
    return Trial(
        "s05",
        3,
        rng.normal(size=(32, int(seconds * SAMPLING_RATE))),
        rng.normal(size=(32, 384)),
        GENEVA_CHANNELS,
        SAMPLING_RATE,
        (2.0, 8.0, 5.0, 5.0),
        (0, 1),
        face_video,
    )


def test_preprocessor_crops_the_face_of_every_trial_frame(tmp_path):
    video = write_video(tmp_path / "s05_trial03.avi", num_frames=250, fps=50, size=(320, 240), face=(160, 120, 60))
    config = PreprocessConfig(face_size=48, jpeg_quality=80)
    with TrialPreprocessor(config) as preprocessor:
        sample, report = preprocessor.process(make_trial(4.0, video))
    assert len(sample["face"]) == 32 and sample["face_present"].dtype == np.int64
    assert decode_jpeg(sample["face"][0]).shape == (48, 48, 3)
    assert report["detection_rate"] > 0.9 and report["frames_with_face"] >= 29
    assert report["video_frames"] == 250 and report["video_fps"] == 50.0 and report["has_face_video"]
    assert report["face_video"] == video


def test_preprocessor_names_the_trial_and_file_of_a_short_video(tmp_path):
    video = write_video(tmp_path / "s05_trial03.avi", num_frames=100, fps=50, face=None)
    with TrialPreprocessor() as preprocessor:
        with pytest.raises(ValueError, match=r"subject s05 trial 3: face video .*s05_trial03\.avi is shorter"):
            preprocessor.process(make_trial(4.0, video))


def test_preprocessor_names_the_trial_of_a_missing_video(tmp_path):
    with TrialPreprocessor() as preprocessor:
        with pytest.raises(FileNotFoundError, match=r"subject s05 trial 3: face video .*gone\.avi"):
            preprocessor.process(make_trial(2.0, os.path.join(tmp_path, "gone.avi")))


# --- on the synthetic DEAP (the reader's DeapTrial and the generator's videos) --------------------------------


@pytest.fixture(scope="module")
def synthetic_deap(tmp_path_factory):
    from emorecog.datasets.deap import DeapDataset
    from emorecog.datasets.synthetic.deap import SynthConfig, write_synthetic_deap

    config = SynthConfig(subjects=1, trials=2, duration_s=8, look_away_episodes=1)
    root = write_synthetic_deap(tmp_path_factory.mktemp("synthetic") / "deap", config)
    with open(os.path.join(root, "ground_truth.json")) as handle:
        truth = json.load(handle)
    return DeapDataset(root), truth, config


def test_preprocessor_finds_the_synthetic_face_and_its_look_aways(synthetic_deap):
    dataset, truth, config = synthetic_deap
    preprocess = PreprocessConfig(face_max_gap_frames=0)
    with TrialPreprocessor(preprocess) as preprocessor:
        for trial in dataset.trials("s01"):
            sample, report = preprocessor.process(trial, dataset=dataset.name)
            entry = next(e for e in truth["subjects"]["s01"]["trials"] if e["trial"] == trial.trial)
            source = select_frame_indices(report["video_frames"], report["video_fps"], 8, config.duration_s)
            no_face = np.isin(source, entry["no_face_frames"])
            present = sample["face_present"].astype(bool)
            assert len(sample["face"]) == 8 * config.duration_s
            assert present[~no_face].mean() >= 0.9
            assert present[no_face].mean() <= 0.2
            assert report["video_fps"] == config.fps and report["detection_rate"] == pytest.approx(present.mean())
