"""FoldExamples component: one cross-validation fold of an ExampleGen output, as an index of its records.

Spec:
    parameters  split (SplitConfig with fold and folds), preprocess, label_rule (the source's, recorded)
    inputs      examples: the pooled ExampleGen output
    outputs     fold_index.json, stats.json   (`emorecog.evaluation.cross_validation.write_fold_index`)

No record is copied: readers follow fold_index.json to the source's files and keep the fold's trials.
"""

from emorecog import splits
from emorecog.artifact_metadata import read_metadata
from emorecog.components import component
from emorecog.datasets.tfrecord_reader import FOLD_INDEX_FILE, STATS_FILE

SPEC = component.ComponentSpec(
    name="FoldExamples",
    parameters=("split", "preprocess", "label_rule"),
    inputs=("examples",),
    outputs=(FOLD_INDEX_FILE, STATS_FILE),
)


def executor(parameters, inputs, output_dir):
    from emorecog.evaluation.cross_validation import write_fold_index

    split_config = splits.SplitConfig(**{**parameters["split"], "ratios": tuple(parameters["split"]["ratios"])})
    stats = write_fold_index(inputs["examples"], split_config, output_dir)
    return {
        "summary": {name: stats["splits"][name]["samples"] for name in splits.SPLIT_NAMES},
        "split_warnings": stats["split_warnings"],
    }


def run_fold_examples(data_dir, fold, folds, mode="subject", seed=0, output_dir=None, force=False):
    """Write fold `fold` (0-based index) of `folds` of the ExampleGen output `data_dir` into `output_dir`.

    Args:
        data_dir: ExampleGen output (any split layout; all records are pooled).
        fold: index of the test fold (0-based: fold number fold + 1).
        folds: "loso" (needs mode "subject") or an int >= 3.
        mode: "subject" (folds of whole subjects) or "trial" (folds of each subject's trials, stratified).
        seed: shuffle seed of the fold assignment.
        output_dir: where the fold goes (atomically, skipped when unchanged).

    Returns:
        The `ComponentRun`.
    """
    source = (read_metadata(data_dir) or {}).get("parameters") or {}
    parameters = {
        "split": splits.SplitConfig(mode=mode, seed=seed, fold=fold, folds=folds).to_dict(),
        "preprocess": source.get("preprocess"),
        "label_rule": source.get("label_rule"),
    }
    return component.run_component(SPEC, executor, parameters, {"examples": data_dir}, output_dir, force=force)
