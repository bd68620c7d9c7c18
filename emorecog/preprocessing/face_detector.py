"""MediaPipe BlazeFace face detection with the model shipped inside the mediapipe 0.10.21 wheel.

Nothing is downloaded: the short-range graph (`face_detection_short_range.tflite`, faces within about
2 m of the camera, as in DEAP's frontal webcam) and the full-range one are files of the wheel.
"""

import dataclasses
import sys

import numpy as np


def import_mediapipe_face_detection():
    """MediaPipe's `face_detection` solution module, imported without loading TensorFlow if it is not loaded.

    mediapipe 0.10.21's package `__init__` imports its Tasks API, whose `optional_dependencies` module imports
    `tensorflow.tools.docs` for API-documentation decorators when TensorFlow is installed; MediaPipe does not
    depend on TensorFlow and uses no-op decorators when that import raises ModuleNotFoundError. ExampleGen's
    worker processes never need TensorFlow, and loading it there cost each worker about 3 s (2.4 s to import,
    about 1 s to exit), a quarter of a 24-trial ingest with face. So while MediaPipe is first imported into a
    process without TensorFlow, `sys.modules["tensorflow"]` holds None, which makes `import tensorflow` raise
    ModuleNotFoundError (the interpreter's documented meaning of None there); the marker is removed at once,
    and a later `import tensorflow` in the same process works as usual. A process that has TensorFlow already,
    or has imported MediaPipe before, imports it normally.
    """
    if "tensorflow" in sys.modules or "mediapipe" in sys.modules:
        from mediapipe.python.solutions import face_detection

        return face_detection
    sys.modules["tensorflow"] = None
    try:
        from mediapipe.python.solutions import face_detection
    finally:
        if "tensorflow" in sys.modules and sys.modules["tensorflow"] is None:
            del sys.modules["tensorflow"]
    return face_detection


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
        face_detection = import_mediapipe_face_detection()
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
