"""Face-video frames at the EEG frame rate, chosen by timestamp (OpenCV decoding).

Time model. Source frame i is on screen during [i / src_fps, (i + 1) / src_fps). `src_fps` is the
camera rate you pass (DEAP: 50) or, by default, the container's rate. The frame count is never taken on
trust from the container header, which truncated or re-muxed files get wrong: `probe_video` counts by
decoding the whole file, and `read_trial_frames` decodes the video ONCE, selecting frames with the
header's count and counting every frame as it goes; if the count disagrees with the header, it selects
again with the counted number (a second pass, only for such files). So the video lasts num_frames /
src_fps seconds, whatever its header says.

Decoding. Codecs with inter-frame prediction (H.264, MPEG-4, ...) are decoded frame by frame through
OpenCV's FFmpeg backend, and every frame is decoded once. For MJPEG, where every frame is a JPEG of its
own, the file is demuxed without decoding (each packet is one frame) and only the selected frames are
decoded, by libjpeg through `cv2.imdecode`: 480 decodes instead of 3000 for a DEAP-size trial. libjpeg
and FFmpeg upsample chroma differently, so pixel values can differ by a few levels from FFmpeg's decode
of the same frame. libjpeg can also decode a JPEG at 1/2, 1/4 or 1/8 of its size for a fraction of the
cost (it skips the high-frequency coefficients): `read_trial_frames(..., min_reduced_side=N)` decodes each
chosen MJPEG frame at the smallest of these scales whose shorter side keeps >= N pixels, and every
`VideoFrame` can still be decoded at full resolution (`full_resolution()`) where a small face needs it.
DV and other intra-only codecs without a standalone decoder in OpenCV take the frame-by-frame path, at
full resolution.

Trial alignment. A trial of D seconds (DEAP: 60) maps onto the video as
    "end" (default)  the last D seconds: offset = num_frames / src_fps - D. DEAP's face videos start
                     before the stimulus (fixation cross / baseline) and end with it, as the EEG trial
                     does, so the two ends line up;
    "start"          the first D seconds: offset = 0.
When the dataset says where the stimulus starts in the video (MAHNOB-HCI's trigger events, a manifest's
`video_onset_s`), that time is the offset and no alignment rule is needed. When fewer seconds than the
whole trial are kept (`trial_seconds`), "end" still places the whole trial at the video's end and the kept
part is its beginning.

Selection. Output frame k (k = 0 .. T-1, T = round(D * fps)) stands for trial time [k / fps, (k+1) / fps);
it takes the source frame on screen at the centre of that interval:

    i_k = floor((offset + (k + 0.5) / fps) * src_fps)

For 50 -> 8 fps the steps alternate between 6 and 7 source frames (6.25 on average): 3, 9, 15, 21, 28, ...
A source slower than `fps` repeats frames. A video may be at most one source frame shorter than the trial
(indices are then clipped to the last frame); anything shorter is an error naming the file.
"""

import dataclasses
import math
import os

import numpy as np

ALIGNMENTS = ("end", "start")
# Four-character codes of MJPEG streams: every packet is a complete JPEG image.
JPEG_FOURCCS = ("MJPG", "mjpg", "JPEG", "jpeg")
# The scales (1 / reduction) at which libjpeg decodes directly, and OpenCV's flag for each.
JPEG_REDUCTIONS = (1, 2, 4, 8)


@dataclasses.dataclass(frozen=True)
class VideoFrame:
    """One decoded video frame.

    Args:
        rgb: uint8 [height / reduction, width / reduction, 3], RGB.
        reduction: 1, or 2, 4, 8 for an MJPEG frame decoded at that fraction of its size.
        packet: the frame's JPEG bytes when reduced (to decode it again at full size), else None.
        path, index: the file and the source frame index, for error messages.
    """

    rgb: np.ndarray
    reduction: int = 1
    packet: np.ndarray = None
    path: str = "video"
    index: int = 0

    def full_resolution(self):
        """The frame at the video's own resolution (decoded again from its packet if it was reduced)."""
        if self.reduction == 1:
            return self.rgb
        return _decode_packet(self.packet, self.path, self.index, reduction=1)


