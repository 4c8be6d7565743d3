"""Ingest candidate images: the one entry point the `ingest` command, the upload page and the
imports API all use, `ingest_start`.

    ingest_start(*, source, synset=None, source_name="", created_by=None, inline=False,
                 trusted=True, cleanup=False, on_progress=None) -> Job

`source` is a folder (one subfolder per synset, named by wnid or synset name, or flat with
`synset`), a .zip/.tar/.tar.gz archive, one image, a URL-list file or a CSV manifest. The job
(kind `ingest`, queue `cpu`) is planned into IngestItem rows and chunks of INGEST_CHUNK_SIZE
items; each chunk is one idempotent Celery task. Follower jobs from
`curation.services.pipeline.after_ingest` start when the ingest succeeds.

Raises IngestSourceError (the source cannot be used; nothing was created) or SynsetLookupError
(the `synset` is unknown; its message lists close matches).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from curation.ingest.sources import SourceError, SourceInfo, detect_source
from curation.models import Job, Synset
from curation.services.jobs import job_create, job_dispatch_on_commit, job_run_inline
from curation.services.synsets import SynsetLookupError, synsets_resolve

__all__ = [
    "IngestSourceError",
    "SynsetLookupError",
    "ingest_check_server_path",
    "ingest_start",
    "ingest_work_dir",
    "ingest_work_sweep",
]

JOB_KIND = "ingest"


class IngestSourceError(Exception):
    """The source cannot be ingested (missing, unreadable, of an unknown kind, not allowed)."""


def ingest_work_dir(job: Job) -> Path:
    """Scratch space of one ingest job (archive extraction), removed when the job succeeds."""
    return Path(settings.DATA_ROOT) / "ingest" / "jobs" / str(job.pk)


def ingest_work_sweep() -> int:
    """Remove scratch folders of ingest jobs that ended without finalizing (failed, cancelled)."""
    root = Path(settings.DATA_ROOT) / "ingest" / "jobs"
    if not root.exists():
        return 0
    ids = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
    ended = set(
        Job.objects.filter(pk__in=ids, status__in=Job.FINISHED).values_list("pk", flat=True)
    )
    gone = set(ids) - set(Job.objects.filter(pk__in=ids).values_list("pk", flat=True))
    for job_id in ended | gone:
        shutil.rmtree(root / str(job_id), ignore_errors=True)
    return len(ended | gone)


def ingest_check_server_path(path: str) -> Path:
    """A server path named through the web or API must lie under INGEST_SERVER_ROOTS."""
    resolved = Path(path).expanduser().resolve()
    for root in settings.INGEST_SERVER_ROOTS:
        root_path = Path(root).expanduser().resolve()
        if resolved == root_path or root_path in resolved.parents:
            return resolved
    roots = ", ".join(str(r) for r in settings.INGEST_SERVER_ROOTS) or "(none)"
    raise IngestSourceError(
        f"{path} is not under a folder the web and API may read (INGEST_SERVER_ROOTS: {roots}); "
        "upload the files, or run `manage.py ingest` on the server"
    )


def _resolve_synset(synset: str | None) -> Synset | None:
    if not synset:
        return None
    return synsets_resolve([synset])[0]


@transaction.atomic
def _create_job(
    info: SourceInfo,
    synset: Synset | None,
    source_name: str,
    created_by: Any,
    trusted: bool,
    cleanup: bool,
) -> Job:
    from curation.services.pipeline import after_ingest

    job = job_create(
        kind=JOB_KIND,
        params={
            "source": str(info.path),
            "kind": info.kind,
            "source_name": source_name,
            "synset": synset.wnid if synset else None,
            "synset_id": synset.pk if synset else None,
            "trusted": trusted,
            "cleanup": cleanup,
        },
        title=f"Ingest {source_name}"[:200],
        created_by=created_by,
    )
    for follower in after_ingest(job=job):
        if follower.pk is None:
            follower.parent = job
            follower.save()
        elif follower.parent_id is None:  # a follower of a follower keeps its own parent
            Job.objects.filter(pk=follower.pk).update(parent=job)
    return job


def ingest_start(
    *,
    source: str | Path,
    synset: str | None = None,
    source_name: str = "",
    created_by: Any = None,
    inline: bool = False,
    trusted: bool = True,
    cleanup: bool = False,
    on_progress: Callable[[Job], None] | None = None,
) -> Job:
    """Create an ingest job for `source` and run it here (`inline`) or on the `cpu` workers.

    `synset` (wnid or name) puts every item of a flat source into that synset (it also wins over
    subfolders). `source_name` is recorded on every candidate (default: the source's file or
    folder name). `trusted` sources (the command line) may name absolute paths in manifests;
    uploads and API sources are not trusted. `cleanup` removes the source when the job succeeds
    (staged uploads).
    """
    try:
        info = detect_source(source)
    except SourceError as exc:
        raise IngestSourceError(str(exc)) from exc
    target = _resolve_synset(synset)
    name = (source_name or info.name).strip()[:100] or info.kind
    job = _create_job(info, target, name, created_by, trusted, cleanup)
    ingest_work_sweep()
    if inline:
        return job_run_inline(job=job, on_progress=on_progress)
    job_dispatch_on_commit(job=job)
    return job
