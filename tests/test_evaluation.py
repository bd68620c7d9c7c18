"""Evaluation: metrics against hand-computed values and sklearn, the blessing rule, plots, the Evaluator."""

import csv
import io
import json
import os
import shutil

import numpy as np
import pytest
from sklearn import metrics as sklearn_metrics

from emorecog.evaluation import metrics, plots
from emorecog.evaluation.blessing_rule import BlessingRule

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_classification_scores_match_hand_computed_values():
    labels = [1, 1, 1, 0, 0, 1]
    predictions = [1, 0, 1, 0, 1, 1]
    scores = metrics.classification_scores(labels, predictions)
    # class 1: tp 3, fn 1, fp 1 -> F1 6/8; class 0: tp 1, fn 1, fp 1 -> F1 2/4
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["f1_per_class"] == pytest.approx([0.5, 0.75])
    assert scores["f1_macro"] == pytest.approx(0.625)
    assert scores["balanced_accuracy"] == pytest.approx((0.5 + 0.75) / 2)
    assert scores["confusion_matrix"] == [[1, 1], [1, 3]]
    assert scores["class_counts"] == [2, 4]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_scores_agree_with_sklearn(seed):
    random = np.random.default_rng(seed)
    labels = random.integers(0, 2, 37)
    predictions = random.integers(0, 2, 37)
    scores = metrics.classification_scores(labels, predictions)
    assert scores["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(labels, predictions))
    assert scores["f1_macro"] == pytest.approx(
        sklearn_metrics.f1_score(labels, predictions, average="macro", labels=[0, 1], zero_division=0)
    )
    assert scores["balanced_accuracy"] == pytest.approx(sklearn_metrics.balanced_accuracy_score(labels, predictions))


def test_majority_class_comes_from_train_labels_and_ties_go_to_zero():
    assert metrics.majority_class([1, 1, 0]) == 1
    assert metrics.majority_class([0, 1]) == 0
    with pytest.raises(ValueError, match="empty"):
        metrics.majority_class([])


def test_majority_baseline_is_scored_on_the_evaluated_labels():
    baseline = metrics.majority_baseline_scores([0, 0, 0, 1], baseline_class=1)
    assert baseline["accuracy"] == pytest.approx(0.25)
    assert baseline["balanced_accuracy"] == pytest.approx(0.5)
    assert baseline["f1_macro"] == pytest.approx((0 + 2 * 1 / (1 + 4)) / 2)
    assert baseline["class_id"] == 1 and baseline["source"] == "train split"


def test_constant_predictor_scores_exactly_the_baseline():
    labels = [1, 1, 1, 0, 0]
    report = metrics.evaluation_report(labels, [1] * 5, ["s01"] * 5, baseline_class=1)
    assert report["f1_macro"] == report["majority_baseline"]["f1_macro"]
    assert report["accuracy"] == report["majority_baseline"]["accuracy"]


def test_evaluation_report_has_per_subject_figures_and_glimpses():
    report = metrics.evaluation_report(
        labels=[1, 0, 1, 1],
        predictions=[1, 0, 0, 1],
        subjects=["s02", "s02", "s01", "s01"],
        baseline_class=0,
        glimpse_counts=[3, 5, 4, 4],
    )
    assert sorted(report["per_subject"]) == ["s01", "s02"]
    assert report["per_subject"]["s02"]["accuracy"] == 1.0
    assert report["per_subject"]["s01"]["accuracy"] == 0.5
    # s01 has only class 1 in its labels: balanced accuracy is the recall of that class
    assert report["per_subject"]["s01"]["balanced_accuracy"] == 0.5
    assert report["per_subject"]["s01"]["majority_baseline_accuracy"] == 0.0
    assert report["glimpses"] == {"mean": 4.0, "min": 3.0, "max": 5.0}
    json.dumps(report)  # JSON-ready


def test_bad_labels_are_rejected_with_their_name():
    with pytest.raises(ValueError, match="predictions must hold class ids 0 or 1"):
        metrics.classification_scores([0, 1], [0, 2])
    with pytest.raises(ValueError, match="differ in length"):
        metrics.classification_scores([0, 1, 1], [0, 1])


def test_mean_and_spread():
    assert metrics.mean_and_spread([0.5, 0.7, None]) == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(0.1),
        "min": 0.5,
        "max": 0.7,
        "count": 2,
    }
    assert metrics.mean_and_spread([])["count"] == 0


