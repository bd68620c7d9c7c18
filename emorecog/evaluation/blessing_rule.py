"""The rule that decides whether a trained model may be pushed to serving (TFX's "blessing")."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class BlessingRule:
    """A model is blessed when, on the EVAL split (never test), it beats the majority-class baseline.

    Both of these must hold (a constant predictor meets neither, whichever class it picks):

        f1_macro(model)          > f1_macro(majority baseline) + min_margin
        balanced_accuracy(model) > 0.5 + min_margin        (the baseline's balanced accuracy is 0.5)

    Args:
        split: the split the rule reads; "eval" by design, so test stays untouched by model choices.
        min_margin: how much better than the baseline the model must be (0 = strictly better).
        min_samples: refuse to bless on fewer evaluated samples than this.
    """

    split: str = "eval"
    min_margin: float = 0.0
    min_samples: int = 1

    def __post_init__(self):
        if self.split == "test":
            raise ValueError("the blessing must not be decided on the test split (it would leak into model choice)")
        if self.min_margin < 0:
            raise ValueError(f"min_margin must be >= 0, got {self.min_margin}")

    def decide(self, metrics):
        """Apply the rule to a metrics dict of `emorecog.evaluation.metrics.evaluation_report`.

        Returns:
            A JSON-ready dict: blessed (bool), reasons (list of str), the rule's parameters and the
            figures it compared.
        """
        baseline = metrics["majority_baseline"]
        checks = []
        if metrics["num_samples"] < self.min_samples:
            checks.append((False, f"only {metrics['num_samples']} samples < min_samples {self.min_samples}"))
        else:
            f1_needed = baseline["f1_macro"] + self.min_margin
            checks.append(
                (
                    metrics["f1_macro"] > f1_needed,
                    f"macro F1 {metrics['f1_macro']:.4f} vs majority baseline {baseline['f1_macro']:.4f}"
                    f" + margin {self.min_margin}",
                )
            )
            balanced_needed = 0.5 + self.min_margin
            checks.append(
                (
                    metrics["balanced_accuracy"] > balanced_needed,
                    f"balanced accuracy {metrics['balanced_accuracy']:.4f} vs 0.5 + margin {self.min_margin}",
                )
            )
        return {
            "blessed": all(passed for passed, _ in checks),
            "reasons": [("pass: " if passed else "FAIL: ") + text for passed, text in checks],
            "rule": dataclasses.asdict(self),
            "model": {key: metrics[key] for key in ("num_samples", "accuracy", "f1_macro", "balanced_accuracy")},
            "majority_baseline": {
                key: baseline[key] for key in ("class_id", "accuracy", "f1_macro", "balanced_accuracy")
            },
        }
