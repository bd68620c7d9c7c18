"""Face crops of video frames: MediaPipe BlazeFace box -> square with margin -> S x S -> JPEG bytes.

Per frame:
1. `FaceDetector.detect` finds the most confident face box (x0, y0, x1, y1).
2. The crop is the square of side margin * max(box width, box height) centred on the box centre (default
   margin 1.4: forehead, chin and cheeks included). Parts of the square outside the frame are black.
3. The square is resized to S x S (area averaging when shrinking, bilinear when enlarging) and JPEG-encoded
   (`cv2.imencode`, configurable quality, optimised Huffman tables: ~20 % fewer bytes than the standard
   tables for exactly the same pixels) as RGB, the layout `tf.io.decode_jpeg` returns.

Missed detections (a turned head, a hand, motion blur): the last detected box is reused for up to
`max_gap_frames` consecutive frames, which still count as `face_present = 1`; after that, until the next
detection, the crop is an all-black JPEG with `face_present = 0`. No box is invented before the first
detection.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class FaceCrops:
    """The face crops of one trial.

    Args:
        jpegs: T JPEG byte strings of S x S RGB crops (black where no face).
        face_present: int64 [T], 1 where the crop shows a face (detected or gap-filled).
        detected: bool [T], 1 where the detector found a face in that very frame.
        squares: float64 [T, 3], the crop square (centre x, centre y, side) in frame pixels; NaN where
            no face.
    """

    jpegs: tuple
    face_present: np.ndarray
    detected: np.ndarray
    squares: np.ndarray

    @property
    def num_frames(self):
        return len(self.jpegs)

    @property
    def detection_rate(self):
        """Share of frames where the detector found a face (gap-filled frames do not count)."""
        return float(self.detected.mean()) if self.num_frames else 0.0

    @property
    def frames_with_face(self):
        return int(self.face_present.sum())

    @property
    def frames_gap_filled(self):
        return int(np.count_nonzero(self.face_present.astype(bool) & ~self.detected))


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


def crop_faces(rgb_frames, detector, face_size=64, margin=1.4, max_gap_frames=4, jpeg_quality=90):
    """Detect, crop, resize and JPEG-encode the face in every frame of a sequence.

    Args:
        rgb_frames: iterable of uint8 [height, width, 3] RGB frames (e.g. `video_frames.iter_frames`).
        detector: a `FaceDetector` (the caller owns it and closes it).
        face_size: S, the side of the output crops.
        margin: crop side / largest side of the detected box (>= 1).
        max_gap_frames: consecutive missed frames that reuse the last box (0: never reuse).
        jpeg_quality: 1..100.

    Returns:
        A `FaceCrops` with one entry per frame.
    """
    if margin < 1.0:
        raise ValueError(f"face margin must be >= 1 (the crop contains the box), got {margin}")
    if max_gap_frames < 0:
        raise ValueError(f"max_gap_frames must be >= 0, got {max_gap_frames}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    blank = blank_face_jpeg(face_size, jpeg_quality)
    jpegs, present, detected, squares = [], [], [], []
    last_square = None
    missed_since_detection = 0
    for frame in rgb_frames:
        box = detector.detect(frame)
        if box is not None:
            last_square = crop_square(box, margin)
            missed_since_detection = 0
            square = last_square
        else:
            missed_since_detection += 1
            reusable = last_square is not None and missed_since_detection <= max_gap_frames
            square = last_square if reusable else None
        detected.append(box is not None)
        if square is None:
            jpegs.append(blank)
            present.append(0)
            squares.append((np.nan, np.nan, np.nan))
        else:
            jpegs.append(encode_jpeg(crop_and_resize(frame, square, face_size), jpeg_quality))
            present.append(1)
            squares.append(square)
    return FaceCrops(
        jpegs=tuple(jpegs),
        face_present=np.asarray(present, dtype=np.int64),
        detected=np.asarray(detected, dtype=bool),
        squares=np.asarray(squares, dtype=np.float64).reshape(-1, 3),
    )
