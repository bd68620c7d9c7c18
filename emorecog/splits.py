"""Train / eval / test splits that never cut a trial, and cross-validation folds.

DEAP labels are per trial, so a split that puts frames (or windows) of one trial on both sides measures how
well a model recognises a trial, not an emotion. Every function here assigns whole (subject, trial) keys:

- `trial_splits`: trial-disjoint **within each subject** with the paper's 5:1:1 ratio (train:eval:test),
  so each subject contributes to all three splits (the paper's protocol), stratified by the labels.
- `subject_splits`: subject-disjoint, subjects divided 5:1:1 (a model is tested on people it never saw).
- `fold_splits`: fold K of leave-one-subject-out or N-fold cross-validation: test = fold K, eval = fold K+1
  (cyclically), train = every other fold; folds are made of subjects (`mode="subject"`) or of each subject's
  trials (`mode="trial"`). `cross_validation_folds` lists the folds for `emorecog cv`.

Stratification (trial splits and trial folds) balances **both labels at once**: the valence classes, the
arousal classes and their four combinations are each divided across the splits in the splits' proportions
as far as the counts allow, over the whole dataset rather than subject by subject (a subject holds too few
trials of a rare class to divide it). Trials are dealt greedily: within a subject, trials of rare classes
first, each to the split (with room left in that subject) that is furthest behind its share of the
trial's classes. Stratifying by both labels rather than by the one being learned keeps one ExampleGen
output (and its cache) valid for a valence run and an arousal run alike.

Whatever the stratification, a small or skewed dataset can leave a split with one class of a label (and
subject splits cannot be stratified at all): `assign_splits` then warns (`SplitWarning`), naming the split,
the label and the class, so a run never silently scores a test split without positive trials.

Everything is deterministic given `seed` and independent of the order the keys come in.
Keys are `(subject, trial)` pairs, e.g. `("s01", 17)`; strata are the binary labels of a trial as a tuple
in `features.TARGETS` order (valence, arousal), or any other hashable (one label column).
"""

import collections
import dataclasses
import random
import warnings

from emorecog import features
from emorecog.user_errors import DataWarning

SPLIT_NAMES = ("train", "eval", "test")
SPLIT_MODES = ("trial", "subject")
PAPER_RATIOS = (5, 1, 1)
LEAVE_ONE_SUBJECT_OUT = "loso"
CLASS_NAMES = ("low", "high")


