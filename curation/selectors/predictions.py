"""Reads over model outputs: an image's predictions for its page and the API."""

from __future__ import annotations

from typing import Any

from curation.models import Image, ModelArtifact, Prediction, Synset


def image_predictions_api(image: Image) -> list[dict[str, Any]]:
    rows = Prediction.objects.filter(image=image).select_related("model")
    return [
        {
            "model": p.model.name,
            "active": p.model.active,
            "top5": p.top5,
            "synset_scores": p.synset_scores,
            "error": p.error,
            "created_at": p.created_at,
        }
        for p in rows.order_by("-model__active", "model__name")
    ]


def image_predictions_view(image: Image) -> list[dict[str, Any]]:
    """Predictions with lemmas for the page: the active model first."""
    preds = list(
        Prediction.objects.filter(image=image)
        .select_related("model")
        .order_by("-model__active", "model__name")
    )
    wnids = {w for p in preds for w, _ in p.top5} | {w for p in preds for w in p.synset_scores}
    names = {
        s.wnid: (s.lemma, s.name)
        for s in Synset.objects.filter(wnid__in=wnids).only("wnid", "name", "lemmas")
    }
    out = []
    for p in preds:
        out.append(
            {
                "model": p.model,
                "error": p.error,
                "created_at": p.created_at,
                "top5": [
                    {
                        "wnid": w,
                        "lemma": names.get(w, (w, w))[0],
                        "name": names.get(w, (w, w))[1],
                        "prob": prob,
                        "pct": round(100 * float(prob), 1),
                    }
                    for w, prob in p.top5
                ],
                "scores": [
                    {
                        "wnid": w,
                        "lemma": names.get(w, (w, w))[0],
                        "score": score,
                        "pct": None if score is None else round(100 * float(score), 1),
                    }
                    for w, score in sorted(p.synset_scores.items())
                ],
            }
        )
    return out


def models_overview() -> list[dict[str, Any]]:
    from django.db.models import Count

    counts = dict(Prediction.objects.values_list("model_id").annotate(n=Count("id")).order_by())
    return [
        {"model": m, "predictions": counts.get(m.pk, 0), "classes": len(m.classes)}
        for m in ModelArtifact.objects.order_by("-active", "name")
    ]