def _report(labels, predictions, baseline_class):
    return metrics.evaluation_report(labels, predictions, ["s01"] * len(labels), baseline_class)


def test_blessing_refuses_a_constant_predictor_of_either_class():
    labels = [1, 1, 1, 0, 0, 0, 1]
    assert not BlessingRule().decide(_report(labels, [1] * 7, 1))["blessed"]
    assert not BlessingRule().decide(_report(labels, [0] * 7, 1))["blessed"]


def test_blessing_accepts_a_model_beating_the_baseline_and_says_why():
    labels = [1, 1, 1, 0, 0, 0, 1]
    decision = BlessingRule().decide(_report(labels, [1, 1, 1, 0, 0, 1, 1], 1))
    assert decision["blessed"]
    assert all(reason.startswith("pass") for reason in decision["reasons"])
    assert decision["majority_baseline"]["class_id"] == 1


def test_blessing_margin_and_minimum_sample_count():
    labels = [1, 1, 1, 0, 0, 0, 1]
    report = _report(labels, [1, 1, 1, 0, 0, 1, 1], 1)
    assert not BlessingRule(min_margin=0.4).decide(report)["blessed"]
    assert not BlessingRule(min_samples=10).decide(report)["blessed"]


def test_blessing_on_the_test_split_is_refused():
    with pytest.raises(ValueError, match="test split"):
        BlessingRule(split="test")


def _is_png(path):
    with open(path, "rb") as handle:
        return handle.read(8) == PNG_MAGIC and os.path.getsize(path) > 2000


def test_plots_write_png_files(tmp_path):
    random = np.random.default_rng(0)
    frames = np.array([[0, 10, 25, 40, -1, -1], [5, 6, 7, -1, -1, -1]])
    counts = np.array([4, 3])
    band = random.dirichlet([1, 1, 1], size=(2, 6))
    layers = random.dirichlet([1, 1, 1], size=(2, 6, 2))
    plots.plot_glimpse_timeline(
        tmp_path / "timeline.png", frames, 48, ["a", "b"], fps=8, planted_windows=[[(8, 16)], None]
    )
    plots.plot_band_attention(tmp_path / "band.png", band, counts, ["a", "b"])
    plots.plot_layer_attention(tmp_path / "layer.png", layers, counts)
    plots.plot_confusion_matrix(tmp_path / "confusion.png", [[3, 1], [2, 4]], ["low", "high"], "test")
    history = [
        {
            "epoch": epoch,
            "loss": 1.0 / epoch,
            "reward": -0.5 + 0.1 * epoch,
            "glimpses": 4.0,
            "val_f1_macro": 0.4 + 0.05 * epoch,
        }
        for epoch in range(1, 5)
    ]
    plots.plot_training_curves(tmp_path / "curves.png", history, best_epoch=3)
    per_subject = {
        "s01": {"accuracy": 0.75, "majority_baseline_accuracy": 0.5, "num_samples": 4},
        "s02": {"accuracy": None, "majority_baseline_accuracy": 0.5, "num_samples": 0},
    }
    plots.plot_per_subject(tmp_path / "subjects.png", per_subject, classical_accuracy=0.6)
    results = {
        "folds": 3,
        "mode": "subject",
        "target": "valence",
        "per_fold": [
            {
                "fold": fold,
                "test_subjects": [f"s0{fold}"],
                "accuracy": 0.5 + 0.1 * fold,
                "f1_macro": 0.5,
                "balanced_accuracy": 0.5,
                "majority_baseline_accuracy": 0.5,
                "majority_baseline_f1_macro": 0.33,
                "majority_baseline_balanced_accuracy": 0.5,
                "classical_baseline_accuracy": None,
                "classical_baseline_f1_macro": None,
                "classical_baseline_balanced_accuracy": None,
            }
            for fold in (1, 2, 3)
        ],
    }
    from emorecog.evaluation.cross_validation import cross_validation_summary

    results["summary"] = cross_validation_summary(results["per_fold"])
    plots.plot_cross_validation_summary(tmp_path / "cv.png", results)
    for name in ("curves.png", "subjects.png", "cv.png"):
        assert _is_png(tmp_path / name), name
    for name in ("timeline.png", "band.png", "layer.png", "confusion.png"):
        assert _is_png(tmp_path / name), name