class FrameCountMismatch(ValueError):
    """The video holds `counted` frames, not the number the frames were selected with."""

    def __init__(self, path, counted, assumed):
        super().__init__(f"face video {path} holds {counted} frames, not {assumed} as its header says")
        self.counted = counted


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learned about a video file.

    Args:
        path: the file.
        num_frames: frames that decode, counted by decoding.
        source_fps: the rate used for timestamps (given, or the container's).
        container_fps: the rate in the container header (0 if absent).
        container_frame_count: the frame count in the container header (may be wrong).
        width, height: frame size in pixels.
    """

    path: str
    num_frames: int
    source_fps: float
    container_fps: float
    container_frame_count: int
    width: int
    height: int

    @property
    def duration_seconds(self):
        return self.num_frames / self.source_fps


def probe_video(path, source_fps=None):
    """Open a video, count its frames by decoding them, and read its header.

    Args:
        path: video file (any container/codec the OpenCV FFmpeg backend reads, e.g. DEAP's AVI).
        source_fps: the true camera rate in frames per second, or None to use the container's.

    Returns:
        A `VideoInfo`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be opened as a video, no frame decodes, or no frame rate is known.
    """
    import cv2

    header = read_video_header(path, source_fps)
    capture = cv2.VideoCapture(header.path)
    try:
        num_frames = 0
        # grab() demuxes and decodes without the colour conversion of retrieve(): the cheapest honest count
        while capture.grab():
            num_frames += 1
    finally:
        capture.release()
    if num_frames == 0:
        raise ValueError(f"face video {header.path}: no frame could be decoded (corrupt or empty file)")
    return dataclasses.replace(header, num_frames=num_frames)


def read_video_header(path, source_fps=None):
    """A `VideoInfo` from the container header alone (no decoding): `num_frames` is the header's count.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be opened as a video, or no frame rate is known.
    """
    import cv2

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"face video {path} does not exist")
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise ValueError(f"face video {path} cannot be opened: unreadable, corrupt or not a video file")
        container_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        header_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    finally:
        capture.release()
    rate = container_fps if source_fps is None else float(source_fps)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"face video {path}: no usable frame rate (container says {container_fps}); pass source_fps")
    return VideoInfo(path, header_count, rate, container_fps, header_count, width, height)


def read_trial_frames(
    path,
    duration_seconds,
    fps,
    source_fps=None,
    alignment="end",
    consume=list,
    start_seconds=None,
    trial_seconds=None,
    min_reduced_side=None,
):
    """Decode a trial's frames once: `consume(frames)` over the `VideoFrame`s chosen by timestamp.

    Args:
        path: video file.
        duration_seconds: trial duration D; round(D * fps) frames are chosen (`select_frame_indices`).
        fps: output frame rate.
        source_fps: the camera's true rate, or None for the container's.
        alignment: "end" or "start".
        consume: a function taking the `VideoFrame` iterator (e.g. a face cropper) and returning a result.
            It is called again with the re-selected frames if the video's frame count differs from its
            header.
        start_seconds, trial_seconds: see `select_frame_indices`.
        min_reduced_side: decode MJPEG frames at the smallest libjpeg scale (1/2, 1/4, 1/8) whose shorter
            side keeps at least this many pixels; None: full resolution.

    Returns:
        (result of `consume`, `VideoInfo` whose `num_frames` was counted while decoding).

    Raises:
        FileNotFoundError / ValueError: missing, unreadable, corrupt or too short video (file named).
    """
    info = read_video_header(path, source_fps)
    reduction = jpeg_reduction(info.width, info.height, min_reduced_side)
    assumed = info.num_frames
    if assumed <= 0:  # no count in the header: count first
        assumed = probe_video(path, source_fps).num_frames
    for _ in range(2):
        indices = select_frame_indices(
            assumed,
            info.source_fps,
            fps,
            duration_seconds,
            alignment=alignment,
            path=path,
            start_seconds=start_seconds,
            trial_seconds=trial_seconds,
        )
        try:
            result = consume(iter_video_frames(path, indices, expected_frame_count=assumed, reduction=reduction))
        except FrameCountMismatch as mismatch:
            assumed = mismatch.counted
            continue
        return result, dataclasses.replace(info, num_frames=assumed)
    raise ValueError(f"face video {path}: its frame count changes between two reads")


def jpeg_reduction(width, height, min_reduced_side):
    """The largest of `JPEG_REDUCTIONS` that keeps the shorter side >= min_reduced_side (1 if None)."""
    if min_reduced_side is None or width <= 0 or height <= 0:
        return 1
    return max(r for r in JPEG_REDUCTIONS if r == 1 or min(width, height) // r >= min_reduced_side)


def select_frame_indices(
    num_source_frames,
    source_fps,
    fps,
    duration_seconds,
    alignment="end",
    path="video",
    start_seconds=None,
    trial_seconds=None,
):
    """Source frame index for every output frame (see the module docstring for the rule).

    Args:
        num_source_frames: frames in the video.
        source_fps: source frame rate.
        fps: output frame rate.
        duration_seconds: trial duration D.
        alignment: "end" (default) or "start".
        path: the file name, for error messages.
        start_seconds: the time in the video at which the trial starts, if known (then `alignment` is not
            used).
        trial_seconds: the whole trial's length when only its first `duration_seconds` are wanted ("end"
            alignment places the whole trial); default `duration_seconds`.

    Returns:
        int64 [round(D * fps)], non-decreasing, in [0, num_source_frames).

    Raises:
        ValueError: the video is shorter than the trial (by more than one source frame), bad arguments.
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"unknown video alignment {alignment!r}: expected one of {ALIGNMENTS}")
    if fps <= 0 or source_fps <= 0 or duration_seconds <= 0:
        raise ValueError(f"fps ({fps}), source_fps ({source_fps}) and duration ({duration_seconds} s) must be positive")
    video_seconds = num_source_frames / source_fps
    placed_seconds = max(duration_seconds, trial_seconds or 0.0)
    if start_seconds is not None:
        offset, needed = float(start_seconds), float(start_seconds) + duration_seconds
    else:
        offset = video_seconds - placed_seconds if alignment == "end" else 0.0
        needed = placed_seconds
    if video_seconds + 1.0 / source_fps < needed - 1e-9:
        raise ValueError(
            f"face video {path} is shorter than the trial: {num_source_frames} frames at {source_fps:g} fps "
            f"= {video_seconds:.2f} s, the trial needs {needed:.2f} s"
            + (f" (it starts {start_seconds:g} s into the video)" if start_seconds is not None else "")
            + " (truncated or corrupt file?)"
        )
    num_frames = int(round(duration_seconds * fps))
    centre_times = offset + (np.arange(num_frames) + 0.5) / fps
    # 1e-9 keeps a centre that falls exactly on a frame boundary in the later frame despite rounding
    indices = np.floor(centre_times * source_fps + 1e-9).astype(np.int64)
    return np.clip(indices, 0, num_source_frames - 1)


