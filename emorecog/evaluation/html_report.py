"""report.html: one evaluation as a page a researcher can read in a browser, next to its metrics.json.

The page is self-contained apart from the PNGs it shows, which it references by paths relative to itself
(`plots/<name>.png` in the same evaluation folder), so the folder can be moved or served as it is. It holds
the metrics table (the model next to the majority-class, classical and uniform-K baselines, on the
evaluated split), the blessing decision, the per-subject table, the planted-window figures on synthetic
data, and every plot of plots/ with a caption saying what it shows. Nothing is fetched from the network.
"""

import html
import os

PLOT_CAPTIONS = (
    ("confusion_matrix.png", "Confusion matrix of the evaluated split (rows: true class)."),
    (
        "per_subject.png",
        "Per subject: the model's CR next to the majority baseline's on the same trials; the "
        "classical baseline's CR over all subjects as a line.",
    ),
    (
        "training_curves.png",
        "Training curves per epoch (loss terms, reward, glimpses, eval scores); the dashed "
        "line marks the epoch the Trainer kept (highest eval macro F1).",
    ),
    (
        "glimpse_timeline.png",
        "Where the model looked: the frame of each glimpse, in order (colour), for a few "
        "trials; shaded: the planted signal on synthetic data.",
    ),
    ("band_attention.png", "Band attention (theta, alpha, beta) per glimpse; dashed: equal weights (1/3)."),
    ("layer_attention.png", "Inter-layer self-attention over the LSTM layers, hidden and cell states."),
)
SCORES = (("accuracy", "CR (accuracy)"), ("f1_macro", "macro F1"), ("balanced_accuracy", "balanced accuracy"))


def write_report(output_dir, report, plots_dir_name="plots"):
    """Write `<output_dir>/report.html` for the metrics dict `report` (as in metrics.json).

    Every PNG in `<output_dir>/<plots_dir_name>/` is shown: the known ones first with their captions, any
    other after them under its file name.

    Returns:
        The path written.
    """
    plots_dir = os.path.join(output_dir, plots_dir_name)
    present = (
        sorted(name for name in os.listdir(plots_dir) if name.endswith(".png")) if os.path.isdir(plots_dir) else []
    )
    known = [(name, caption) for name, caption in PLOT_CAPTIONS if name in present]
    others = [(name, name) for name in present if name not in dict(PLOT_CAPTIONS)]
    title = f"emorecog evaluation: {report.get('target')} on the {report.get('split')} split"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_text(title)}</title>",
        "<style>",
        "body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}",
        "th,td{border:1px solid #bbb;padding:0.25em 0.7em;text-align:right}",
        "th:first-child,td:first-child{text-align:left}",
        "thead th{background:#eee}",
        "tr.model td{font-weight:bold}",
        "figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #ddd}",
        "figcaption{color:#555;font-size:0.9em}",
        ".blessed{color:#060}.not-blessed{color:#a00}",
        "</style></head><body>",
        f"<h1>{_text(title)}</h1>",
        f"<p>{_text(report.get('num_samples'))} trials; data: <code>{_text(report.get('data_dir'))}</code></p>",
        "<h2>Scores next to the baselines</h2>",
        _scores_table(report),
        _blessing(report.get("blessing")),
        _planted_window(report.get("planted_window")),
        "<h2>Per subject</h2>",
        _per_subject_table(report.get("per_subject") or {}),
        "<h2>Plots</h2>",
    ]
    for name, caption in known + others:
        source = f"{plots_dir_name}/{name}"
        parts.append(
            f'<figure><img src="{_text(source)}" alt="{_text(caption)}">'
            f"<figcaption>{_text(caption)}</figcaption></figure>"
        )
    if not known and not others:
        parts.append("<p>No plots were drawn.</p>")
    parts.append("</body></html>")
    path = os.path.join(output_dir, "report.html")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")
    return path


def _scores_table(report):
    rows = [("model", report, "model")]
    rows.append(("majority-class baseline (most common train label)", report.get("majority_baseline"), ""))
    rows.append(("classical baseline (band powers + logistic regression)", report.get("classical_baseline"), ""))
    uniform = report.get("uniform_k_baseline")
    if uniform:
        rows.append(
            (f"uniform-K baseline (the model reading {uniform.get('glimpses')} evenly spaced frames)", uniform, "")
        )
    header = "".join(f"<th>{_text(label)}</th>" for _, label in SCORES)
    body = []
    for name, scores, css in rows:
        if not scores or scores.get("available", True) is False:
            reason = (scores or {}).get("reason", "not computed")
            body.append(f'<tr><td>{_text(name)}</td><td colspan="{len(SCORES)}">n/a ({_text(reason)})</td></tr>')
            continue
        cells = "".join(f"<td>{_number(scores.get(key))}</td>" for key, _ in SCORES)
        body.append(f'<tr class="{css}"><td>{_text(name)}</td>{cells}</tr>')
    glimpses = (report.get("glimpses") or {}).get("mean")
    note = f"<p>Mean glimpses per trial: {_number(glimpses, 2)}</p>" if glimpses is not None else ""
    return (
        f"<table><thead><tr><th>{_text(report.get('split'))} split</th>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{note}"
    )


def _blessing(blessing):
    if not blessing:
        return ""
    css = "blessed" if blessing.get("blessed") else "not-blessed"
    verdict = "blessed" if blessing.get("blessed") else "not blessed"
    reasons = "; ".join(str(reason) for reason in blessing.get("reasons", []))
    return (
        f'<p class="{css}">Blessing (read on the {_text(blessing.get("split"))} split): <b>{verdict}</b>'
        f"{' &mdash; ' + _text(reasons) if reasons else ''}</p>"
    )


def _planted_window(planted):
    if not planted or planted.get("glimpses_inside_fraction") is None:
        return ""
    return (
        "<p>Synthetic data: share of glimpses inside the planted window "
        f"{_number(planted['glimpses_inside_fraction'])} (chance {_number(planted.get('chance_fraction'))}); "
        f"trials with a glimpse in it {_number(planted.get('trials_glimpsed_fraction'))}.</p>"
    )


def _per_subject_table(per_subject):
    if not per_subject:
        return "<p>No per-subject figures.</p>"
    body = []
    for subject in sorted(per_subject):
        scores = per_subject[subject]
        body.append(
            f"<tr><td>{_text(subject)}</td><td>{_text(scores.get('num_samples'))}</td>"
            f"<td>{_number(scores.get('accuracy'))}</td>"
            f"<td>{_number(scores.get('majority_baseline_accuracy'))}</td>"
            f"<td>{_number(scores.get('f1_macro'))}</td>"
            f"<td>{_number(scores.get('majority_baseline_f1_macro'))}</td></tr>"
        )
    return (
        "<table><thead><tr><th>subject</th><th>trials</th><th>CR</th><th>majority CR</th>"
        f"<th>macro F1</th><th>majority macro F1</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _number(value, digits=3):
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def _text(value):
    return html.escape(str(value), quote=True)
