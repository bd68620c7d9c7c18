"""What the Trainer needs besides the model's own `ModelConfig`."""

import dataclasses

from emorecog import features

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How to train: the optimiser and the loop (the model's hyper-parameters and seed live in `ModelConfig`).

    Args:
        learning_rate: Adam's step size zeta (paper eq. 18; the paper trains with Adam).
        gradient_clip_norm: norm each gradient tensor is clipped to (Keras `clipnorm`, applied per variable;
            not in the paper).
        batch_size: samples per optimiser step and replica (the paper's 12).
        target: which binary label to learn, "valence" or "arousal".
        epochs: total epochs; a resumed run continues up to this number.
        strategy: tf.distribute strategy: "default" (one device), "mirrored" (all local GPUs, or the CPU),
            "multiworker" (MultiWorkerMirroredStrategy from the TF_CONFIG environment variable).
        shuffle_buffer: tf.data shuffle buffer of the train split, in samples.
        eval_batch_size: batch size of the per-epoch eval pass (inference only).
        image_summary_samples: eval samples whose glimpsed EEG band images and face crops go to TensorBoard
            each epoch (0 disables).
        image_summary_glimpses: at most this many glimpses shown per sample.
    """

    learning_rate: float = 1e-3
    gradient_clip_norm: float = 5.0
    batch_size: int = 12
    target: str = "valence"
    epochs: int = 20
    strategy: str = "default"
    shuffle_buffer: int = 512
    eval_batch_size: int = 16
    image_summary_samples: int = 2
    image_summary_glimpses: int = 12

    CHOICES = {"target": features.TARGETS, "strategy": STRATEGIES}

    def __post_init__(self):
        features.label_key(self.target)  # validates the target name
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}: expected one of {STRATEGIES}")
        for name in ("epochs", "batch_size", "shuffle_buffer", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainingConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "gradient_clip_norm"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"TrainingConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("image_summary_samples", "image_summary_glimpses"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainingConfig.{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainingConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)
