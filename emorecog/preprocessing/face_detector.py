"""MediaPipe BlazeFace face detection with the model shipped inside the mediapipe 0.10.21 wheel.

Nothing is downloaded: the short-range graph (`face_detection_short_range.tflite`, faces within about
2 m of the camera, as in DEAP's frontal webcam) and the full-range one are files of the wheel.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class FaceBox:
    """A detected face in pixel coordinates of the frame it was found in (x1, y1 exclusive)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def center(self):
        return ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)

    @property
    def width(self):
        return self.x1 - self.x0

    @property
    def height(self):
        return self.y1 - self.y0


class FaceDetector:
    """Finds the most confident face in RGB frames with MediaPipe's BlazeFace.

    Args:
        min_confidence: detections scoring below this are ignored.
        full_range: use the full-range model (faces up to about 5 m) instead of the short-range one.

    Use as a context manager, or call `close()`: the MediaPipe graph holds native resources.

    Example:
        >>> with FaceDetector() as detector:
        ...     box = detector.detect(rgb_frame)   # FaceBox or None
    """

    def __init__(self, min_confidence=0.5, full_range=False):
        from mediapipe.python.solutions import face_detection

        self.min_confidence = min_confidence
        self.full_range = full_range
        self._graph = face_detection.FaceDetection(
            model_selection=1 if full_range else 0, min_detection_confidence=min_confidence
        )

    def detect(self, rgb_frame):
        """The most confident face in `rgb_frame` (uint8 [H, W, 3], RGB) as a FaceBox, or None."""
        frame = np.ascontiguousarray(rgb_frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an RGB frame [H, W, 3], got shape {frame.shape}")
        height, width = frame.shape[:2]
        result = self._graph.process(frame)
        if not result.detections:
            return None
        best = max(result.detections, key=lambda detection: detection.score[0])
        relative = best.location_data.relative_bounding_box
        x0 = max(0.0, relative.xmin * width)
        y0 = max(0.0, relative.ymin * height)
        x1 = min(float(width), (relative.xmin + relative.width) * width)
        y1 = min(float(height), (relative.ymin + relative.height) * height)
        if x1 <= x0 or y1 <= y0:
            return None
        return FaceBox(x0, y0, x1, y1, float(best.score[0]))

    def close(self):
        self._graph.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
