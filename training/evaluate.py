"""Evaluation metrics from (true, predicted, top-5) arrays: pure torch, no Django."""

from __future__ import annotations

from typing import Any

import torch

DENSE_CONFUSION_MAX_CLASSES = 200


def confusion_matrix(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    idx = y_true.long() * num_classes + y_pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def summarize(
    *,
    classes: list[str],
    lemmas: list[str],
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    top5_hit: torch.Tensor,
    confidence: torch.Tensor,
    keys: list[str],
    paths: list[str],
    worst_pairs: int = 10,
    examples_per_pair: int = 4,
    max_examples: int = 40,
) -> dict[str, Any]:
    """top-1/5, per-class P/R/F1, confusion matrix, worst-confused pairs, misclassified images."""
    n = len(classes)
    total = int(y_true.numel())
    cm = confusion_matrix(y_true, y_pred, n)
    tp = cm.diag().double()
    support = cm.sum(1).double()
    predicted = cm.sum(0).double()
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(
        denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp)
    )
    per_class = [
        {
            "index": i, "wnid": classes[i], "lemma": lemmas[i] if i < len(lemmas) else "",
            "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
            "f1": round(float(f1[i]), 4), "support": int(support[i]),
        }
        for i in range(n)
    ]  # fmt: skip
    off = cm.clone()
    off.fill_diagonal_(0)
    nz = off.nonzero().tolist()
    pairs = sorted(
        ({"true": t, "pred": p, "count": int(off[t, p])} for t, p in nz),
        key=lambda d: (-d["count"], d["true"], d["pred"]),
    )
    for pair in pairs:
        pair["true_wnid"], pair["pred_wnid"] = classes[pair["true"]], classes[pair["pred"]]
        pair["rate"] = round(pair["count"] / max(1, int(support[pair["true"]])), 4)
    worst = pairs[:worst_pairs]
    wrong = (y_true != y_pred).nonzero().flatten().tolist()
    # Most confident mistakes first: those are the interesting ones (or label noise).
    wrong.sort(key=lambda i: -float(confidence[i]))
    examples: list[dict[str, Any]] = []
    taken: set[int] = set()
    for pair in worst:
        k = 0
        for i in wrong:
            if i not in taken and int(y_true[i]) == pair["true"] and int(y_pred[i]) == pair["pred"]:
                examples.append(_example(i, y_true, y_pred, confidence, keys, paths, classes))
                taken.add(i)
                k += 1
                if k >= examples_per_pair:
                    break
    for i in wrong:
        if len(examples) >= max_examples:
            break
        if i not in taken:
            examples.append(_example(i, y_true, y_pred, confidence, keys, paths, classes))
            taken.add(i)
    out: dict[str, Any] = {
        "num_classes": n,
        "num_val": total,
        "top1": round(float((y_true == y_pred).sum()) / max(1, total), 4),
        "top5": round(float(top5_hit.sum()) / max(1, total), 4),
        "per_class": per_class,
        "confusion_sparse": [[t, p, int(cm[t, p])] for t, p in cm.nonzero().tolist()],
        "worst_confused": worst,
        "misclassified": examples,
    }
    if n <= DENSE_CONFUSION_MAX_CLASSES:
        out["confusion_matrix"] = cm.tolist()
    return out


def _example(i, y_true, y_pred, confidence, keys, paths, classes) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "sha256": keys[i], "path": paths[i],
        "true": int(y_true[i]), "pred": int(y_pred[i]),
        "true_wnid": classes[int(y_true[i])], "pred_wnid": classes[int(y_pred[i])],
        "confidence": round(float(confidence[i]), 4),
    }  # fmt: skip