# -- the Evaluator component on a real (tiny) trained run ------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(tiny_run):
    from emorecog.components.evaluator import run_evaluator

    deap_dir, examples_dir, run_dir = tiny_run
    run = run_evaluator(run_dir, examples_dir, split="test")
    return deap_dir, examples_dir, run_dir, run


def test_evaluator_writes_metrics_blessing_predictions_and_plots(evaluated):
    _, examples_dir, run_dir, run = evaluated
    assert run.output_dir == os.path.join(run_dir, "evaluation", "test")
    with open(run.artifact("metrics.json")) as handle:
        report = json.load(handle)
    for key in (
        "accuracy",
        "f1_macro",
        "balanced_accuracy",
        "confusion_matrix",
        "majority_baseline",
        "classical_baseline",
        "uniform_k_baseline",
        "per_subject",
        "glimpses",
        "blessing",
        "planted_window",
    ):
        assert key in report, key
    assert report["split"] == "test" and report["target"] == "valence"
    assert report["num_samples"] == 3 == sum(map(sum, report["confusion_matrix"]))
    for name in ("glimpse_timeline.png", "band_attention.png", "layer_attention.png", "confusion_matrix.png"):
        assert _is_png(os.path.join(run.output_dir, "plots", name)), name
    with open(run.artifact("predictions.csv")) as handle:
        rows = handle.read().strip().splitlines()
    assert rows[0].startswith("subject,trial,label,class_id,probability_high") and len(rows) == 4


def test_the_report_shows_the_scores_and_every_plot_and_each_image_decodes(evaluated):
    import html.parser

    from PIL import Image

    _, _, _, run = evaluated
    with open(run.artifact("metrics.json")) as handle:
        report = json.load(handle)

    class ReportParser(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.cells, self.remote = [], [], []

        def handle_starttag(self, tag, attributes):
            attributes = dict(attributes)
            if tag == "img":
                self.images.append(attributes["src"])
            for name in ("src", "href"):
                if "://" in (attributes.get(name) or ""):
                    self.remote.append(attributes[name])

        def handle_data(self, data):
            self.cells.append(data.strip())

    parser = ReportParser()
    with open(run.artifact("report.html"), encoding="utf-8") as handle:
        parser.feed(handle.read())
    shown = {os.path.normpath(os.path.join(run.output_dir, source)) for source in parser.images}
    drawn = {os.path.join(run.output_dir, "plots", name) for name in os.listdir(os.path.join(run.output_dir, "plots"))}
    assert shown == drawn  # every plot is shown, and nothing else
    for name in ("per_subject.png", "training_curves.png", "band_attention.png", "glimpse_timeline.png"):
        assert os.path.join(run.output_dir, "plots", name) in shown, name
    for path in shown:
        with Image.open(path) as image:
            image.load()  # decodes the whole image
            assert image.width > 100 and image.height > 100, path
    assert parser.remote == []  # nothing fetched from the network
    text = " ".join(parser.cells)
    for row in ("model", "majority-class baseline", "classical baseline", "uniform-K baseline"):
        assert row in text, row
    assert f"{report['accuracy']:.3f}" in parser.cells
    assert f"{report['majority_baseline']['accuracy']:.3f}" in parser.cells
    for subject in report["per_subject"]:
        assert subject in parser.cells


def test_classical_baseline_is_fitted_on_train_and_chosen_on_eval(evaluated):
    """The Evaluator's classical baseline equals logistic regression on the records' electrode band energies,
    fitted on train with C chosen on eval, scored on test (recomputed here by hand with scikit-learn)."""
    import tensorflow as tf
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emorecog import features
    from emorecog.datasets import tfrecord_reader
    from emorecog.evaluation.classical_baseline import REGULARISATION_GRID

    _, examples_dir, _, run = evaluated
    with open(run.artifact("metrics.json")) as handle:
        classical = json.load(handle)["classical_baseline"]
    parts = {}
    for split in ("train", "eval", "test"):
        rows, labels = [], []
        schema = tfrecord_reader.read_record_schema(examples_dir)
        for record in tfrecord_reader.record_dataset(examples_dir, split):
            # The band energies straight from the protobuf bytes with NumPy: an independent way to the
            # electrode values the baseline reads through TensorFlow's parser. (The least-squares inverse
            # of the image operator is not exact for small images, where some electrodes touch few pixels.)
            example = tf.train.Example.FromString(record.numpy())
            feature = example.features.feature
            energy = np.frombuffer(feature[features.EEG_BAND_ENERGY_KEY].bytes_list.value[0], dtype="<f4").reshape(
                1, *schema.band_energy_shape
            )
            rows.append(np.concatenate([energy.mean(axis=1).reshape(1, -1), energy.max(axis=1).reshape(1, -1)], axis=1))
            labels.append(np.array([feature[features.label_key("valence")].int64_list.value[0]]))
        parts[split] = np.concatenate(rows), np.concatenate(labels)
    if np.unique(parts["train"][1]).size < 2:
        assert classical == {
            "available": False,
            "reason": "the train split holds a single class",
            "features": classical["features"],
        }
        return

    def fitted(c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000, random_state=0)).fit(
            *parts["train"]
        )

    scores = [
        (
            f1_score(
                parts["eval"][1], fitted(c).predict(parts["eval"][0]), average="macro", labels=[0, 1], zero_division=0
            ),
            -c,
            c,
        )
        for c in REGULARISATION_GRID
    ]
    chosen = max(scores)[2]
    assert classical["regularisation_c"] == pytest.approx(chosen)
    predictions = fitted(chosen).predict(parts["test"][0])
    assert classical["accuracy"] == pytest.approx(float(np.mean(predictions == parts["test"][1])))
    assert classical["num_features"] == parts["train"][0].shape[1] == 2 * 32 * 3


