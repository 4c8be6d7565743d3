"""Machine scores of candidates: the model's probability mass at or below a synset (WordNet
hierarchy via the closure table) and, for synsets the model has no class at or below, similarity
of the image's embedding to the synset's accepted images. numpy only (no torch): web processes
and consensus may call `similarity_scores_refresh` when positives appear.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db import transaction

from curation.models import Candidate, ModelArtifact, Prediction, Synset, SynsetClosure

SIMILARITY_TOP_K = 5
_CLASS_SYNSETS: dict[tuple[int, int], dict[int, int]] = {}


def class_synset_ids(model: ModelArtifact) -> dict[int, int]:
    """synset id -> class index for the model's classes (cached per process)."""
    key = (model.pk, len(model.classes))
    if key not in _CLASS_SYNSETS:
        ids = dict(Synset.objects.filter(wnid__in=model.classes).values_list("wnid", "pk"))
        _CLASS_SYNSETS.clear()
        _CLASS_SYNSETS[key] = {ids[w]: i for i, w in enumerate(model.classes) if w in ids}
    return _CLASS_SYNSETS[key]


def classes_under(model: ModelArtifact, synset_ids: Iterable[int]) -> dict[int, list[int]]:
    """synset id -> indices of the model's classes at or below it (one closure query)."""
    by_synset = class_synset_ids(model)
    out: dict[int, list[int]] = defaultdict(list)
    wanted = set(synset_ids)
    if not wanted:
        return {}
    rows = SynsetClosure.objects.filter(
        ancestor_id__in=wanted, descendant_id__in=list(by_synset)
    ).values_list("ancestor_id", "descendant_id")
    for ancestor_id, descendant_id in rows:
        out[ancestor_id].append(by_synset[descendant_id])
    return {k: sorted(v) for k, v in out.items()}


def hierarchy_scores(probs: np.ndarray, class_index: dict[int, list[int]]) -> dict[int, np.ndarray]:
    """synset id -> per-image sum of the probabilities of its classes (rows of `probs`)."""
    return {sid: np.clip(probs[:, idx].sum(axis=1), 0.0, 1.0) for sid, idx in class_index.items()}


def similarity_score(vector: np.ndarray, positives: np.ndarray) -> float | None:
    """Mean of the top-k cosine similarities to accepted images, clipped to 0..1."""
    if positives.size == 0:
        return None
    sims = positives @ vector
    k = min(SIMILARITY_TOP_K, len(sims))
    top = np.partition(sims, len(sims) - k)[-k:]
    return float(np.clip(top.mean(), 0.0, 1.0))


def positive_ids_by_synset(synset_ids: Iterable[int]) -> dict[int, list[int]]:
    """synset id -> image ids accepted for it or a hyponym (annotate's positive_images_under)."""
    from annotate.selectors.quality import positive_images_under

    out = {}
    for synset in Synset.objects.filter(pk__in=set(synset_ids)):
        ids = list(positive_images_under(synset))
        if ids:
            out[synset.pk] = ids
    return out


def similarity_scores_for(
    *,
    model: ModelArtifact,
    pairs: list[tuple[int, int]],
    vectors: dict[int, np.ndarray],
    positives: dict[int, list[int]] | None = None,
) -> dict[tuple[int, int], float]:
    """(image id, synset id) -> similarity score, for synsets that have accepted images."""
    from worker.embeddings import EmbeddingStore

    positives_by = (
        positives if positives is not None else positive_ids_by_synset(s for _, s in pairs)
    )
    if not positives_by:
        return {}
    all_pos = sorted({i for ids in positives_by.values() for i in ids})
    stored_ids, stored = EmbeddingStore.for_model(model.name).read(all_pos)
    row = {int(i): n for n, i in enumerate(stored_ids)}
    out: dict[tuple[int, int], float] = {}
    for image_id, synset_id in pairs:
        ids = [i for i in positives_by.get(synset_id, ()) if i != image_id and i in row]
        vec = vectors.get(image_id)
        if not ids or vec is None:
            continue
        score = similarity_score(np.asarray(vec, np.float32), stored[[row[i] for i in ids]])
        if score is not None:
            out[(image_id, synset_id)] = score
    return out


