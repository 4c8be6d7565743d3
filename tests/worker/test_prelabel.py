"""Pre-labelling on a real Celery worker over the sample set plus real photos, ingested through
the real ingest service: right classes, hierarchy scores, embeddings, idempotence, a killed
worker, a corrupt stored file."""

from __future__ import annotations

import io
import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage

from curation.models import Candidate, Image, Job, Prediction, SynsetClosure
from curation.services.models import model_active, model_register_default
from curation.services.prelabel import prelabel_start
from tests.conftest import WorkerProcess, purge_queues, wait_for
from tests.worker.prelabel_helpers import (
    CAT_CLASSES,
    COFFEE_CLASSES,
    DOMESTIC_CAT,
    SAMPLE,
    full_probs,
    image_for,
    ingest_folder,
    write_photos,
)


def _fresh_embeddings() -> None:
    """The worker shares this session's DATA_ROOT: start from no shards for the default model."""
    from worker.embeddings import EmbeddingStore

    shutil.rmtree(EmbeddingStore.for_model(model_register_default().name).dir, ignore_errors=True)


def _finish(job: Job, worker: WorkerProcess, timeout: float = 300) -> Job:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout, what=worker.output()[-3000:])
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, (job.error, worker.output()[-3000:])
    return job


def test_worker_prelabels_sample_set_and_photos(
    celery_worker: WorkerProcess, tmp_path: Path
) -> None:
    from worker.embeddings import EmbeddingStore

    _fresh_embeddings()
    photos = write_photos(tmp_path / "photos")
    ingest_folder(tmp_path / "photos")
    ingest_folder(SAMPLE, "sample")
    n_images = Image.objects.count()
    assert n_images >= 300
    # Hostile: one stored original is damaged after ingest (bit rot, a bad copy).
    photo_ids = [image_for(p).pk for p in photos.values()]
    victim = Image.objects.exclude(pk__in=photo_ids).order_by("pk").first()
    default_storage.delete(victim.storage_key)
    default_storage.save(victim.storage_key, io.BytesIO(b"\xff\xd8\xff garbage"))

    job = prelabel_start(chunk_size=128)
    assert job.queue == "gpu" and job.kind == "prelabel"
    job = _finish(job, celery_worker)
    model = model_active()
    assert (job.done, job.total, job.errors) == (n_images, n_images, 1)
    assert Prediction.objects.filter(model=model).count() == n_images
    summary = job.result["summary"]
    assert (summary["predicted"], summary["failed"]) == (n_images - 1, 1)
    assert job.message.startswith(
        f"{model.name}: {n_images - 1:,} of {n_images:,} images predicted, 1 failed;"
    )

    bad = Prediction.objects.get(image=victim, model=model)
    assert bad.error.startswith("cannot decode") and bad.top5 == [] and not bad.has_embedding

    # Right classes for clear photos.
    cat = Prediction.objects.get(image=image_for(photos["chelsea"]), model=model)
    assert cat.top5[0][0] in CAT_CLASSES, cat.top5
    coffee = Prediction.objects.get(image=image_for(photos["coffee"]), model=model)
    assert coffee.top5[0][0] in COFFEE_CLASSES, coffee.top5
    assert all(a[1] >= b[1] for a, b in zip(cat.top5, cat.top5[1:], strict=False))

    # Hierarchy score = the summed probabilities of the model's classes at or below the synset.
    probs = full_probs(model, photos["chelsea"])
    below = set(
        SynsetClosure.objects.filter(ancestor__wnid=DOMESTIC_CAT).values_list(
            "descendant__wnid", flat=True
        )
    )
    expected = float(sum(probs[i] for i, w in enumerate(model.classes) if w in below))
    assert {w for w in model.classes if w in below} >= CAT_CLASSES
    assert cat.synset_scores[DOMESTIC_CAT] == pytest.approx(expected, abs=2e-3)
    assert cat.synset_scores[DOMESTIC_CAT] > 0.9
    cand = Candidate.objects.get(image=image_for(photos["chelsea"]), synset__wnid=DOMESTIC_CAT)
    assert cand.machine_score == pytest.approx(cat.synset_scores[DOMESTIC_CAT], abs=1e-5)
    astro = Candidate.objects.get(image=image_for(photos["astronaut"]), synset__wnid=DOMESTIC_CAT)
    assert astro.machine_score < 0.05  # the astronaut is no cat
    # Every candidate of a predicted image has its synset scored (or null, with no class below).
    for p in Prediction.objects.filter(model=model, error="")[:50]:
        wnids = set(p.image.candidates.values_list("synset__wnid", flat=True))
        assert set(p.synset_scores) == wnids

    # Embeddings: float16 shards, one L2-normalised 1280-d row per predicted image.
    ids, vecs = EmbeddingStore.for_model(model.name).read()
    assert len(ids) == n_images - 1 and vecs.shape == (n_images - 1, 1280)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=2e-3)
    shard = next(EmbeddingStore.for_model(model.name).dir.glob("*[0-9].npy"))
    assert np.load(shard).dtype == np.float16

    # Idempotent: a second run finds nothing to do and adds no row.
    again = _finish(prelabel_start(), celery_worker)
    assert again.total == 0 and Prediction.objects.filter(model=model).count() == n_images


@pytest.mark.slow
def test_killed_worker_mid_prelabel_finishes_with_one_prediction_per_image(
    live_db, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from curation.services.jobs import jobs_sweep_stale

    _fresh_embeddings()
    ingest_folder(SAMPLE, "sample")
    n_images = Image.objects.count()
    purge_queues()
    job = prelabel_start(chunk_size=32)
    worker = WorkerProcess().start()
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).done >= 40, 300, what=worker.output()[-3000:])
        worker.kill()
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.done < n_images

    assert jobs_sweep_stale(stale_after=timedelta(seconds=0))["requeued"] == 1
    worker = WorkerProcess().start()
    try:
        job = _finish(job, worker)
    finally:
        worker.stop()
        purge_queues()
    assert (job.done, job.total, job.errors) == (n_images, n_images, 0)
    model = model_active()
    assert Prediction.objects.filter(model=model).count() == n_images
    assert Prediction.objects.filter(model=model, error="", has_embedding=True).count() == n_images
    from worker.embeddings import EmbeddingStore

    ids, _ = EmbeddingStore.for_model(model.name).read()
    assert sorted(ids.tolist()) == sorted(Image.objects.values_list("pk", flat=True))
