"""`ModelConfig`: every hyper-parameter of the model, with the paper's values.

The optimiser's settings, the batch size and the epochs are in `TrainingConfig`.
"""

import dataclasses

VARIANTS = ("glimpse", "full_sequence", "skim_only")
ABLATIONS = (
    "full",
    "no_layer_attention",
    "no_penalty",
    "full_sequence",
    "eeg_only",
    "face_only",
    "no_skim",
    "skim_only",
    "uniform_frames",
    "paper_policy",
)
LOCATION_POLICIES = ("segments", "gaussian", "uniform")
POLICY_CONTEXTS = ("skim", "none")
STOP_RULES = ("learned", "last_frame")

# What each ablation changes relative to the full model: the paper's (Wu et al. 2020, section V: Table 3-5,
# Fig. 6-7), then ours (what the skim, the search and the policy add).
_ABLATION_SETTINGS = {
    "full": {},
    "no_layer_attention": {"use_layer_attention": False},
    "no_penalty": {"penalty_weight": 0.0},
    "full_sequence": {"variant": "full_sequence"},
    "eeg_only": {"use_face": False},
    "face_only": {"use_eeg": False},
    "no_skim": {"policy_context": "none"},
    "skim_only": {"variant": "skim_only"},
    "uniform_frames": {"location_policy": "uniform"},
    "paper_policy": {
        "location_policy": "gaussian",
        "policy_context": "none",
        "stop_rule": "last_frame",
        "confidence_reward_weight": 0.0,
        "reward_discount": 1.0,
        "policy_samples": 1,
        "entropy_weight": 0.0,
    },
}


