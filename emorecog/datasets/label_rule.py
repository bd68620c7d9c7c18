"""`LabelRule`: how a 1..9 rating becomes a binary high/low label."""

import dataclasses
import math

from emorecog.features import RATING_NAMES, TARGETS


@dataclasses.dataclass(frozen=True)
class LabelRule:
    """Binary high/low labels from DEAP's continuous 1..9 ratings.

    The default is **high (1) if rating > 5.0, else low (0)**: 5 is the middle of the scale, and a rating
    of exactly 5 ("neither") counts as low. Papers differ (> 5, >= 5, 4.5, the subject's median), so the
    threshold and whether it counts as high are configurable.

    Args:
        threshold: the rating that separates low from high.
        inclusive: if True, a rating equal to the threshold is high (rating >= threshold).

    Example:
        >>> LabelRule().label(5.0), LabelRule(inclusive=True).label(5.0)
        (0, 1)
    """

    threshold: float = 5.0
    inclusive: bool = False

    def __post_init__(self):
        if not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            raise ValueError(f"LabelRule.threshold must be a finite number, got {self.threshold!r}")
        if not isinstance(self.inclusive, bool):
            raise ValueError(f"LabelRule.inclusive must be a bool, got {self.inclusive!r}")

    def label(self, rating):
        """1 (high) or 0 (low) for one rating."""
        rating = float(rating)
        return int(rating >= self.threshold if self.inclusive else rating > self.threshold)

    def labels(self, ratings):
        """Binary labels of the targets (valence, arousal), from ratings in `RATING_NAMES` order."""
        return tuple(self.label(ratings[RATING_NAMES.index(target)]) for target in TARGETS)

    def describe(self):
        """'high if rating > 5.0' (for reports and the README)."""
        return f"high if rating {'>=' if self.inclusive else '>'} {self.threshold:g}"
