"""Pre-labelling jobs: start one (the work runs in worker.prelabel on the `gpu` queue)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from curation.models import Image, Job, ModelArtifact, Prediction, Synset
from curation.services.jobs import job_create, job_dispatch_on_commit, job_run_inline
from curation.services.models import model_get, model_register_default

CHUNK_SIZE = 256


class PrelabelError(ValueError):
    pass


def prelabel_images(*, model: ModelArtifact, synset: Synset | None = None) -> QuerySet[Image]:
    """Images without a prediction by `model` (optionally only a synset's candidates)."""
    qs = Image.objects.filter(
        ~Exists(Prediction.objects.filter(image_id=OuterRef("pk"), model=model))
    )
    if synset is not None:
        qs = qs.filter(candidates__synset=synset)
    return qs.order_by("pk")


def prelabel_start(
    *,
    model: ModelArtifact | str | None = None,
    synset: Synset | str | None = None,
    created_by: Any = None,
    inline: bool = False,
    chunk_size: int = CHUNK_SIZE,
    parent: Job | None = None,
    dispatch: bool = True,
) -> Job:
    """A `prelabel` job for images lacking a prediction by `model` (default: the active one).

    It runs here with `inline`, else on the gpu workers once the transaction commits; a follower
    (`parent` given) or `dispatch=False` job is only created (its starter sends it)."""
    default = model_register_default()
    if model is None:
        model = ModelArtifact.objects.filter(active=True).first() or default
    elif not isinstance(model, ModelArtifact):
        model = model_get(model)
    if synset is not None and not isinstance(synset, Synset):
        found = (
            Synset.objects.filter(wnid=synset).first() or Synset.objects.filter(name=synset).first()
        )
        if found is None:
            raise PrelabelError(f"unknown synset {synset!r}")
        synset = found
    if not 1 <= int(chunk_size) <= 10_000:
        raise PrelabelError("chunk size must be between 1 and 10,000")
    params = {
        "model_id": model.pk,
        "model": model.name,
        "synset": synset.wnid if synset else None,
        "chunk_size": int(chunk_size),
    }
    title = f"Pre-label with {model.name}" + (f" ({synset.name})" if synset else "")
    with transaction.atomic():
        job = job_create(
            kind="prelabel", params=params, title=title, created_by=created_by, parent=parent
        )
        if dispatch and not inline and parent is None:
            job_dispatch_on_commit(job=job)
    if inline:
        job = job_run_inline(job=job)
    return job