def test_uniform_k_baseline_reads_the_mean_number_of_glimpses(evaluated):
    _, _, _, run = evaluated
    with open(run.artifact("metrics.json")) as handle:
        report = json.load(handle)
    uniform = report["uniform_k_baseline"]
    assert uniform["glimpses"] == max(1, round(report["glimpses"]["mean"]))
    assert 0.0 <= uniform["accuracy"] <= 1.0 and set(uniform) >= {"f1_macro", "balanced_accuracy"}


def test_region_values_average_each_region():
    from emorecog.evaluation.classical_baseline import region_values, trial_features

    images = np.zeros((1, 2, 8, 8, 3), "float32")
    images[0, 1, :4, :4, 2] = 4.0  # the top-left quarter of frame 1, beta band
    values = region_values(images, grid_size=2)
    assert values.shape == (1, 2, 4, 3)
    np.testing.assert_allclose(values[0, 1, :, 2], [4.0, 0.0, 0.0, 0.0])
    features = trial_features(values)
    assert features.shape == (1, 2 * 4 * 3)
    np.testing.assert_allclose(features[0, 4 * 3 + 2], 4.0)  # max over time of region 0, beta
    np.testing.assert_allclose(features[0, 2], 2.0)  # mean over time


def test_majority_baseline_comes_from_the_train_split_labels(evaluated):
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, run = evaluated
    with open(run.artifact("metrics.json")) as handle:
        report = json.load(handle)
    counts = tfrecord_reader.read_stats(examples_dir)["splits"]["train"]["labels"]["valence"]
    expected = 0 if counts["0"] >= counts["1"] else 1
    assert report["majority_baseline"]["class_id"] == expected
    test_counts = report["class_counts"]
    assert report["majority_baseline"]["accuracy"] == pytest.approx(test_counts[expected] / sum(test_counts))


def test_blessing_is_decided_on_the_eval_split(evaluated):
    _, _, _, run = evaluated
    with open(run.artifact("blessing.json")) as handle:
        blessing = json.load(handle)
    assert blessing["split"] == "eval" and blessing["model"]["num_samples"] == 3
    assert isinstance(blessing["blessed"], bool) and len(blessing["reasons"]) == 2


