"""Reads for training-run pages: charts (server-side SVG), worst-confused pairs, example images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from curation import charts
from curation.models import DatasetVersion, Image, TrainingRun

HEATMAP_MAX_CLASSES = 20


def run_curves(run: TrainingRun) -> dict[str, SafeString]:
    rows = run.history or []

    def series(key: str) -> list[tuple[float, float]]:
        return [(r["epoch"], r[key]) for r in rows if isinstance(r.get(key), int | float)]

    return {
        "loss": mark_safe(
            charts.line_chart(
                {"train loss": series("train_loss"), "val loss": series("val_loss")},
                title="Loss per epoch",
                y_label="loss",
                y_min=0,
            )
        ),
        "accuracy": mark_safe(
            charts.line_chart(
                {"top-1": series("top1"), "top-5": series("top5")},
                title="Validation accuracy per epoch",
                y_label="accuracy",
                y_min=0,
                y_max=1,
            )
        ),
    }


def _labels(metrics: dict[str, Any]) -> list[str]:
    classes = metrics.get("classes") or []
    lemmas = metrics.get("lemmas") or []
    return [
        f"{lemmas[i]} ({w})" if i < len(lemmas) and lemmas[i] else w for i, w in enumerate(classes)
    ]


def confusion_subset(metrics: dict[str, Any], limit: int = HEATMAP_MAX_CLASSES) -> tuple[
    list[list[int]], list[int]
]:  # fmt: skip
    """The confusion matrix restricted to the `limit` most confused classes (all when few)."""
    n = int(metrics.get("num_classes") or len(metrics.get("classes") or []))
    triples = metrics.get("confusion_sparse") or []
    dense = metrics.get("confusion_matrix")
    if dense is None:
        dense_map = {(t, p): c for t, p, c in triples}
    else:
        dense_map = {(t, p): dense[t][p] for t in range(n) for p in range(n) if dense[t][p]}
    if n <= limit:
        keep = list(range(n))
    else:
        confused: dict[int, int] = {}
        for (t, p), c in dense_map.items():
            if t != p:
                confused[t] = confused.get(t, 0) + c
                confused[p] = confused.get(p, 0) + c
        keep = sorted(sorted(confused, key=lambda k: -confused[k])[:limit])
    return [[dense_map.get((t, p), 0) for p in keep] for t in keep], keep


def run_result_charts(run: TrainingRun) -> dict[str, Any]:
    metrics = run.metrics or {}
    if not metrics.get("per_class"):
        return {}
    labels = _labels(metrics)
    per_class = metrics["per_class"]
    bars = charts.grouped_bars(
        [(labels[c["index"]], (c["precision"], c["recall"], c["f1"])) for c in per_class],
        names=("precision", "recall", "F1"),
        title="Per-class precision, recall, F1 (validation)",
    )
    matrix, keep = confusion_subset(metrics)
    n = len(labels)
    title = (
        "Confusion matrix"
        if len(keep) == n
        else f"Confusion matrix: the {len(keep)} most confused of {n} classes"
    )
    heat = charts.heatmap(matrix, [labels[i] for i in keep], title=title)
    return {
        "bars": mark_safe(bars),
        "heatmap": mark_safe(heat),
        "heatmap_partial": len(keep) < n,
    }


def example_url(run: TrainingRun, sha256: str, image_ids: dict[str, int]) -> tuple[str, str]:
    """(thumbnail URL, link) for a misclassified example: the app's Image when it has one,
    else the file in the export directory."""
    if sha256 in image_ids:
        return f"/i/{sha256}/thumb", f"/curate/images/{image_ids[sha256]}/"
    url = f"/curate/runs/{run.pk}/examples/{sha256}"
    return url, url


def worst_pairs(run: TrainingRun) -> list[dict[str, Any]]:
    """Worst-confused class pairs, each with its misclassified examples (thumbnails)."""
    metrics = run.metrics or {}
    labels = _labels(metrics)
    examples = metrics.get("misclassified") or []
    shas = {e["sha256"] for e in examples if isinstance(e.get("sha256"), str)}
    image_ids = dict(Image.objects.filter(sha256__in=shas).values_list("sha256", "pk"))
    out = []
    for pair in metrics.get("worst_confused") or []:
        exs = []
        for e in examples:
            if e.get("true") == pair["true"] and e.get("pred") == pair["pred"]:
                thumb, link = example_url(run, e["sha256"], image_ids)
                exs.append({**e, "thumb": thumb, "link": link})
        out.append(
            {
                **pair,
                "true_label": labels[pair["true"]] if pair["true"] < len(labels) else "",
                "pred_label": labels[pair["pred"]] if pair["pred"] < len(labels) else "",
                "examples": exs,
            }
        )
    return out


def example_file(run: TrainingRun, sha256: str) -> Path | None:
    """The export file of one of this run's misclassified examples (never any other path)."""
    version: DatasetVersion = run.dataset_version
    root = Path(version.path).resolve()
    for e in (run.metrics or {}).get("misclassified") or []:
        if e.get("sha256") == sha256 and e.get("path"):
            p = (root / str(e["path"])).resolve()
            if p.is_relative_to(root) and p.is_file():
                return p
    return None


def runs_for_version(version: DatasetVersion) -> list[TrainingRun]:
    return list(version.training_runs.select_related("job")[:50])