class SplitWarning(DataWarning):
    """A split holds only one class of a label: its scores for that label mean little."""


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
        strata: optional dict key -> (valence, arousal) labels, to stratify trial splits and folds and to
            check every split for both classes.

    Returns:
        dict (subject, trial) -> one of `SPLIT_NAMES`.

    Warns:
        SplitWarning: once per split and label that holds only one class (see `single_class_warnings`).
    """
    if config.folds is not None:
        assignment = fold_splits(keys, config.fold, config.folds, mode=config.mode, strata=strata, seed=config.seed)
    elif config.mode == "subject":
        assignment = subject_splits(keys, ratios=config.ratios, seed=config.seed)
    else:
        assignment = trial_splits(keys, strata=strata, ratios=config.ratios, seed=config.seed)
    for message in single_class_warnings(assignment, strata or {}):
        warnings.warn(message, SplitWarning, stacklevel=2)
    return assignment


def single_class_warnings(assignment, labels):
    """One message per (split, label) whose trials all share one class, e.g. "split 'test' holds only
    one class of arousal: all 3 trials are low; its arousal scores mean little".

    Args:
        assignment: dict key -> split name.
        labels: dict key -> labels tuple in `features.TARGETS` order (or one label); keys without labels
            are not counted.
    """
    messages = []
    for split in SPLIT_NAMES:
        members = [_label_columns(labels[key]) for key, name in assignment.items() if name == split and key in labels]
        if not members:
            continue
        for column in range(len(members[0])):
            values = {row[column] for row in members}
            if len(values) == 1:
                label_name = features.TARGETS[column] if len(members[0]) == len(features.TARGETS) else "label"
                value = next(iter(values))
                class_name = CLASS_NAMES[value] if value in (0, 1) else repr(value)
                messages.append(
                    f"split '{split}' holds only one class of {label_name}: all {len(members)} "
                    f"trials are {class_name}; its {label_name} scores mean little"
                )
    return messages


def trial_splits(keys, strata=None, ratios=PAPER_RATIOS, seed=0):
    """Trial-disjoint splits within each subject, stratified by `strata`.

    Each subject's trials are divided train:eval:test in `ratios` (largest-remainder rounding; which split
    gets a rounding remainder rotates from subject to subject, so small subjects still fill every split
    overall). Which trials go where is stratified over the whole dataset (see the module docstring): each
    label class, and each combination of classes, is divided in `ratios` as far as the counts allow.

    Args:
        keys: iterable of (subject, trial) pairs.
        strata: optional dict key -> labels tuple (or any hashable); missing means one stratum.
        ratios: (train, eval, test) relative sizes.
        seed: shuffle seed.

    Returns:
        dict key -> split name.
    """
    keys = _unique_sorted(keys)
    rotation = _rng(seed, "trial-rotation").randrange(len(SPLIT_NAMES))
    by_subject = _by_subject(keys)
    capacities = {
        subject: _split_counts(len(subject_keys), ratios, tie_rotation=index + rotation)
        for index, (subject, subject_keys) in enumerate(by_subject.items())
    }
    dealt = _stratified_deal(by_subject, capacities, strata or {}, seed, "trial")
    return {key: SPLIT_NAMES[part] for key, part in dealt.items()}


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
            f"({', '.join(map(str, subjects))}); use trial splits instead"
        )
    rng = _rng(seed, "subject")
    rng.shuffle(subjects)
    counts = _split_counts(len(subjects), ratios, tie_rotation=rng.randrange(len(SPLIT_NAMES)), at_least_one=True)
    subject_split = {}
    position = 0
    for split, count in zip(SPLIT_NAMES, counts):
        for subject in subjects[position : position + count]:
            subject_split[subject] = split
        position += count
    return {key: subject_split[key[0]] for key in keys}


def cross_validation_folds(keys, folds, mode="subject", strata=None, seed=0):
    """The folds of a cross-validation, as lists of keys.

    Args:
        keys: iterable of (subject, trial) pairs.
        folds: "loso" (one fold per subject) or the number of folds (int >= 3).
        mode: "subject" (folds are sets of whole subjects) or "trial" (each subject's trials are divided
            into `folds` parts, stratified like `trial_splits`, and fold k gathers part k of every subject).
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
    by_subject = _by_subject(keys)
    capacities = {}
    for subject, subject_keys in by_subject.items():
        offset = _rng(seed, "trial-folds", subject).randrange(folds)  # so small subjects do not all fill fold 0
        capacities[subject] = _split_counts(len(subject_keys), (1,) * folds, tie_rotation=offset)
    dealt = _stratified_deal(by_subject, capacities, strata or {}, seed, "trial-folds")
    return [sorted(key for key, part in dealt.items() if part == fold) for fold in range(folds)]


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
    order = sorted(
        range(len(ratios)), key=lambda i: (-round(exact[i] - counts[i], 9), (i - tie_rotation) % len(ratios))
    )
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    if at_least_one:
        for i, ratio in enumerate(ratios):
            if ratio > 0 and counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                if counts[donor] > 1:
                    counts[donor] -= 1
                    counts[i] += 1
    return counts


def _label_columns(stratum):
    return tuple(stratum) if isinstance(stratum, tuple) else (stratum,)


