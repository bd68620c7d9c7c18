"""`SyntheticFace`: a drawn head and shoulders that MediaPipe's BlazeFace detects, with an expression.

The drawing is plain OpenCV (anti-aliased ellipses and polygons at 1/8-pixel precision), so it is fast,
deterministic and needs no model or asset. It has what a face detector keys on: a skin-coloured oval with
hair, two eyes with white sclera and dark irises, brows, a shaded nose and a mouth, above a neck and
shoulders. Tested with `emorecog.preprocessing.face_detector.FaceDetector` (tests/test_synthetic.py).
"""

import dataclasses
import math

import cv2
import numpy as np

# BGR skin tones from light to dark.
SKIN_TONES = ((196, 214, 244), (160, 188, 230), (128, 165, 214), (100, 138, 186), (76, 108, 156), (58, 84, 124))
HAIR_COLOURS = ((30, 30, 35), (40, 55, 80), (60, 90, 140), (120, 170, 210), (150, 150, 155), (25, 40, 60))
HAIR_STYLES = ("short", "long", "none")
_SUBPIXEL_BITS = 3
_SUBPIXEL = 1 << _SUBPIXEL_BITS
_MOUTH_X = np.linspace(-0.18, 0.18, 15)


def _scaled(colour, factor):
    return tuple(int(max(0, min(255, round(channel * factor)))) for channel in colour)