def test_planted_window_comes_from_the_synthetic_ground_truth(evaluated):
    from emorecog.components.evaluator import find_ground_truth

    deap_dir, examples_dir, _, run = evaluated
    assert find_ground_truth(examples_dir) == os.path.join(deap_dir, "ground_truth.json")
    with open(run.artifact("metrics.json")) as handle:
        planted = json.load(handle)["planted_window"]
    assert planted["trials"] == 3
    assert 0 <= planted["glimpses_inside_fraction"] <= 1
    # a 2 s window at 4 fps touches 8 or 9 of the 24 frames
    assert 8 / 24 <= planted["chance_fraction"] <= 9 / 24


def test_planted_frame_windows_convert_seconds_to_frames(tmp_path):
    from emorecog.evaluation import planted_signal

    truth = {
        "format": "emorecog-synthetic-deap-ground-truth/1",
        "subjects": {"s01": {"trials": [{"trial": 3, "event_window_s": [1.25, 3.25]}]}},
    }
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps(truth))
    loaded = planted_signal.load_ground_truth(path)
    assert planted_signal.planted_frame_windows(loaded, "s01", 3, "valence", fps=8) == [(10, 25)]
    assert planted_signal.planted_frame_windows(loaded, "s01", 4, "valence", fps=8) is None
    assert planted_signal.glimpses_inside_window([9, 10, 25, 26, -1], [(10, 25)]) == 2
    path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not an emorecog synthetic ground truth"):
        planted_signal.load_ground_truth(path)


def test_evaluator_rerun_is_skipped_and_cli_reports(evaluated):
    from click.testing import CliRunner

    from emorecog.cli import main as cli

    _, examples_dir, run_dir, _ = evaluated
    result = CliRunner().invoke(cli, ["evaluate", "--run", run_dir, "--data", examples_dir, "--split", "test"])
    assert result.exit_code == 0, result.output
    assert "unchanged, skipped" in result.output
    assert "majority baseline (class" in result.output and "blessed:" in result.output


def test_evaluate_batch_size_changes_batches_not_predictions(evaluated, tmp_path):
    from click.testing import CliRunner

    from emorecog.cli import main as cli

    _, examples_dir, run_dir, run = evaluated
    copied_run = tmp_path / "run"
    shutil.copytree(os.path.join(run_dir, "model"), copied_run / "model")
    arguments = ["evaluate", "--run", str(copied_run), "--data", examples_dir, "--split", "test", "--batch-size", "2"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    evaluation_dir = copied_run / "evaluation" / "test"
    with open(evaluation_dir / "emorecog_metadata.json") as handle:
        assert json.load(handle)["parameters"]["batch_size"] == 2
    with open(run.artifact("predictions.csv")) as before, open(evaluation_dir / "predictions.csv") as after:
        assert _predicted_classes(after.read()) == _predicted_classes(before.read())
    assert "Error: Invalid value for '--batch-size'" in CliRunner().invoke(cli, [*arguments[:-1], "0"]).output


def _predicted_classes(predictions_csv):
    rows = list(csv.DictReader(io.StringIO(predictions_csv)))
    assert rows
    return [(row["subject"], row["trial"], row["class_id"]) for row in rows]


def test_evaluator_on_the_eval_split_reuses_it_for_the_blessing(evaluated):
    from emorecog.components.evaluator import run_evaluator

    _, examples_dir, run_dir, _ = evaluated
    run = run_evaluator(run_dir, examples_dir, split="eval", plot_trials=2)
    with open(run.artifact("metrics.json")) as handle:
        report = json.load(handle)
    assert report["split"] == "eval"
    assert report["blessing"]["model"]["f1_macro"] == report["f1_macro"]


def test_evaluate_without_a_trained_model_names_the_missing_folder(tmp_path):
    from emorecog.components.evaluator import run_evaluator

    with pytest.raises(FileNotFoundError, match="train first"):
        run_evaluator(str(tmp_path / "run"), str(tmp_path))


# -- cross-validation folds ---------------------------------------------------------------------------


def _records_by_split(data_dir):
    import tensorflow as tf

    from emorecog import features
    from emorecog.datasets import tfrecord_reader

    record_schema = tfrecord_reader.read_record_schema(data_dir)
    found = {}
    for split in ("train", "eval", "test"):
        rows = []
        for record in tfrecord_reader.record_dataset(data_dir, split):
            example = tf.train.Example.FromString(record.numpy())
            feature = example.features.feature
            eeg = features.eeg_images_of_example(example, record_schema)
            rows.append((feature["subject"].bytes_list.value[0].decode(), feature["trial"].int64_list.value[0], eeg))
        found[split] = rows
    return found


def test_fold_examples_reassign_whole_subjects_and_recompute_train_statistics(evaluated, tmp_path):
    from emorecog.components.fold_examples import run_fold_examples
    from emorecog.datasets import tfrecord_reader
    from emorecog.evaluation import cross_validation

    _, examples_dir, _, _ = evaluated
    assert cross_validation.fold_count(examples_dir, "loso", "subject") == 3
    run = run_fold_examples(examples_dir, fold=1, folds="loso", mode="subject", output_dir=str(tmp_path / "fold-2"))
    source = _records_by_split(examples_dir)
    fold = _records_by_split(run.output_dir)
    assert sum(map(len, fold.values())) == sum(map(len, source.values())) == 21
    subjects = {split: {row[0] for row in rows} for split, rows in fold.items()}
    assert subjects["test"] == {"s02"} and subjects["eval"] == {"s03"} and subjects["train"] == {"s01"}
    keys = [(row[0], row[1]) for rows in fold.values() for row in rows]
    assert len(keys) == len(set(keys))
    train_eeg = np.concatenate([row[2].reshape(-1, 3) for row in fold["train"]]).astype(np.float64)
    normalization = tfrecord_reader.read_eeg_normalization(run.output_dir)
    np.testing.assert_allclose(normalization["mean"], train_eeg.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(normalization["std"], train_eeg.std(axis=0), rtol=1e-5)
    assert tfrecord_reader.count_records(run.output_dir, "test") == 7
    inputs, labels = next(iter(tfrecord_reader.make_dataset(run.output_dir, "train", 4)))  # manifest verified
    assert labels.shape == (4,)
    metadata = run.metadata["parameters"]
    assert metadata["split"]["folds"] == "loso" and metadata["preprocess"]["fps"] == 4
    again = run_fold_examples(examples_dir, fold=1, folds="loso", mode="subject", output_dir=str(tmp_path / "fold-2"))
    assert again.skipped


def _folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder) for name in names)


