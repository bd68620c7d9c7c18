"""`ModelConfig`: every hyper-parameter of the model and of its optimisation, with the paper's values."""

import dataclasses

VARIANTS = ("glimpse", "full_sequence")
ABLATIONS = ("full", "no_layer_attention", "no_penalty", "full_sequence", "eeg_only", "face_only")

# What each ablation changes relative to the full model (Wu et al. 2020, section V: Table 3-5, Fig. 6-7).
_ABLATION_SETTINGS = {
    "full": {},
    "no_layer_attention": {"use_layer_attention": False},
    "no_penalty": {"penalty_weight": 0.0},
    "full_sequence": {"variant": "full_sequence"},
    "eeg_only": {"use_face": False},
    "face_only": {"use_eeg": False},
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the recurrent-attention emotion model (frozen; JSON round trip).

    Paper values (Wu, Zhang, Zhao 2020, section V.B): Adam, batch 12, dropout 0.6, N_max 40, L 3,
    lambda 1. The paper gives no values for the rest; ours are chosen for a 2-core CPU and for the
    temporal attention to learn (see `tests/test_model_learning.py`):

    Args:
        variant: "glimpse" (temporal attention, `EmoRecogModel`) or "full_sequence" (every frame in order,
            `FullSequenceModel`, the paper's "without temporal attention" baseline).
        ablation: the name this config was made for (one of ABLATIONS; informational).
        use_eeg, use_face: which streams the model reads (EEG-only / face-only fusion baselines).
        use_layer_attention: inter-layer self-attention (eq. 3-7); off -> the top core layer's state.
        core_layers: L, stacked LSTM layers of the core (the paper tries 1-5; 3 is best).
        max_glimpses: N_max, glimpses per sample at most.
        penalty_weight: lambda of eq. 10 (the loss is CE - lambda * P).
        step_classification_weight: weight of a deep-supervision term: the classifier also reads the attended
            state after every glimpse and its mean cross-entropy over the glimpses taken is added (0 = the
            paper's loss, which classifies only the final state; our default 1 makes the policy and the
            classifier learn together reliably: on the planted-window task 3 of 3 seeds learn within 3 epochs
            with it, 2 of 3 without).
        dropout: rate on the classifier's input (training only).
        batch_size: samples per optimiser step (used by the Trainer).
        learning_rate: Adam's step size zeta (eq. 18).
        gradient_clip_norm: global norm the gradients are clipped to.
        hidden_size: r, the core LSTM state size.
        glimpse_hidden_size: state size of the shared first-layer LSTM, per stream.
        feature_size: size of x_e and x_v.
        band_feature_size: size of each per-band EEG feature e_i.
        band_pool_size: average pooling of the band images before the per-band FC (the image size must be
            a multiple of it).
        face_filters: filters of the face encoder's convs (the first embeds face_patch_size patches, the
            others are 3x3 stride 2).
        face_patch_size: patch side of the face encoder's first conv.
        location_embedding_size: size of the glimpse's location embedding.
        attention_size: d_a of the inter-layer self-attention.
        location_std: sigma of the Gaussian location policy (location units; the sample spans [-1, 1]).
        reward_scale: lambda_r of eq. 17 (> 0).
        reward_correct: lambda_tp of eq. 16 (> 0).
        reward_wrong: lambda_fp of eq. 16 (< 0; the paper punishes errors hard).
        sparsity_weight: lambda_sparse of eq. 17 (<= 0), reward per glimpse taken.
        baseline_hidden_size: hidden layer of the REINFORCE baseline (0 = linear).
        seed: initial weights, dropout and policy sampling.
    """

    variant: str = "glimpse"
    ablation: str = "full"
    use_eeg: bool = True
    use_face: bool = True
    use_layer_attention: bool = True
    core_layers: int = 3
    max_glimpses: int = 40
    penalty_weight: float = 1.0
    step_classification_weight: float = 1.0
    dropout: float = 0.6
    batch_size: int = 12
    learning_rate: float = 1e-3
    gradient_clip_norm: float = 5.0
    hidden_size: int = 64
    glimpse_hidden_size: int = 32
    feature_size: int = 64
    band_feature_size: int = 64
    band_pool_size: int = 2
    face_filters: tuple = (16, 32)
    face_patch_size: int = 4
    location_embedding_size: int = 16
    attention_size: int = 32
    location_std: float = 0.15
    reward_scale: float = 1.0
    reward_correct: float = 1.0
    reward_wrong: float = -1.0
    sparsity_weight: float = -0.01
    baseline_hidden_size: int = 0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "face_filters", tuple(int(value) for value in self.face_filters))
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant {self.variant!r} is not one of {VARIANTS}")
        if self.ablation not in ABLATIONS:
            problems.append(f"ablation {self.ablation!r} is not one of {ABLATIONS}")
        if not (self.use_eeg or self.use_face):
            problems.append("use_eeg and use_face are both False: the model would read nothing")
        for name in ("core_layers", "max_glimpses", "batch_size", "hidden_size", "glimpse_hidden_size",
                     "feature_size", "band_feature_size", "location_embedding_size", "attention_size",
                     "face_patch_size", "band_pool_size"):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.step_classification_weight < 0.0:
            problems.append(f"step_classification_weight must be >= 0, got {self.step_classification_weight}")
        if self.penalty_weight < 0.0:
            problems.append(f"penalty_weight (lambda) must be >= 0, got {self.penalty_weight}")
        if not self.location_std > 0.0:
            problems.append(f"location_std must be > 0, got {self.location_std}")
        if not self.reward_scale > 0.0:
            problems.append(f"reward_scale (lambda_r) must be > 0, got {self.reward_scale}")
        if not self.reward_correct > self.reward_wrong:
            problems.append(
                f"reward_correct (lambda_tp={self.reward_correct}) must exceed reward_wrong "
                f"(lambda_fp={self.reward_wrong})")
        if self.sparsity_weight > 0.0:
            problems.append(f"sparsity_weight (lambda_sparse) must be <= 0, got {self.sparsity_weight}")
        if not self.learning_rate > 0.0 or not self.gradient_clip_norm > 0.0:
            problems.append("learning_rate and gradient_clip_norm must be > 0")
        if not self.face_filters:
            problems.append("face_filters must list at least one conv")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @classmethod
    def for_ablation(cls, name, **overrides):
        """The config of one of the paper's experiments.

        Args:
            name: one of ABLATIONS: "full", "no_layer_attention", "no_penalty", "full_sequence" (no temporal
                attention: the stacked LSTM reads every frame), "eeg_only", "face_only". The LSTM-depth
                experiment is `for_ablation("full", core_layers=k)` for k in 1..5.
            **overrides: any other field.

        Raises:
            ValueError: unknown name, or an override that contradicts what the ablation sets.
        """
        if name not in _ABLATION_SETTINGS:
            raise ValueError(f"unknown ablation {name!r}: expected one of {ABLATIONS}")
        settings = _ABLATION_SETTINGS[name]
        clashes = sorted(key for key in overrides if key in settings and overrides[key] != settings[key])
        if clashes or "ablation" in overrides:
            raise ValueError(f"ablation {name!r} fixes {sorted(settings) + ['ablation']}; overrides {clashes} clash")
        return cls(**{**overrides, **settings, "ablation": name})

    def to_dict(self):
        """A JSON-ready dict (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values):
        """The config a `to_dict` result (e.g. read back from a run directory's JSON) describes."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; known fields: {sorted(known)}")
        return cls(**values)