def iter_frames(path, frame_indices, expected_frame_count=None):
    """Decode a video once and yield the RGB frames at `frame_indices` (non-decreasing; repeats allowed).

    `iter_video_frames` at full resolution, as arrays: uint8 [height, width, 3]. Same arguments and errors.
    """
    for frame in iter_video_frames(path, frame_indices, expected_frame_count):
        yield frame.rgb


def iter_video_frames(path, frame_indices, expected_frame_count=None, reduction=1):
    """Decode a video once and yield the `VideoFrame`s at `frame_indices` (non-decreasing; repeats allowed).

    Args:
        path: video file.
        frame_indices: int array [T] of source frame indices, e.g. from `select_frame_indices`.
        expected_frame_count: if given, the video is read to its end after the last wanted frame and
            `FrameCountMismatch` is raised (after the last frame was yielded) when it holds another number
            of frames; a video that ends before a wanted frame raises it too.
        reduction: one of `JPEG_REDUCTIONS`: MJPEG frames are decoded at 1 / reduction of their size (other
            codecs always at full size).

    Yields:
        `VideoFrame`s, T of them, in order.

    Raises:
        ValueError: the indices decrease, the video ends before the last wanted frame, a frame does not
            decode.
    """
    import cv2

    path = os.fspath(path)
    indices = np.asarray(frame_indices, dtype=np.int64)
    if indices.size and (indices[0] < 0 or np.any(np.diff(indices) < 0)):
        raise ValueError("frame_indices must be non-negative and non-decreasing")
    if reduction not in JPEG_REDUCTIONS:
        raise ValueError(f"reduction must be one of {JPEG_REDUCTIONS}, got {reduction!r}")
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise ValueError(f"face video {path} cannot be opened: unreadable, corrupt or not a video file")
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC) or 0).to_bytes(4, "little").decode("latin-1")
        # Raw (demux-only) reading of JPEG packets; if OpenCV cannot switch to it, decode frame by frame.
        # Either way grab() only advances (demux, or demux + decode) and retrieve() is paid for wanted frames.
        packets = fourcc in JPEG_FOURCCS and capture.set(cv2.CAP_PROP_FORMAT, -1)
        position = -1  # index of the frame last grabbed
        frame = None
        for wanted in indices:
            while position < wanted:
                if not capture.grab():
                    if expected_frame_count is not None:
                        raise FrameCountMismatch(path, position + 1, expected_frame_count)
                    raise ValueError(
                        f"face video {path} ended after {position + 1} frames, frame {int(wanted)} was wanted "
                        "(truncated or corrupt file?)"
                    )
                position += 1
                frame = None
            if frame is None:
                frame = (
                    _retrieve_packet(capture, path, wanted, reduction) if packets else _retrieve(capture, path, wanted)
                )
            yield frame
        if expected_frame_count is not None:
            while capture.grab():
                position += 1
            if position + 1 != expected_frame_count:
                raise FrameCountMismatch(path, position + 1, expected_frame_count)
    finally:
        capture.release()


