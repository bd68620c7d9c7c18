"""Face crops of video frames: MediaPipe BlazeFace box -> square with margin -> S x S -> JPEG bytes.

Per frame:
1. The face is located: `FaceDetector.detect` finds the most confident face box (x0, y0, x1, y1), or, see
   below, the square is interpolated between two detections.
2. The crop is the square of side margin * max(box width, box height) centred on the box centre (default
   margin 1.4: forehead, chin and cheeks included). Parts of the square outside the frame are black.
3. The square is resized to S x S (area averaging when shrinking, bilinear when enlarging) and JPEG-encoded
   (`cv2.imencode`, configurable quality, optimised Huffman tables: ~20 % fewer bytes than the standard
   tables for exactly the same pixels) as RGB, the layout `tf.io.decode_jpeg` returns.

Detection interval. BlazeFace's inference (~1.2 ms on one core, whatever the frame size: it sees 128 x 128)
is most of the face path's cost, and at 8 fps a face moves little between two frames. With
`detection_interval` n > 1 the detector runs on every n-th frame (0, n, 2n, ...); when two successive such
frames both hold a face whose squares agree (centres within `INTERPOLATION_TOLERANCE` of the side, sides
within the same ratio), the frames between them take the linearly interpolated square; otherwise (a face
lost, found, or moved) the detector runs on each frame between them too, so every change of presence is
seen at the frame where it happens, except a face lost for fewer than n frames between two agreeing ones.
n = 1 detects on every frame.

Reduced frames. A `video_frames.VideoFrame` decoded at 1/r of the video's size (MJPEG) is searched at that
size (the detector scales it to 128 x 128 anyway), and the square is kept in full-resolution pixels. The
crop is cut from the reduced frame when the square there still has at least S pixels a side, otherwise
from the frame decoded again at full resolution: a crop is never enlarged because of the reduction.

Missed detections (a turned head, a hand, motion blur): the last located square is reused for up to
`max_gap_frames` consecutive frames, which still count as `face_present = 1`; after that, until the face is
located again, the crop is an all-black JPEG with `face_present = 0`. No box is invented before the first
detection.
"""

import dataclasses

import numpy as np

from emorecog.preprocessing.video_frames import VideoFrame

# Two detections n frames apart agree (and the frames between them are interpolated) when their centres are
# within this fraction of the square's side and their sides within this relative difference.
INTERPOLATION_TOLERANCE = 0.1


@dataclasses.dataclass(frozen=True)
class FaceCrops:
    """The face crops of one trial.

    Args:
        jpegs: T JPEG byte strings of S x S RGB crops (black where no face).
        face_present: int64 [T], 1 where the crop shows a face (located or gap-filled).
        detected: bool [T], True where the detector found a face in that very frame.
        interpolated: bool [T], True where the square was interpolated between two agreeing detections.
        squares: float64 [T, 3], the crop square (centre x, centre y, side) in full-resolution frame pixels;
            NaN where no face.
        full_resolution_crops: frames whose crop was cut from a full-resolution decode because the square
            had fewer than S pixels a side in the reduced frame.
    """

    jpegs: tuple
    face_present: np.ndarray
    detected: np.ndarray
    interpolated: np.ndarray
    squares: np.ndarray
    full_resolution_crops: int = 0

    @property
    def num_frames(self):
        return len(self.jpegs)

    @property
    def located(self):
        """bool [T]: the face was detected in the frame or interpolated between two detections."""
        return self.detected | self.interpolated

    @property
    def detection_rate(self):
        """Share of frames where the face was located (detected or interpolated; gap-filled frames do not count)."""
        return float(self.located.mean()) if self.num_frames else 0.0

    @property
    def frames_with_face(self):
        return int(self.face_present.sum())

    @property
    def frames_gap_filled(self):
        return int(np.count_nonzero(self.face_present.astype(bool) & ~self.located))


def crop_square(box, margin):
    """(centre x, centre y, side) of the square of side margin * max(w, h) around a `FaceBox`."""
    centre_x, centre_y = box.center
    return centre_x, centre_y, margin * max(box.width, box.height)


def crop_and_resize(rgb_frame, square, size):
    """Cut a square out of a frame (black outside the frame) and resize it.

    Args:
        rgb_frame: uint8 [height, width, 3].
        square: (centre x, centre y, side) in pixels.
        size: output side S.

    Returns:
        uint8 [S, S, 3].
    """
    import cv2

    centre_x, centre_y, side = square
    side_pixels = max(1, int(round(side)))
    left = int(round(centre_x - side / 2.0))
    top = int(round(centre_y - side / 2.0))
    height, width = rgb_frame.shape[:2]
    canvas = np.zeros((side_pixels, side_pixels, 3), dtype=np.uint8)
    source_x0, source_y0 = max(left, 0), max(top, 0)
    source_x1, source_y1 = min(left + side_pixels, width), min(top + side_pixels, height)
    if source_x1 > source_x0 and source_y1 > source_y0:
        canvas[source_y0 - top : source_y1 - top, source_x0 - left : source_x1 - left] = rgb_frame[
            source_y0:source_y1, source_x0:source_x1
        ]
    interpolation = cv2.INTER_AREA if side_pixels > size else cv2.INTER_LINEAR
    return cv2.resize(canvas, (size, size), interpolation=interpolation)