def _stratified_deal(keys_by_subject, capacities, strata, seed, purpose):
    """Deal every subject's keys into parts 0..P-1, `capacities[subject][p]` keys to part p, stratified.

    The balanced quantities are each label column's classes and the whole stratum (their combination),
    counted over all subjects. A key goes to the part, among those with room left in its subject, whose
    count of the key's classes is furthest below that part's share of the keys seen so far (a class's
    shortfall weighs 1 / its size, so rare classes decide); within a subject, keys of rarer classes are
    dealt first, while every part still has room. Then `_give_every_part_each_class` repairs what the
    greedy pass left: a part without a class that has a member for every part.

    Returns:
        dict key -> part index.
    """
    num_parts = len(next(iter(capacities.values())))
    total = sum(sum(counts) for counts in capacities.values())
    shares = [sum(counts[part] for counts in capacities.values()) / total for part in range(num_parts)]

    def balanced_classes(key):
        stratum = strata.get(key)
        return [("stratum", stratum)] + list(enumerate(_label_columns(stratum)))

    frequency = {}
    for subject_keys in keys_by_subject.values():
        for key in subject_keys:
            for name in balanced_classes(key):
                frequency[name] = frequency.get(name, 0) + 1
    seen = dict.fromkeys(frequency, 0)
    assigned = {name: [0] * num_parts for name in frequency}
    dealt = {}
    for subject, subject_keys in keys_by_subject.items():
        ordered = list(subject_keys)
        _rng(seed, purpose, subject).shuffle(ordered)
        ordered.sort(key=lambda key: min(frequency[name] for name in balanced_classes(key)))
        room = list(capacities[subject])
        for key in ordered:
            classes = balanced_classes(key)
            for name in classes:
                seen[name] += 1

            def shortfall(part):
                return sum((shares[part] * seen[name] - assigned[name][part]) / frequency[name] for name in classes)

            # Ties go to the part with the most room left relative to its capacity, then the lower index.
            part = max(
                (part for part in range(num_parts) if room[part] > 0),
                key=lambda part: (round(shortfall(part), 9), room[part] / capacities[subject][part], -part),
            )
            room[part] -= 1
            for name in classes:
                assigned[name][part] += 1
            dealt[key] = part
    _give_every_part_each_class(dealt, strata, num_parts)
    return dealt


def _give_every_part_each_class(dealt, strata, num_parts):
    """Swap keys of one subject between parts until every part holds every class of every label column
    that has at least `num_parts` members, where such a swap exists (`dealt` is changed in place).

    A swap exchanges a key of the missing class from the part holding most of it with a key of another
    class in the lacking part, of the same subject (so every subject keeps its counts per part) and,
    when possible, with the same classes in the other columns (so their balance is unchanged).
    """
    if not strata:
        return
    columns = {key: _label_columns(strata[key]) for key in dealt if key in strata}
    if not columns:
        return
    for column in range(len(next(iter(columns.values())))):
        for value in sorted({row[column] for row in columns.values()}, key=repr):
            members = [key for key, row in columns.items() if row[column] == value]
            if len(members) < num_parts:
                continue
            for part in range(num_parts):
                held = collections.Counter(dealt[key] for key in members)
                if held[part] > 0:
                    continue
                donor = max(range(num_parts), key=lambda other: (held[other], -other))
                if held[donor] < 2:
                    continue
                swap = _best_swap(dealt, columns, column, value, donor, part)
                if swap is not None:
                    first, second = swap
                    dealt[first], dealt[second] = dealt[second], dealt[first]


def _best_swap(dealt, columns, column, value, donor, part):
    """(key of class `value` in `donor`, key of another class in `part`, same subject), the pair agreeing
    in the most other columns first; None when the two parts share no subject with such keys."""
    candidates = []
    for first in sorted(columns):
        if dealt[first] != donor or columns[first][column] != value:
            continue
        for second in sorted(columns):
            if second[0] != first[0] or dealt[second] != part or columns[second][column] == value:
                continue
            agreement = sum(
                a == b for index, (a, b) in enumerate(zip(columns[first], columns[second])) if index != column
            )
            candidates.append((-agreement, first, second))
    return min(candidates)[1:] if candidates else None