# libjpeg's scaled decoding, by reduction
_IMREAD_FLAGS = {
    1: "IMREAD_COLOR",
    2: "IMREAD_REDUCED_COLOR_2",
    4: "IMREAD_REDUCED_COLOR_4",
    8: "IMREAD_REDUCED_COLOR_8",
}


def _retrieve_packet(capture, path, index, reduction):
    ok, packet = capture.retrieve()
    if not ok:
        raise ValueError(f"face video {path}: frame {int(index)} cannot be read (corrupt packet)")
    packet = np.asarray(packet, dtype=np.uint8).reshape(-1)
    rgb = _decode_packet(packet, path, index, reduction)
    return VideoFrame(rgb, reduction, packet if reduction > 1 else None, path, int(index))


def _decode_packet(packet, path, index, reduction):
    import cv2

    scaled_decoding = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }
    bgr = cv2.imdecode(packet, scaled_decoding[reduction])
    if bgr is None:
        raise ValueError(f"face video {path}: frame {int(index)} cannot be decoded (corrupt JPEG packet)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _retrieve(capture, path, index):
    import cv2

    ok, bgr = capture.retrieve()
    if not ok:
        raise ValueError(f"face video {path}: frame {int(index)} cannot be decoded")
    return VideoFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), path=path, index=int(index))