def test_folds_reference_the_pooled_records_without_copying_them(evaluated, tmp_path):
    from emorecog.components.fold_examples import run_fold_examples
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, _ = evaluated
    pooled = {split: tfrecord_reader.split_files(examples_dir, split) for split in ("train", "eval", "test")}
    pooled_bytes = sum(os.path.getsize(path) for files in pooled.values() for path in files)
    pooled_records = {
        bytes(record.numpy()) for split in pooled for record in tfrecord_reader.record_dataset(examples_dir, split)
    }
    fold_dirs = [
        run_fold_examples(
            examples_dir, fold=fold, folds=3, mode="trial", output_dir=str(tmp_path / f"fold-{fold + 1}")
        ).output_dir
        for fold in range(3)
    ]
    # The three folds together take far less than one copy of the records (let alone three).
    assert _folder_bytes(tmp_path) < 0.2 * pooled_bytes
    for fold_dir in fold_dirs:
        assert not [name for name in os.listdir(fold_dir) if name.startswith("Split-")]
        seen = {}
        for split in ("train", "eval", "test"):
            records = [bytes(record.numpy()) for record in tfrecord_reader.record_dataset(fold_dir, split)]
            assert set(records) <= pooled_records  # the pooled bytes, read in place
            keys = {row[:2] for row in _records_by_split(fold_dir)[split]}
            assert len(keys) == len(records) == tfrecord_reader.count_records(fold_dir, split)
            seen[split] = keys
        assert not seen["train"] & seen["eval"] and not seen["train"] & seen["test"]
        assert not seen["eval"] & seen["test"]
        assert sum(map(len, seen.values())) == 21