def candidate_scores_write(*, scores: dict[int, float | None]) -> int:
    """Candidate id -> machine score (bulk), then the annotation queue's order for them."""
    if not scores:
        return 0
    rows = [Candidate(pk=pk, machine_score=s) for pk, s in sorted(scores.items())]
    Candidate.objects.bulk_update(rows, ["machine_score"], batch_size=1000)
    _queue_priorities(scores)
    return len(rows)


def _queue_priorities(scores: dict[int, float | None]) -> None:
    """Queue rows nobody holds take the new order now (SKIP LOCKED, id order); the consensus
    job's full queue_sync catches the rest."""
    from annotate.models import QueueItem
    from annotate.services.queue import score_priority

    with transaction.atomic():
        items = list(
            QueueItem.objects.select_for_update(skip_locked=True)
            .filter(candidate_id__in=list(scores), open=True)
            .order_by("pk")
        )
        for item in items:
            item.priority = score_priority(scores[item.candidate_id])
        QueueItem.objects.bulk_update(items, ["priority"], batch_size=1000)


def similarity_scores_refresh(
    *, model: ModelArtifact | None = None, synset_ids: Iterable[int] | None = None
) -> dict[str, Any]:
    """Score candidates of synsets the model has no class at or below, from accepted images'
    embeddings. Call when positives appear (consensus, gold) and at the end of a pre-label job."""
    from worker.embeddings import EmbeddingStore

    model = model or ModelArtifact.objects.filter(active=True).first()
    if model is None:
        return {"scored": 0}
    cands = Candidate.objects.filter(
        image__predictions__model=model, image__predictions__has_embedding=True
    )
    if synset_ids is not None:
        cands = cands.filter(synset_id__in=list(synset_ids))
    synsets = set(cands.values_list("synset_id", flat=True).distinct())
    covered = classes_under(model, synsets)
    positives = positive_ids_by_synset(synsets - set(covered))
    if not positives:
        return {"scored": 0, "synsets": 0}
    rows = list(
        cands.filter(synset_id__in=list(positives)).values_list("pk", "image_id", "synset_id")
    )
    image_ids = sorted({i for _, i, _ in rows})
    ids, vecs = EmbeddingStore.for_model(model.name).read(image_ids)
    vectors = {int(i): v for i, v in zip(ids, vecs, strict=True)}
    pair_scores = similarity_scores_for(
        model=model, pairs=[(i, s) for _, i, s in rows], vectors=vectors, positives=positives
    )
    wnids = dict(Synset.objects.filter(pk__in=list(positives)).values_list("pk", "wnid"))
    by_image: dict[int, dict[str, float]] = defaultdict(dict)
    cand_scores: dict[int, float | None] = {}
    for pk, image_id, synset_id in rows:
        score = pair_scores.get((image_id, synset_id))
        if score is not None:
            by_image[image_id][wnids[synset_id]] = round(score, 6)
            cand_scores[pk] = score
    with transaction.atomic():
        preds = list(
            Prediction.objects.select_for_update()
            .filter(model=model, image_id__in=list(by_image))
            .order_by("pk")
        )
        for p in preds:
            p.synset_scores = {**p.synset_scores, **by_image[p.image_id]}
        Prediction.objects.bulk_update(preds, ["synset_scores"], batch_size=500)
    candidate_scores_write(scores=cand_scores)
    from curation.services.auto_reject import candidates_auto_reject

    rejected = candidates_auto_reject(candidate_ids=list(cand_scores))
    return {"scored": len(cand_scores), "synsets": len(positives), "auto_rejected": rejected}
