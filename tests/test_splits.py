"""Splits never cut a trial or (in subject mode) a subject; ratios, stratification, folds, determinism."""

import collections
import random
import warnings

import pytest

from emorecog import splits

DEAP_KEYS = [(f"s{subject:02d}", trial) for subject in range(1, 33) for trial in range(1, 41)]


def random_labels(keys, seed=3):
    rng = random.Random(seed)
    return {key: (int(rng.random() < 0.6), int(rng.random() < 0.5)) for key in keys}


def assert_partition(assignment, keys):
    assert set(assignment) == set(keys)
    assert set(assignment.values()) <= set(splits.SPLIT_NAMES)


def test_trial_splits_assign_every_key_to_exactly_one_split():
    assignment = splits.trial_splits(DEAP_KEYS, random_labels(DEAP_KEYS))
    assert_partition(assignment, DEAP_KEYS)
    by_split = collections.defaultdict(set)
    for key, split in assignment.items():
        by_split[split].add(key)
    assert not by_split["train"] & by_split["eval"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["eval"] & by_split["test"]


def test_trial_splits_follow_the_papers_5_1_1_within_every_subject():
    assignment = splits.trial_splits(DEAP_KEYS, random_labels(DEAP_KEYS))
    for subject in {key[0] for key in DEAP_KEYS}:
        counts = collections.Counter(split for key, split in assignment.items() if key[0] == subject)
        assert counts == {"train": 28, "eval": 6, "test": 6}  # 40 * (5, 1, 1) / 7, largest remainder


def test_trial_splits_are_stratified_by_label():
    labels = random_labels(DEAP_KEYS)
    assignment = splits.trial_splits(DEAP_KEYS, labels)
    for stratum in set(labels.values()):
        members = [key for key in DEAP_KEYS if labels[key] == stratum]
        fraction_train = sum(assignment[key] == "train" for key in members) / len(members)
        assert abs(fraction_train - 5 / 7) < 0.05, stratum


def test_trial_splits_fill_every_split_even_with_few_trials_per_subject():
    keys = [(f"s{subject}", trial) for subject in range(6) for trial in range(4)]
    counts = splits.split_counts(splits.trial_splits(keys))
    assert counts["train"] >= 12 and counts["eval"] >= 1 and counts["test"] >= 1


def test_splits_are_deterministic_and_independent_of_key_order():
    labels = random_labels(DEAP_KEYS)
    shuffled = list(DEAP_KEYS)
    random.Random(0).shuffle(shuffled)
    assert splits.trial_splits(DEAP_KEYS, labels, seed=7) == splits.trial_splits(shuffled, labels, seed=7)
    assert splits.trial_splits(DEAP_KEYS, labels, seed=7) != splits.trial_splits(DEAP_KEYS, labels, seed=8)
    assert splits.subject_splits(DEAP_KEYS, seed=1) == splits.subject_splits(shuffled, seed=1)


def test_subject_splits_never_share_a_subject_between_splits():
    assignment = splits.subject_splits(DEAP_KEYS)
    assert_partition(assignment, DEAP_KEYS)
    split_of_subject = collections.defaultdict(set)
    for (subject, _), split in assignment.items():
        split_of_subject[subject].add(split)
    assert all(len(names) == 1 for names in split_of_subject.values())
    subjects_per_split = collections.Counter(next(iter(names)) for names in split_of_subject.values())
    # 32 * (5, 1, 1) / 7 = (22.9, 4.6, 4.6): largest remainder gives 23 and then 5 to eval or test
    assert subjects_per_split["train"] == 23
    assert sorted((subjects_per_split["eval"], subjects_per_split["test"])) == [4, 5]


def test_subject_splits_give_every_split_a_subject_when_there_are_three():
    keys = [(f"s{subject}", trial) for subject in range(3) for trial in range(5)]
    assert all(count == 5 for count in splits.split_counts(splits.subject_splits(keys)).values())


def test_subject_splits_refuse_too_few_subjects():
    with pytest.raises(ValueError, match="at least 3 subjects"):
        splits.subject_splits([("s01", 1), ("s02", 1)])


def test_leave_one_subject_out_has_one_fold_per_subject():
    folds = splits.cross_validation_folds(DEAP_KEYS, "loso")
    assert len(folds) == 32
    assert all(len({key[0] for key in fold}) == 1 for fold in folds)
    assert sorted(key for fold in folds for key in fold) == sorted(DEAP_KEYS)


def test_fold_splits_test_on_one_subject_and_select_on_another():
    for fold in (0, 5, 31):
        assignment = splits.fold_splits(DEAP_KEYS, fold, "loso")
        assert_partition(assignment, DEAP_KEYS)
        test_subjects = {key[0] for key, split in assignment.items() if split == "test"}
        eval_subjects = {key[0] for key, split in assignment.items() if split == "eval"}
        train_subjects = {key[0] for key, split in assignment.items() if split == "train"}
        assert len(test_subjects) == 1 and len(eval_subjects) == 1 and len(train_subjects) == 30
        assert not test_subjects & train_subjects and not eval_subjects & train_subjects


def test_every_key_is_tested_exactly_once_across_the_folds():
    for folds, mode in (("loso", "subject"), (5, "subject"), (4, "trial")):
        tested = collections.Counter()
        number = 32 if folds == "loso" else folds
        for fold in range(number):
            assignment = splits.fold_splits(DEAP_KEYS, fold, folds, mode=mode)
            tested.update(key for key, split in assignment.items() if split == "test")
        assert set(tested) == set(DEAP_KEYS) and set(tested.values()) == {1}, (folds, mode)


def test_trial_folds_keep_every_subject_in_every_fold():
    folds = splits.cross_validation_folds(DEAP_KEYS, 5, mode="trial", strata=random_labels(DEAP_KEYS))
    for fold in folds:
        assert len({key[0] for key in fold}) == 32
        assert len(fold) == 256


def test_split_config_validates_and_dispatches():
    keys = DEAP_KEYS[:120]
    config = splits.SplitConfig(mode="subject", seed=2)
    assert splits.assign_splits(keys, config) == splits.subject_splits(keys, seed=2)
    config = splits.SplitConfig(mode="subject", fold=1, folds="loso")
    assert splits.assign_splits(keys, config) == splits.fold_splits(keys, 1, "loso")
    with pytest.raises(ValueError, match="mode"):
        splits.SplitConfig(mode="window")
    with pytest.raises(ValueError, match="leave-one-subject-out"):
        splits.SplitConfig(mode="trial", fold=0, folds="loso")
    with pytest.raises(ValueError, match="both"):
        splits.SplitConfig(folds=5)
    with pytest.raises(ValueError, match="out of range"):
        splits.fold_splits(keys, 3, "loso")


def test_duplicate_keys_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        splits.trial_splits([("s01", 1), ("s01", 1)])


# -- stratification by both labels, and the single-class warning ---------------------------------------


def arousal_imbalanced_labels(keys, seed, high_arousal=0.1):
    """Valence balanced, arousal rarely high (as on some real subjects)."""
    rng = random.Random(seed)
    return {key: (int(rng.random() < 0.5), int(rng.random() < high_arousal)) for key in keys}


def classes_per_split(assignment, labels, column):
    found = collections.defaultdict(collections.Counter)
    for key, split in assignment.items():
        found[split][labels[key][column]] += 1
    return found


def test_trial_splits_give_every_split_both_arousal_classes_when_arousal_is_rare():
    # 6 subjects x 16 trials (the synthetic DEAP's default size): every split has about 14 eval and test
    # trials, so with ~10 % high arousal a split stratified by valence alone often has no high-arousal trial.
    keys = [(f"s{subject:02d}", trial) for subject in range(1, 7) for trial in range(1, 17)]
    for seed in range(40):
        labels = arousal_imbalanced_labels(keys, seed)
        if sum(arousal for _, arousal in labels.values()) < 3:
            continue  # fewer high-arousal trials than splits: no assignment can fill them all
        assignment = splits.trial_splits(keys, labels, seed=seed)
        for column in (0, 1):
            for split, counts in classes_per_split(assignment, labels, column).items():
                assert set(counts) == {0, 1}, (seed, split, column, counts)
        assert splits.single_class_warnings(assignment, labels) == []


def test_trial_splits_divide_the_rare_arousal_class_in_the_papers_proportions():
    labels = arousal_imbalanced_labels(DEAP_KEYS, seed=5, high_arousal=0.15)
    assignment = splits.trial_splits(DEAP_KEYS, labels)
    rare = [key for key in DEAP_KEYS if labels[key][1] == 1]
    shares = collections.Counter(assignment[key] for key in rare)
    for split, ratio in zip(splits.SPLIT_NAMES, (5, 1, 1)):
        assert abs(shares[split] / len(rare) - ratio / 7) < 0.03, (split, shares)


def test_trial_folds_give_every_fold_both_arousal_classes():
    keys = [(f"s{subject:02d}", trial) for subject in range(1, 7) for trial in range(1, 17)]
    labels = arousal_imbalanced_labels(keys, seed=11)
    for fold in splits.cross_validation_folds(keys, 4, mode="trial", strata=labels):
        assert {labels[key][1] for key in fold} == {0, 1}


def test_a_split_with_one_class_is_warned_about_naming_split_and_label():
    # Subject splits cannot be stratified: the only high-arousal subject lands in one split.
    keys = [(f"s{subject}", trial) for subject in range(7) for trial in range(4)]
    labels = {key: (key[1] % 2, int(key[0] == "s0")) for key in keys}
    config = splits.SplitConfig(mode="subject", seed=0)
    with pytest.warns(splits.SplitWarning) as caught:
        assignment = splits.assign_splits(keys, config, strata=labels)
    messages = [str(warning.message) for warning in caught]
    lacking = [
        split
        for split in splits.SPLIT_NAMES
        if {labels[key][1] for key, name in assignment.items() if name == split} == {0}
    ]
    assert lacking
    for split in lacking:
        assert any(
            f"split '{split}' holds only one class of arousal: all" in message and "are low" in message
            for message in messages
        ), messages
    assert not any("of valence" in message for message in messages)


def test_no_warning_when_every_split_holds_both_classes():
    labels = random_labels(DEAP_KEYS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", splits.SplitWarning)
        splits.assign_splits(DEAP_KEYS, splits.SplitConfig(), strata=labels)


def test_the_cli_prints_a_split_warning_as_one_line():
    import click
    from click.testing import CliRunner

    from emorecog.cli import LazyCommandGroup

    @click.command()
    def split_tiny():
        keys = [(f"s{subject}", 1) for subject in range(3)]
        splits.assign_splits(keys, splits.SplitConfig(mode="subject"), strata={key: (0, 1) for key in keys})

    group = LazyCommandGroup(commands={"split-tiny": split_tiny})
    group.get_command = lambda ctx, name: split_tiny
    result = CliRunner().invoke(group, ["split-tiny"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Warning: split ")]
    assert len(lines) == 6  # 3 splits x 2 labels, one line each
    assert "Warning: split 'train' holds only one class of valence: all 1 trials are low" in result.output