def encode_jpeg(rgb_image, quality):
    """JPEG bytes of an RGB uint8 image (OpenCV writes BGR, so the channels are swapped first)."""
    import cv2

    ok, encoded = cv2.imencode(
        ".jpg",
        cv2.cvtColor(rgb_image, cv2.COLOR_RGB2BGR),
        [int(cv2.IMWRITE_JPEG_QUALITY), int(quality), int(cv2.IMWRITE_JPEG_OPTIMIZE), 1],
    )
    if not ok:
        raise ValueError(f"JPEG encoding of a {rgb_image.shape} image failed")
    return encoded.tobytes()


def blank_face_jpeg(size, quality):
    """The all-black S x S JPEG used where no face is present."""
    return encode_jpeg(np.zeros((size, size, 3), dtype=np.uint8), quality)


def crop_faces(frames, detector, face_size=64, margin=1.4, max_gap_frames=4, jpeg_quality=90, detection_interval=2):
    """Locate, crop, resize and JPEG-encode the face in every frame of a sequence.

    Args:
        frames: iterable of uint8 [height, width, 3] RGB frames or `VideoFrame`s (e.g. from
            `video_frames.read_trial_frames`).
        detector: a `FaceDetector` (the caller owns it and closes it).
        face_size: S, the side of the output crops.
        margin: crop side / largest side of the detected box (>= 1).
        max_gap_frames: consecutive frames without a located face that reuse the last square (0: never).
        jpeg_quality: 1..100.
        detection_interval: n, run the detector on every n-th frame and interpolate between agreeing
            detections (see the module docstring); 1: detect on every frame.

    Returns:
        A `FaceCrops` with one entry per frame.
    """
    if margin < 1.0:
        raise ValueError(f"face margin must be >= 1 (the crop contains the box), got {margin}")
    if max_gap_frames < 0:
        raise ValueError(f"max_gap_frames must be >= 0, got {max_gap_frames}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    if not isinstance(detection_interval, int) or detection_interval < 1:
        raise ValueError(f"detection_interval must be an int >= 1, got {detection_interval!r}")
    blank = blank_face_jpeg(face_size, jpeg_quality)
    jpegs, present, detected, interpolated, squares = [], [], [], [], []
    full_resolution_crops = 0
    last_square = None
    frames_since_located = 0
    for frame, located_square, how in locate_faces(frames, detector, margin, detection_interval):
        if located_square is not None:
            last_square, frames_since_located = located_square, 0
            square = located_square
        else:
            frames_since_located += 1
            reusable = last_square is not None and frames_since_located <= max_gap_frames
            square = last_square if reusable else None
        detected.append(how == "detected")
        interpolated.append(how == "interpolated")
        if square is None:
            jpegs.append(blank)
            present.append(0)
            squares.append((np.nan, np.nan, np.nan))
            continue
        reduction = frame.reduction
        if square[2] / reduction >= face_size:
            pixels, cut = frame.rgb, tuple(value / reduction for value in square)
        else:
            pixels, cut = frame.full_resolution(), square
            full_resolution_crops += reduction > 1
        jpegs.append(encode_jpeg(crop_and_resize(pixels, cut, face_size), jpeg_quality))
        present.append(1)
        squares.append(square)
    return FaceCrops(
        jpegs=tuple(jpegs),
        face_present=np.asarray(present, dtype=np.int64),
        detected=np.asarray(detected, dtype=bool),
        interpolated=np.asarray(interpolated, dtype=bool),
        squares=np.asarray(squares, dtype=np.float64).reshape(-1, 3),
        full_resolution_crops=full_resolution_crops,
    )


def locate_faces(frames, detector, margin, detection_interval):
    """Yield (VideoFrame, square or None, how) per frame, in order; how is "detected", "interpolated" or "missed".

    Squares are (centre x, centre y, side) in full-resolution pixels. Frames between two detection frames
    are held back (at most n - 1 of them) until the second one is searched.
    """

    def detect(frame):
        box = detector.detect(frame.rgb)
        if box is None:
            return frame, None, "missed"
        centre_x, centre_y, side = crop_square(box, margin)
        scale = frame.reduction
        return frame, (centre_x * scale, centre_y * scale, side * scale), "detected"

    previous = None  # the last detection frame's result
    held = []  # frames since it
    for frame in frames:
        frame = frame if isinstance(frame, VideoFrame) else VideoFrame(np.asarray(frame))
        if previous is None:
            previous = detect(frame)
            yield previous
            continue
        held.append(frame)
        if len(held) < detection_interval:
            continue
        current = detect(held.pop())
        if squares_agree(previous[1], current[1]):
            for step, between in enumerate(held, start=1):
                yield between, interpolate_square(previous[1], current[1], step / detection_interval), "interpolated"
        else:
            yield from (detect(between) for between in held)
        yield current
        previous, held = current, []
    yield from (detect(frame) for frame in held)


def squares_agree(first, second, tolerance=INTERPOLATION_TOLERANCE):
    """Whether two crop squares (or None) are the same face: close centres and sides."""
    if first is None or second is None:
        return False
    side = min(first[2], second[2])
    centre_distance = float(np.hypot(first[0] - second[0], first[1] - second[1]))
    return centre_distance <= tolerance * side and max(first[2], second[2]) <= (1.0 + tolerance) * side


def interpolate_square(first, second, fraction):
    """The square a fraction of the way from `first` to `second` (each (centre x, centre y, side))."""
    return tuple(a + fraction * (b - a) for a, b in zip(first, second))