def test_a_fold_stats_file_has_the_layout_of_an_example_gen_one(evaluated, tmp_path):
    from emorecog.components.fold_examples import run_fold_examples
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, _ = evaluated
    pooled = tfrecord_reader.read_stats(examples_dir)
    fold = tfrecord_reader.read_stats(
        run_fold_examples(examples_dir, fold=0, folds=3, mode="trial", output_dir=str(tmp_path / "fold-1")).output_dir
    )
    shared = ("dataset", "sample_shape", "split_config", "splits", "eeg_normalization", "face_detection", "records")
    assert set(shared) <= set(pooled) and set(shared) <= set(fold)
    for section in ("eeg_normalization", "face_detection", "records"):
        assert set(fold[section]) == set(pooled[section]), section
    for name, split in fold["splits"].items():
        assert set(split) == set(pooled["splits"][name])
        assert split["planned"] == split["samples"]
    assert fold["sample_shape"] == pooled["sample_shape"] and fold["records"]["schema_version"] == 2
    assert fold["derived_from"] == os.path.abspath(examples_dir) and "per_trial" not in fold
    assert sum(split["eeg_only"] for split in fold["splits"].values()) == pooled["trials"]["eeg_only_written"]
    assert fold["face_detection"]["trials_with_video"] == pooled["face_detection"]["trials_with_video"]
    assert fold["eeg_normalization"]["trials"] == fold["splits"]["train"]["samples"]


def test_a_fold_names_a_pooled_file_changed_after_it_was_made(evaluated, tmp_path):
    import shutil

    from emorecog.components.fold_examples import run_fold_examples
    from emorecog.datasets import tfrecord_reader

    _, examples_dir, _, _ = evaluated
    pooled = str(tmp_path / "pooled")
    shutil.copytree(examples_dir, pooled)
    fold_dir = run_fold_examples(pooled, fold=0, folds="loso", output_dir=str(tmp_path / "fold-1")).output_dir
    damaged = tfrecord_reader.split_records(fold_dir, "train").files[0]
    with open(damaged, "r+b") as handle:
        handle.seek(40)
        byte = handle.read(1)
        handle.seek(40)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(tfrecord_reader.CorruptRecordFileError, match=f"{damaged} is corrupt"):
        tfrecord_reader.make_dataset(fold_dir, "train", 2)


def test_trial_folds_keep_every_subject_in_every_split(evaluated, tmp_path):
    from emorecog.components.fold_examples import run_fold_examples
    from emorecog.evaluation import cross_validation

    _, examples_dir, _, _ = evaluated
    run = run_fold_examples(examples_dir, fold=0, folds=3, mode="trial", output_dir=str(tmp_path / "fold"))
    fold = _records_by_split(run.output_dir)
    for split in ("train", "eval", "test"):
        assert {row[0] for row in fold[split]} == {"s01", "s02", "s03"}
    with pytest.raises(ValueError, match="leave-one-subject-out"):
        cross_validation.fold_count(examples_dir, "loso", "trial")


def test_cv_cli_needs_exactly_one_source():
    from click.testing import CliRunner

    from emorecog.cli import main as cli

    result = CliRunner().invoke(cli, ["cv", "--folds", "3"])
    assert result.exit_code == 2 and "either --deap DIR or --data DIR" in result.output


@pytest.mark.slow
def test_cv_cli_runs_every_fold_and_reports_mean_and_spread(evaluated, tmp_path):
    from click.testing import CliRunner

    from emorecog.cli import main as cli
    from tests.tiny_pipeline import TINY_MODEL, TINY_TRAINING_FLAGS

    _, examples_dir, _, _ = evaluated
    config = tmp_path / "model.json"
    config.write_text(json.dumps(TINY_MODEL))
    out = tmp_path / "cv"
    result = CliRunner().invoke(
        cli,
        [
            "cv",
            "--data",
            examples_dir,
            "--folds",
            "loso",
            "--out",
            str(out),
            "--epochs",
            "1",
            "--config",
            str(config),
            *TINY_TRAINING_FLAGS,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "mean +- std" in result.output
    with open(out / "cv_results.json") as handle:
        results = json.load(handle)
    assert [row["test_subjects"] for row in results["per_fold"]] == [["s01"], ["s02"], ["s03"]]
    assert [row["fold"] for row in results["per_fold"]] == [1, 2, 3]
    assert "fold 1/3" in result.output and sorted(os.listdir(out)) == [
        "cv_results.json",
        "cv_summary.png",
        "emorecog_folder.json",
        "fold-1",
        "fold-2",
        "fold-3",
    ]
    summary = results["summary"]["accuracy"]
    assert summary["count"] == 3
    assert summary["mean"] == pytest.approx(np.mean([row["accuracy"] for row in results["per_fold"]]))
