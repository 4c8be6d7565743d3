"""The `prelabel` job (gpu queue): predictions, hierarchy-aware candidate scores and embeddings.

Plan: images lacking a Prediction by the job's model, in chunks of ids. A chunk decodes its images
in DataLoader worker processes, runs the model (worker.ml.predictor), appends the embeddings to
the model's float16 shards, upserts one Prediction per image (image x model is unique), writes the
candidates' machine scores and applies the synsets' auto-reject thresholds. Re-running a chunk
after a crash repeats the same upserts; its embeddings are appended again and the latest wins.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from curation.models import Candidate, Image, Job, JobChunk, ModelArtifact, Prediction, Synset
from curation.services.jobs import ChunkSpec, Progress, result_counts

BATCH_SIZE = int(os.environ.get("PRELABEL_BATCH_SIZE", "64"))
# Seconds spent per stage in this process (the benchmark reads them).
TIMINGS: dict[str, float] = {"decode_wait": 0.0, "model": 0.0, "write": 0.0, "images": 0.0}


def loader_workers() -> int | None:
    raw = os.environ.get("PRELABEL_NUM_WORKERS", "")
    return int(raw) if raw.strip() else None


def top5(probs: np.ndarray, classes: list[str]) -> list[list[Any]]:
    k = min(5, probs.shape[0])
    idx = np.argpartition(-probs, k - 1)[:k]
    idx = idx[np.argsort(-probs[idx])]
    return [[classes[i], round(float(probs[i]), 6)] for i in idx]


def predict_images(
    *, model: ModelArtifact, items: list[tuple[int, str]], progress: Progress | None = None
) -> tuple[list[int], np.ndarray, np.ndarray, dict[int, str]]:
    """(ok ids, probabilities, unit embeddings, {failed id: error}) for (id, storage key) pairs."""
    from worker.ml.loading import children_allowed, default_num_workers, image_loader
    from worker.ml.predictor import configure_threads, predictor_for

    predictor = predictor_for(model)
    if not predictor.cuda:  # on a GPU the torch CPU threads do not matter: skip the sampling
        configure_threads()
    workers = loader_workers()
    if workers is None:
        workers = default_num_workers(cuda=predictor.cuda)
    loader = image_loader(
        items,
        resize=predictor.prep.resize,
        size=predictor.prep.input_size,
        batch_size=BATCH_SIZE,
        num_workers=workers,
        pin_memory=predictor.cuda,
    )
    ok_ids: list[int] = []
    probs_parts: list[np.ndarray] = []
    emb_parts: list[np.ndarray] = []
    failed: dict[int, str] = {}
    waited = time.perf_counter()
    with children_allowed():
        batches = iter(loader)  # starts the decoding workers
    for ids, batch, errors in batches:
        started = time.perf_counter()
        TIMINGS["decode_wait"] += started - waited
        good = [n for n, e in enumerate(errors) if not e]
        for n, e in enumerate(errors):
            if e:
                failed[ids[n]] = e
        if good:
            probs, emb = predictor.predict(batch[good] if len(good) < len(ids) else batch)
            probs_parts.append(probs)
            emb_parts.append(emb)
            ok_ids.extend(ids[n] for n in good)
        waited = time.perf_counter()
        TIMINGS["model"] += waited - started
        if progress is not None:
            progress(len(ids), errors=len(ids) - len(good))
    dim = model.embedding_dim or (emb_parts[0].shape[1] if emb_parts else 0)
    probs_all = np.concatenate(probs_parts) if probs_parts else np.empty((0, len(model.classes)))
    emb_all = np.concatenate(emb_parts) if emb_parts else np.empty((0, dim), np.float32)
    return ok_ids, probs_all, emb_all, failed


def store_predictions(
    *,
    model: ModelArtifact,
    ok_ids: list[int],
    probs: np.ndarray,
    emb: np.ndarray,
    failed: dict[int, str],
) -> dict[str, int]:
    """Embeddings to shards, Prediction upserts, candidate scores, auto-reject."""
    from curation.services.auto_reject import candidates_auto_reject
    from curation.services.scoring import (
        candidate_scores_write,
        classes_under,
        hierarchy_scores,
        similarity_scores_for,
    )
    from worker.embeddings import EmbeddingStore

    started = time.perf_counter()
    if ok_ids:
        EmbeddingStore.for_model(model.name).append(ok_ids, emb)
    row = {image_id: n for n, image_id in enumerate(ok_ids)}
    cands = list(
        Candidate.objects.filter(image_id__in=ok_ids).values_list("pk", "image_id", "synset_id")
    )
    synset_ids = {s for _, _, s in cands}
    class_index = classes_under(model, synset_ids)
    wnids = dict(Synset.objects.filter(pk__in=synset_ids).values_list("pk", "wnid"))
    uncovered = [(i, s) for _, i, s in cands if s not in class_index]
    sim = (
        similarity_scores_for(
            model=model, pairs=uncovered, vectors={i: emb[row[i]] for i, _ in uncovered}
        )
        if uncovered
        else {}
    )
    hier = hierarchy_scores(probs, class_index) if len(ok_ids) else {}
    by_image: dict[int, dict[str, float | None]] = {i: {} for i in ok_ids}
    cand_scores: dict[int, float | None] = {}
    for pk, image_id, synset_id in cands:
        if synset_id in hier:
            score: float | None = float(hier[synset_id][row[image_id]])
        else:
            score = sim.get((image_id, synset_id))
        by_image[image_id][wnids[synset_id]] = None if score is None else round(score, 6)
        cand_scores[pk] = score
    preds = [
        Prediction(
            image_id=image_id,
            model=model,
            top5=top5(probs[row[image_id]], model.classes),
            synset_scores=by_image[image_id],
            has_embedding=True,
            error="",
        )
        for image_id in ok_ids
    ] + [
        Prediction(
            image_id=image_id, model=model, top5=[], synset_scores={}, has_embedding=False,
            error=error[:500],
        )
        for image_id, error in failed.items()
    ]  # fmt: skip
    Prediction.objects.bulk_create(
        preds,
        update_conflicts=True,
        unique_fields=["image", "model"],
        update_fields=["top5", "synset_scores", "has_embedding", "error"],
        batch_size=500,
    )
    candidate_scores_write(scores=cand_scores)
    rejected = candidates_auto_reject(candidate_ids=[pk for pk in cand_scores])
    TIMINGS["write"] += time.perf_counter() - started
    TIMINGS["images"] += len(ok_ids) + len(failed)
    return {"predicted": len(ok_ids), "failed": len(failed), "auto_rejected": rejected}


def prelabel_image_ids(
    *, model: ModelArtifact, image_ids: Iterable[int], progress: Progress | None = None
) -> dict[str, int]:
    """Predict and store for these images (any already predicted are predicted again)."""
    items = list(
        Image.objects.filter(pk__in=list(image_ids)).order_by("pk").values_list("pk", "storage_key")
    )
    ok_ids, probs, emb, failed = predict_images(model=model, items=items, progress=progress)
    return store_predictions(model=model, ok_ids=ok_ids, probs=probs, emb=emb, failed=failed)


class PrelabelHandler:
    def _model(self, job: Job) -> ModelArtifact:
        return ModelArtifact.objects.get(pk=job.params["model_id"])

    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        from curation.services.prelabel import prelabel_images

        synset = (
            Synset.objects.filter(wnid=job.params["synset"]).first()
            if job.params.get("synset")
            else None
        )
        size = int(job.params.get("chunk_size") or 256)
        ids: list[int] = []
        qs = prelabel_images(model=self._model(job), synset=synset).values_list("pk", flat=True)
        for pk in qs.distinct().iterator(chunk_size=10_000):
            ids.append(pk)
            if len(ids) >= size:
                yield ChunkSpec(payload={"image_ids": ids}, size=len(ids))
                ids = []
        if ids:
            yield ChunkSpec(payload={"image_ids": ids}, size=len(ids))

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        ids = list(chunk.payload["image_ids"])
        present = set(Image.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if len(present) < len(ids):  # deleted since planning: nothing to do for them
            progress(len(ids) - len(present))
        started = time.perf_counter()
        out = prelabel_image_ids(
            model=self._model(job), image_ids=sorted(present), progress=progress
        )
        seconds = time.perf_counter() - started
        progress(
            message=f"chunk {chunk.index + 1}: {out['predicted']} predicted, "
            f"{out['failed']} failed, {out['auto_rejected']} auto-rejected "
            f"({len(present) / max(seconds, 1e-9):.1f} img/s)"
        )

    def finalize(self, job: Job) -> dict[str, Any]:
        from curation.services.scoring import similarity_scores_refresh

        model = self._model(job)
        sim = similarity_scores_refresh(model=model)
        chunk_ids = job.chunks.values_list("payload", flat=True)
        image_ids = [i for payload in chunk_ids for i in payload.get("image_ids", [])]
        preds = Prediction.objects.filter(model=model, image_id__in=image_ids)
        failures = list(preds.exclude(error="").values_list("image_id", "error")[:20])
        return {
            "summary": {
                "model": model.name,
                "images": len(image_ids),
                "predicted": preds.filter(error="").count(),
                "failed": preds.exclude(error="").count(),
                "similarity_scored": sim.get("scored", 0),
                "auto_rejected_total": Candidate.objects.filter(decided_by="machine").count(),
            },
            "failures": [[i, e] for i, e in failures],
        }

    def summary(self, result: dict[str, Any]) -> str:
        counts = result_counts(result.get("summary", {}))
        counts.setdefault("model", "")
        return (
            "{model}: {predicted} of {images} images predicted, {failed} failed;"
            " {similarity_scored} similarity scores;"
            " {auto_rejected_total} candidates auto-rejected in all"
        ).format_map(counts)
