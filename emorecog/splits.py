"""Train / eval / test splits that never cut a trial, and cross-validation folds.

DEAP labels are per trial, so a split that puts frames (or windows) of one trial on both sides measures how
well a model recognises a trial, not an emotion. Every function here assigns whole (subject, trial) keys:

- `trial_splits`: trial-disjoint **within each subject** with the paper's 5:1:1 ratio (train:eval:test),
  stratified by label, so each subject contributes to all three splits (the paper's protocol).
- `subject_splits`: subject-disjoint, subjects divided 5:1:1 (a model is tested on people it never saw).
- `fold_splits`: fold K of leave-one-subject-out or N-fold cross-validation: test = fold K, eval = fold K+1
  (cyclically), train = every other fold; folds are made of subjects (`mode="subject"`) or of each subject's
  trials (`mode="trial"`). `cross_validation_folds` lists the folds for `emorecog cv`.

Everything is deterministic given `seed` and independent of the order the keys come in.
Keys are `(subject, trial)` pairs, e.g. `("s01", 17)`; strata (usually the binary labels) are any hashable.
"""

import dataclasses
import random

SPLIT_NAMES = ("train", "eval", "test")
SPLIT_MODES = ("trial", "subject")
PAPER_RATIOS = (5, 1, 1)
LEAVE_ONE_SUBJECT_OUT = "loso"


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How keys are assigned to train / eval / test.

    Args:
        mode: "trial" (trial-disjoint within subject) or "subject" (subject-disjoint).
        ratios: relative sizes of train, eval, test (the paper's 5:1:1 by default). Unused with folds.
        seed: seed of the shuffles; the same seed and keys give the same splits.
        fold: with `folds`, the index (0-based) of the fold used as test.
        folds: None (plain split), "loso" (one fold per subject; needs mode="subject") or an int >= 3.
    """

    mode: str = "trial"
    ratios: tuple = PAPER_RATIOS
    seed: int = 0
    fold: int | None = None
    folds: str | int | None = None

    def __post_init__(self):
        if self.mode not in SPLIT_MODES:
            raise ValueError(f"split mode {self.mode!r} is not one of {SPLIT_MODES}")
        object.__setattr__(self, "ratios", tuple(self.ratios))
        if len(self.ratios) != len(SPLIT_NAMES) or any(r < 0 for r in self.ratios) or sum(self.ratios) <= 0:
            raise ValueError(f"split ratios must be 3 non-negative numbers (train, eval, test), got {self.ratios}")
        if (self.fold is None) != (self.folds is None):
            raise ValueError("give both `fold` and `folds` (cross-validation) or neither")
        if self.folds is not None:
            if isinstance(self.folds, str):
                if self.folds != LEAVE_ONE_SUBJECT_OUT:
                    raise ValueError(f"folds must be {LEAVE_ONE_SUBJECT_OUT!r} or an int >= 3, got {self.folds!r}")
                if self.mode != "subject":
                    raise ValueError("leave-one-subject-out folds need mode='subject'")
            elif not isinstance(self.folds, int) or self.folds < 3:
                raise ValueError(f"folds must be {LEAVE_ONE_SUBJECT_OUT!r} or an int >= 3, got {self.folds!r}")
            if not isinstance(self.fold, int) or self.fold < 0:
                raise ValueError(f"fold must be a non-negative int, got {self.fold!r}")

    def to_dict(self):
        return {**dataclasses.asdict(self), "ratios": list(self.ratios)}


def assign_splits(keys, config, strata=None):
    """Assign every key to a split as `config` says.

    Args:
        keys: iterable of (subject, trial) pairs, no duplicates.
        config: a `SplitConfig`.
        strata: optional dict key -> stratum (e.g. the (valence, arousal) labels) to stratify trial splits.

    Returns:
        dict (subject, trial) -> one of `SPLIT_NAMES`.
    """
    if config.folds is not None:
        return fold_splits(keys, config.fold, config.folds, mode=config.mode, strata=strata, seed=config.seed)
    if config.mode == "subject":
        return subject_splits(keys, ratios=config.ratios, seed=config.seed)
    return trial_splits(keys, strata=strata, ratios=config.ratios, seed=config.seed)


def trial_splits(keys, strata=None, ratios=PAPER_RATIOS, seed=0):
    """Trial-disjoint splits within each subject, stratified by `strata`.

    Each subject's trials are divided train:eval:test in `ratios` (largest-remainder rounding; which split
    gets a rounding remainder rotates from subject to subject, so small subjects still fill every split
    overall).
    Inside a subject, trials are ordered by stratum (shuffled within) and dealt out in an evenly spread
    pattern, so each stratum is divided in the same proportions as far as the counts allow.

    Args:
        keys: iterable of (subject, trial) pairs.
        strata: optional dict key -> hashable stratum; missing means one stratum.
        ratios: (train, eval, test) relative sizes.
        seed: shuffle seed.

    Returns:
        dict key -> split name.
    """
    keys = _unique_sorted(keys)
    strata = strata or {}
    assignment = {}
    rotation = _rng(seed, "trial-rotation").randrange(len(SPLIT_NAMES))
    for index, (subject, subject_keys) in enumerate(_by_subject(keys).items()):
        rng = _rng(seed, "trial", subject)
        counts = _split_counts(len(subject_keys), ratios, tie_rotation=index + rotation)
        ordered = _stratified_order(subject_keys, strata, rng)
        for key, split in zip(ordered, _spread_pattern(counts)):
            assignment[key] = split
    return assignment


def subject_splits(keys, ratios=PAPER_RATIOS, seed=0):
    """Subject-disjoint splits: subjects (shuffled by `seed`) divided train:eval:test in `ratios`.

    Raises:
        ValueError: with fewer subjects than splits of non-zero ratio.
    """
    keys = _unique_sorted(keys)
    subjects = sorted({subject for subject, _ in keys})
    needed = sum(1 for ratio in ratios if ratio > 0)
    if len(subjects) < needed:
        raise ValueError(
            f"subject-disjoint splits need at least {needed} subjects, the data has {len(subjects)} "
            f"({', '.join(map(str, subjects))}); use trial splits instead")
    rng = _rng(seed, "subject")
    rng.shuffle(subjects)
    counts = _split_counts(len(subjects), ratios, tie_rotation=rng.randrange(len(SPLIT_NAMES)), at_least_one=True)
    subject_split = {}
    position = 0
    for split, count in zip(SPLIT_NAMES, counts):
        for subject in subjects[position:position + count]:
            subject_split[subject] = split
        position += count
    return {key: subject_split[key[0]] for key in keys}


def cross_validation_folds(keys, folds, mode="subject", strata=None, seed=0):
    """The folds of a cross-validation, as lists of keys.

    Args:
        keys: iterable of (subject, trial) pairs.
        folds: "loso" (one fold per subject) or the number of folds (int >= 3).
        mode: "subject" (folds are sets of whole subjects) or "trial" (each subject's trials are divided
            into `folds` stratified parts and fold k gathers part k of every subject).
        strata: optional dict key -> stratum (trial mode).
        seed: shuffle seed.

    Returns:
        A list of lists of keys, one per fold; together they partition `keys`.
    """
    keys = _unique_sorted(keys)
    subjects = sorted({subject for subject, _ in keys})
    if folds == LEAVE_ONE_SUBJECT_OUT:
        if mode != "subject":
            raise ValueError("leave-one-subject-out folds need mode='subject'")
        if len(subjects) < 3:
            raise ValueError(f"leave-one-subject-out needs at least 3 subjects, the data has {len(subjects)}")
        return [[key for key in keys if key[0] == subject] for subject in subjects]
    if not isinstance(folds, int) or folds < 3:
        raise ValueError(f"folds must be {LEAVE_ONE_SUBJECT_OUT!r} or an int >= 3, got {folds!r}")
    if mode == "subject":
        if len(subjects) < folds:
            raise ValueError(f"{folds} subject folds need at least {folds} subjects, the data has {len(subjects)}")
        rng = _rng(seed, "subject-folds")
        rng.shuffle(subjects)
        fold_of_subject = {subject: index % folds for index, subject in enumerate(subjects)}
        return [[key for key in keys if fold_of_subject[key[0]] == fold] for fold in range(folds)]
    if mode != "trial":
        raise ValueError(f"split mode {mode!r} is not one of {SPLIT_MODES}")
    strata = strata or {}
    result = [[] for _ in range(folds)]
    for subject, subject_keys in _by_subject(keys).items():
        rng = _rng(seed, "trial-folds", subject)
        ordered = _stratified_order(subject_keys, strata, rng)
        offset = rng.randrange(folds)  # so small subjects do not all fill fold 0 first
        for index, key in enumerate(ordered):
            result[(index + offset) % folds].append(key)
    return [sorted(fold) for fold in result]


def fold_splits(keys, fold, folds, mode="subject", strata=None, seed=0):
    """Fold `fold` of a cross-validation as train / eval / test.

    test = fold `fold`, eval = fold `fold + 1` (cyclically, for model selection), train = the rest.

    Returns:
        dict key -> split name.
    """
    all_folds = cross_validation_folds(keys, folds, mode=mode, strata=strata, seed=seed)
    if not 0 <= fold < len(all_folds):
        raise ValueError(f"fold {fold} is out of range: there are {len(all_folds)} folds (0..{len(all_folds) - 1})")
    eval_fold = (fold + 1) % len(all_folds)
    assignment = {}
    for index, fold_keys in enumerate(all_folds):
        split = "test" if index == fold else "eval" if index == eval_fold else "train"
        for key in fold_keys:
            assignment[key] = split
    return assignment


def split_counts(assignment):
    """Number of keys per split name (every name of `SPLIT_NAMES` present)."""
    counts = {name: 0 for name in SPLIT_NAMES}
    for split in assignment.values():
        counts[split] += 1
    return counts


def _unique_sorted(keys):
    keys = [(str(subject), int(trial)) for subject, trial in keys]
    if len(set(keys)) != len(keys):
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        raise ValueError(f"duplicate (subject, trial) keys: {duplicates[:5]}")
    return sorted(keys)


def _by_subject(keys):
    grouped = {}
    for key in keys:
        grouped.setdefault(key[0], []).append(key)
    return grouped


def _rng(seed, *purpose):
    # A string seed is hashed by random's own stable algorithm (not Python's salted hash()).
    return random.Random("/".join(map(str, (seed, *purpose))))


def _split_counts(total, ratios, tie_rotation=0, at_least_one=False):
    """Largest-remainder division of `total` items in `ratios`.

    Equal remainders go first to split `tie_rotation % 3`, then the next ones cyclically.
    With `at_least_one`, every split of non-zero ratio gets an item (taken from the largest) when possible.
    """
    weight = sum(ratios)
    exact = [total * ratio / weight for ratio in ratios]
    counts = [int(value) for value in exact]
    order = sorted(range(len(ratios)),
                   key=lambda i: (-round(exact[i] - counts[i], 9), (i - tie_rotation) % len(ratios)))
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    if at_least_one:
        for i, ratio in enumerate(ratios):
            if ratio > 0 and counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                if counts[donor] > 1:
                    counts[donor] -= 1
                    counts[i] += 1
    return counts


def _stratified_order(keys, strata, rng):
    """Keys ordered by stratum (strata in a drawn order, keys shuffled within each)."""
    groups = {}
    for key in keys:
        groups.setdefault(strata.get(key), []).append(key)
    names = sorted(groups, key=repr)
    rng.shuffle(names)
    ordered = []
    for name in names:
        members = sorted(groups[name])
        rng.shuffle(members)
        ordered.extend(members)
    return ordered


def _spread_pattern(counts):
    """A sequence of split names with `counts[i]` of split i, each split spread evenly along it.

    Position p goes to the split furthest behind its quota (counts[i] * (p + 1) / total), so any
    contiguous run of the sequence (one stratum) is divided close to the overall proportions.
    """
    total = sum(counts)
    assigned = [0] * len(counts)
    pattern = []
    for position in range(total):
        deficits = [counts[i] * (position + 1) / total - assigned[i] for i in range(len(counts))]
        best = max((i for i in range(len(counts)) if assigned[i] < counts[i]), key=lambda i: deficits[i])
        assigned[best] += 1
        pattern.append(SPLIT_NAMES[best])
    return pattern