@dataclasses.dataclass(frozen=True)
class SyntheticFace:
    """One synthetic person's appearance, and how to draw them in a given pose with a given expression.

    Args:
        skin: BGR skin colour.
        hair: BGR hair colour.
        hair_style: "short", "long" or "none".
        eye_colour: BGR iris colour.
        shirt: BGR colour of the shoulders.
        background: BGR colour of the wall behind.
        face_width: face width as a fraction of the frame height (0.3-0.45 keeps it big in frame).
        glasses: draw glasses.

    Example:
        >>> face = SyntheticFace.random(np.random.default_rng(0))
        >>> frame = face.draw(120, 160, center=(80, 55), mouth_curve=0.8, eye_open=1.0)   # uint8 [120, 160, 3]
    """

    skin: tuple
    hair: tuple
    hair_style: str
    eye_colour: tuple
    shirt: tuple
    background: tuple
    face_width: float
    glasses: bool

    @classmethod
    def random(cls, rng):
        """A random appearance drawn from `rng` (a numpy Generator)."""
        skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
        hair = HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))]
        return cls(
            skin=skin,
            hair=hair,
            hair_style=HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=(0.5, 0.35, 0.15)))],
            eye_colour=tuple(int(v) for v in rng.integers(20, 110, size=3)),
            shirt=tuple(int(v) for v in rng.integers(30, 200, size=3)),
            background=tuple(int(v) for v in rng.integers(150, 235, size=3)),
            face_width=float(rng.uniform(0.30, 0.42)),
            glasses=bool(rng.random() < 0.25),
        )

    def to_dict(self):
        return dataclasses.asdict(self)

    def draw(
        self,
        height,
        width,
        center,
        scale=1.0,
        roll_deg=0.0,
        yaw=0.0,
        mouth_curve=0.0,
        eye_open=1.0,
        brow_raise=0.0,
        turned_away=False,
    ):
        """Draw the person on their background.

        Args:
            height, width: frame size in pixels.
            center: (x, y) of the face centre in pixels (may lie outside the frame).
            scale: multiplies the face size (head moving to/from the camera).
            roll_deg: head tilt in degrees (positive: clockwise on screen).
            yaw: head turn in [-1, 1]: features shift sideways (the head itself stays an oval).
            mouth_curve: -1 (frown) .. 0 (neutral) .. 1 (smile).
            eye_open: 0 (closed) .. 1 (neutral) .. 1.6 (wide open).
            brow_raise: -1 (lowered) .. 1 (raised).
            turned_away: draw the back of the head (no face).

        Returns:
            uint8 [height, width, 3] BGR frame.
        """
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = self.background
        face_w = self.face_width * height * scale
        face_h = face_w * 1.3
        cx, cy = float(center[0]), float(center[1])
        angle = math.radians(roll_deg)
        cos_a, sin_a = math.cos(angle), math.sin(angle)

        def point(dx, dy):
            """Face-relative offset (fractions of the face width/height) -> fixed-point pixel position."""
            x, y = dx * face_w, dy * face_h
            return (
                int(round((cx + x * cos_a - y * sin_a) * _SUBPIXEL)),
                int(round((cy + x * sin_a + y * cos_a) * _SUBPIXEL)),
            )

        def axes(ax, ay):
            return (max(1, int(round(ax * face_w * _SUBPIXEL))), max(1, int(round(ay * face_h * _SUBPIXEL))))

        def ellipse(dx, dy, ax, ay, colour, thickness=-1, start=0, end=360, extra_deg=0.0):
            cv2.ellipse(
                frame,
                point(dx, dy),
                axes(ax, ay),
                roll_deg + extra_deg,
                start,
                end,
                colour,
                thickness,
                cv2.LINE_AA,
                _SUBPIXEL_BITS,
            )

        def line_width(fraction):
            return max(1, int(round(fraction * face_w)))

        # shoulders and neck (they stay upright: only the head tilts)
        shoulders = (int(round(cx * _SUBPIXEL)), int(round((cy + face_h * 1.05) * _SUBPIXEL)))
        cv2.ellipse(
            frame,
            shoulders,
            (int(face_w * 1.15 * _SUBPIXEL), int(face_h * 0.5 * _SUBPIXEL)),
            0,
            180,
            360,
            self.shirt,
            -1,
            cv2.LINE_AA,
            _SUBPIXEL_BITS,
        )
        neck = np.array(
            [
                [cx - face_w * 0.2, cy + face_h * 0.3],
                [cx + face_w * 0.2, cy + face_h * 0.3],
                [cx + face_w * 0.2, cy + face_h * 0.8],
                [cx - face_w * 0.2, cy + face_h * 0.8],
            ]
        )
        cv2.fillPoly(
            frame, [np.round(neck * _SUBPIXEL).astype(np.int32)], _scaled(self.skin, 0.85), cv2.LINE_AA, _SUBPIXEL_BITS
        )

        if turned_away:  # the back of the head, hair down to the collar (ears or a bare neck look face-like)
            ellipse(0, 0.0, 0.55 if self.hair_style == "long" else 0.52, 0.56, self.hair)
            ellipse(0, 0.45, 0.34, 0.4, self.hair)
            return frame
        if self.hair_style == "long":
            ellipse(0, 0.08, 0.6, 0.58, self.hair)
        if self.hair_style != "none":
            ellipse(0, -0.08, 0.56, 0.56, self.hair)
        ellipse(0, 0, 0.5, 0.5, self.skin)
        for side in (-1, 1):  # ears
            ellipse(side * 0.49, 0.0, 0.06, 0.1, _scaled(self.skin, 0.9))
        if self.hair_style != "none":
            ellipse(0, -0.38, 0.5, 0.18, self.hair, start=180, end=360)

        feature_shift = 0.12 * min(1.0, max(-1.0, float(yaw)))
        eye_open = min(1.8, max(0.0, float(eye_open)))
        brow_raise = min(1.0, max(-1.0, float(brow_raise)))
        for side in (-1, 1):
            ex, ey = feature_shift + side * 0.2, -0.05
            brow_y = ey - 0.09 - 0.03 * brow_raise
            ellipse(ex, brow_y, 0.12, 0.03, _scaled(self.hair, 0.5), thickness=line_width(0.03), start=190, end=350)
            if eye_open < 0.15:  # closed: the lid line
                ellipse(ex, ey, 0.1, 0.01, _scaled(self.skin, 0.45), thickness=line_width(0.025), start=0, end=180)
            else:
                ellipse(ex, ey, 0.1, 0.045 * eye_open, (245, 245, 245))
                iris = min(0.05 * face_w, 0.045 * eye_open * face_h)
                iris_centre = point(ex, ey)
                cv2.circle(
                    frame,
                    iris_centre,
                    max(1, int(round(iris * _SUBPIXEL))),
                    self.eye_colour,
                    -1,
                    cv2.LINE_AA,
                    _SUBPIXEL_BITS,
                )
                cv2.circle(
                    frame,
                    iris_centre,
                    max(1, int(round(iris * 0.45 * _SUBPIXEL))),
                    (20, 20, 20),
                    -1,
                    cv2.LINE_AA,
                    _SUBPIXEL_BITS,
                )
            if self.glasses:
                ellipse(ex, ey, 0.15, 0.085, (30, 30, 30), thickness=line_width(0.02))
        if self.glasses:
            cv2.line(
                frame,
                point(feature_shift - 0.05, -0.05),
                point(feature_shift + 0.05, -0.05),
                (30, 30, 30),
                line_width(0.02),
                cv2.LINE_AA,
                _SUBPIXEL_BITS,
            )

        nose = np.array(
            [
                point(feature_shift * 1.3, -0.02),
                point(feature_shift * 1.3 - 0.07, 0.12),
                point(feature_shift * 1.3 + 0.07, 0.12),
            ],
            np.int32,
        )
        cv2.fillPoly(frame, [nose], _scaled(self.skin, 0.78), cv2.LINE_AA, _SUBPIXEL_BITS)

        curve = min(1.2, max(-1.2, float(mouth_curve)))
        xs = _MOUTH_X * face_w
        ys = (0.25 + curve * 0.08 * (1.0 - (_MOUTH_X / 0.18) ** 2) - curve * 0.03) * face_h  # y grows downwards
        xs = xs + feature_shift * face_w
        mouth = np.stack([cx + xs * cos_a - ys * sin_a, cy + xs * sin_a + ys * cos_a], axis=1)
        mouth = np.round(mouth * _SUBPIXEL).astype(np.int32)
        cv2.polylines(frame, [mouth], False, (60, 60, 150), line_width(0.04), cv2.LINE_AA, _SUBPIXEL_BITS)
        return frame