def ablation_settings(name):
    """The fields ablation `name` fixes, as a dict (a copy)."""
    if name not in _ABLATION_SETTINGS:
        raise ValueError(f"unknown ablation {name!r}: expected one of {ABLATIONS}")
    return dict(_ABLATION_SETTINGS[name])


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the recurrent-attention emotion model (frozen; JSON round trip).

    Paper values (Wu, Zhang, Zhao 2020, section V.B): batch 12, dropout 0.6, N_max 40, L 3, lambda 1 (Adam:
    `emorecog.training.training_config.TrainingConfig`). This class is the one place these defaults live: the
    model constructors have none, and `models.builder` passes every field they take. The paper gives no values for
    the rest; ours are chosen for a 2-core CPU and for the
    temporal attention to learn on trials whose emotional moment sits anywhere (see
    `benchmarks/bench_model.py` and `tests/test_model_learning.py`).

    Deviations from the paper, each with its reason (the `paper_policy` ablation restores the paper's
    location policy, stop rule and reward):
        - A skim (`policy_context="skim"`, after AdaFrame / OCSampler): every frame is read once by a cheap
          encoder so that the first glimpse can already go where something happens. The paper's policy
          starts from a zero state, so its first location is the same for every trial, and nothing before
          the first glimpse tells it where to look. The classifier never reads the skim.
        - A mixture over trial segments (`location_policy="segments"`) instead of one Gaussian whose mean
          comes from a linear head: the Gaussian learns to stare at one frame and explores only a few frames
          around it; the mixture chooses among the whole trial and masks segments already glimpsed.
        - A learned Bernoulli stop action (`stop_rule="learned"`, Yeung et al. 2016) instead of stopping when
          a sampled location maps to the last frame, which happens with probability ~1e-11 per draw, so the
          sparsity reward never produced a gradient.
        - The reward is judged on the deterministic prediction (no dropout), spread over the actions with a
          discount, plus confidence shaping (`confidence_reward_weight`, `reward_discount`): each glimpse is
          credited with how much it raised the classifier's log-probability of the right class. With dropout
          0.6 on the classifier, the sampled prediction made the reward mostly noise; with one binary
          outcome per episode, credit for the one useful glimpse was shared by all of them.
        - `policy_samples` episodes per trial per batch and an entropy bonus: DEAP gives ~100-1000 training
          trials, so the policy needs more than one sampled path per trial and step to learn before the
          classifier memorises the training set.
        - The penalty's lambda is ramped in over `penalty_warmup_steps`: from the first step, the penalty made
          the inter-layer attention one-hot before any layer carried information, and on small training sets
          the 3-layer model then stayed at chance for many epochs (the synthetic demo: 2 of 4 runs did not
          learn in 20 epochs; without the penalty, or with L = 1, learning started by epoch 3-4).
        - A per-glimpse classification loss (`step_classification_weight`), the classifier reading [H'; C'],
          2x2 pooling of the band images and a conv stem for faces (see the
          layers' docstrings).

    Args:
        variant: "glimpse" (temporal attention, `GlimpseModel`), "full_sequence" (every frame in order,
            `FullSequenceModel`, the paper's "without temporal attention" baseline) or "skim_only" (the
            classifier on the skim alone, `SkimOnlyModel`).
        ablation: the name this config was made for (one of ABLATIONS; informational).
        use_eeg, use_face: which streams the model reads (EEG-only / face-only fusion baselines).
        use_layer_attention: inter-layer self-attention (eq. 3-7); off -> the top core layer's state.
        core_layers: L, stacked LSTM layers of the core (the paper tries 1-5; 3 is best).
        max_glimpses: N_max, glimpses per sample at most.
        location_policy: "segments" (a TFP mixture of Normals over `policy_segments` parts of the trial),
            "gaussian" (the paper's Normal(tanh(W H' + b), location_std)) or "uniform" (no policy:
            `max_glimpses` evenly spaced frames; the uniform-K ablation).
        policy_context: "skim" (segments scored from the skim) or "none" (from learned position embeddings
            and the state only: the skim-free ablation).
        stop_rule: "learned" (a Bernoulli stop action after every glimpse) or "last_frame" (the paper's).
        policy_segments: K, segments of the trial the location policy chooses among.
        segment_location_std: sigma of each segment's Normal, as a fraction of the segment's width.
        location_std: sigma of the "gaussian" policy (location units; the sample spans [-1, 1]).
        initial_stop_probability: probability that the untrained stop policy stops after a glimpse.
        skim_size: width of the skim's features.
        skim_grid_size: side of the grid of scalp regions the skim averages the band images over.
        skim_kernel_size: width of the skim's temporal convolution, in frames.
        policy_samples: episodes (sampled glimpse paths) per trial per training batch.
        entropy_weight: beta, bonus on the entropy of the segment choice (exploration).
        penalty_weight: lambda of eq. 10 (the loss is CE - lambda * P).
        penalty_warmup_steps: lambda rises linearly from 0 to `penalty_weight` over this many optimiser steps
            (0 = the paper's constant lambda).
        step_classification_weight: weight of a deep-supervision term: the classifier also reads the attended
            state after every glimpse and its mean cross-entropy over the glimpses taken is added (0 = the
            paper's loss, which classifies only the final state).
        dropout: rate on the classifier's input (training only).
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
        attention_size: d_a of the inter-layer self-attention and of the segment scoring.
        encoder_chunk_frames: frames the full-sequence model encodes per vectorised chunk (memory, not results).
        reward_scale: lambda_r of eq. 17 (> 0).
        reward_correct: lambda_tp of eq. 16 (> 0).
        reward_wrong: lambda_fp of eq. 16 (< 0; the paper punishes errors hard).
        sparsity_weight: lambda_sparse of eq. 17 (<= 0), reward per glimpse taken.
        confidence_reward_weight: lambda_c, weight of the confidence shaping (>= 0; 0 = the paper's reward).
        reward_discount: gamma of the reward-to-go, in (0, 1] (1 = the paper's undiscounted reward).
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
    location_policy: str = "segments"
    policy_context: str = "skim"
    stop_rule: str = "learned"
    policy_segments: int = 16
    segment_location_std: float = 0.25
    location_std: float = 0.15
    initial_stop_probability: float = 0.1
    skim_size: int = 32
    skim_grid_size: int = 4
    skim_kernel_size: int = 5
    policy_samples: int = 4
    entropy_weight: float = 0.01
    penalty_weight: float = 1.0
    penalty_warmup_steps: int = 200
    step_classification_weight: float = 1.0
    dropout: float = 0.6
    hidden_size: int = 64
    glimpse_hidden_size: int = 32
    feature_size: int = 64
    band_feature_size: int = 64
    band_pool_size: int = 2
    face_filters: tuple = (16, 32)
    face_patch_size: int = 4
    location_embedding_size: int = 16
    attention_size: int = 32
    encoder_chunk_frames: int = 32
    reward_scale: float = 1.0
    reward_correct: float = 1.0
    reward_wrong: float = -1.0
    sparsity_weight: float = -0.01
    confidence_reward_weight: float = 1.0
    reward_discount: float = 0.9
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
        for name, value, allowed in (
            ("location_policy", self.location_policy, LOCATION_POLICIES),
            ("policy_context", self.policy_context, POLICY_CONTEXTS),
            ("stop_rule", self.stop_rule, STOP_RULES),
        ):
            if value not in allowed:
                problems.append(f"{name} {value!r} is not one of {allowed}")
        for name in (
            "core_layers",
            "max_glimpses",
            "hidden_size",
            "glimpse_hidden_size",
            "feature_size",
            "band_feature_size",
            "location_embedding_size",
            "attention_size",
            "face_patch_size",
            "band_pool_size",
            "policy_segments",
            "skim_size",
            "skim_grid_size",
            "skim_kernel_size",
            "policy_samples",
            "encoder_chunk_frames",
        ):
            if int(getattr(self, name)) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.step_classification_weight < 0.0:
            problems.append(f"step_classification_weight must be >= 0, got {self.step_classification_weight}")
        if self.penalty_warmup_steps < 0:
            problems.append(f"penalty_warmup_steps must be >= 0, got {self.penalty_warmup_steps}")
        if self.penalty_weight < 0.0:
            problems.append(f"penalty_weight (lambda) must be >= 0, got {self.penalty_weight}")
        for name in ("location_std", "segment_location_std"):
            if not getattr(self, name) > 0.0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.initial_stop_probability < 1.0:
            problems.append(f"initial_stop_probability must be in (0, 1), got {self.initial_stop_probability}")
        if not 0.0 < self.reward_discount <= 1.0:
            problems.append(f"reward_discount (gamma) must be in (0, 1], got {self.reward_discount}")
        for name in ("entropy_weight", "confidence_reward_weight"):
            if getattr(self, name) < 0.0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.reward_scale > 0.0:
            problems.append(f"reward_scale (lambda_r) must be > 0, got {self.reward_scale}")
        if not self.reward_correct > self.reward_wrong:
            problems.append(
                f"reward_correct (lambda_tp={self.reward_correct}) must exceed reward_wrong "
                f"(lambda_fp={self.reward_wrong})"
            )
        if self.sparsity_weight > 0.0:
            problems.append(f"sparsity_weight (lambda_sparse) must be <= 0, got {self.sparsity_weight}")
        if not self.face_filters:
            problems.append("face_filters must list at least one conv")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @classmethod
    def for_ablation(cls, name, **overrides):
        """The config of one of the paper's experiments.

        Args:
            name: one of ABLATIONS. The paper's: "full", "no_layer_attention", "no_penalty", "full_sequence"
                (no temporal attention: the stacked LSTM reads every frame), "eeg_only", "face_only"; the
                LSTM-depth experiment is `for_ablation("full", core_layers=k)` for k in 1..5. Ours: "no_skim"
                (the segment policy without the skim), "skim_only" (the classifier on the skim alone),
                "uniform_frames" (max_glimpses evenly spaced frames, no policy), "paper_policy" (the paper's
                Gaussian location, last-frame stop and undiscounted reward, one episode per trial).
            **overrides: any other field.

        Raises:
            ValueError: unknown name, or an override that contradicts what the ablation sets.
        """
        settings = ablation_settings(name)
        clashes = sorted(key for key in overrides if key in settings and overrides[key] != settings[key])
        if clashes or "ablation" in overrides:
            raise ValueError(f"ablation {name!r} fixes {sorted(settings) + ['ablation']}; overrides {clashes} clash")
        return cls(**{**overrides, **settings, "ablation": name})

    def to_dict(self):
        """A JSON-ready dict (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values):
        """The config a `to_dict` result (e.g. read back from a run directory's JSON) describes."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; known fields: {sorted(known)}")
        return cls(**values)
