"""The `ingest` job: plan a source into IngestItem rows and chunks, run chunks, summarise.

Planning streams the source once (folders by scandir, archives entry by entry, lists line by
line) and COPYs item rows in batches, so memory stays flat at any size. A re-plan after a crash
starts over. A chunk processes only its items still pending and commits all its rows in one
transaction, so a chunk re-run after a worker death does its work exactly once.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from curation.db import bulk_insert_rows
from curation.ingest.archives import ArchiveBroken, iter_tar, iter_zip, remove_tree
from curation.ingest.entries import WNID_RE, Entry
from curation.ingest.limits import Limits
from curation.ingest.reasons import Reason
from curation.ingest.sources import (
    SourceInfo,
    iter_folder,
    iter_manifest,
    iter_single_image,
    iter_url_list,
)
from curation.models import IngestItem, Job, JobChunk, Synset
from curation.services.ingest import ingest_work_dir
from curation.services.jobs import ChunkSpec, Progress, job_progress
from curation.services.synsets import close_matches

logger = logging.getLogger(__name__)

ITEM_COLUMNS = (
    "job_id",
    "seq",
    "uri",
    "path",
    "url",
    "synset_id",
    "query",
    "status",
    "reason",
    "message",
    "image_id",
    "image_created",
    "candidate_created",
)
PLAN_FLUSH = 5000


class SynsetResolver:
    """Synset keys from a source (wnid, or name like dog.n.01) to ids, cached; unknown keys get
    one clear message with close matches."""

    def __init__(self, default_id: int | None) -> None:
        self.default_id = default_id
        self.cache: dict[str, tuple[int | None, str]] = {}

    def __call__(self, key: str | None) -> tuple[int | None, tuple[Reason, str] | None]:
        if key is None:
            if self.default_id is None:
                return None, (
                    Reason.NO_SYNSET,
                    "no synset for this item; name one (--synset) or give a wnid column",
                )
            return self.default_id, None
        if key not in self.cache:
            self.cache[key] = self._lookup(key)
        synset_id, message = self.cache[key]
        return (synset_id, None) if synset_id else (None, (Reason.UNKNOWN_SYNSET, message))

    def _lookup(self, key: str) -> tuple[int | None, str]:
        clean = key.strip()
        field = "wnid" if WNID_RE.match(clean.lower()) else "name"
        value = clean.lower() if field == "wnid" else clean
        found = Synset.objects.filter(**{field: value}).values_list("pk", flat=True).first()
        if found:
            return found, ""
        matches = close_matches(clean) if clean else []
        hint = f"; did you mean {', '.join(matches)}?" if matches else ""
        return None, (
            f"unknown synset {key!r}{hint} (name folders by wnid like n02084071 or by synset "
            "name like dog.n.01; nothing from it was ingested)"
        )


class _ItemWriter:
    """Buffers plan rows and COPYs them in batches."""

    def __init__(self, job: Job) -> None:
        self.job_id = job.pk
        self.rows: list[tuple[Any, ...]] = []

    def add(self, seq: int, entry: Entry, synset_id: int | None) -> None:
        reason, message = entry.error if entry.error else ("", "")
        status = IngestItem.Status.ERROR if entry.error else IngestItem.Status.PENDING
        self.rows.append(
            (
                self.job_id,
                seq,
                entry.uri,
                entry.path if not entry.error else "",
                entry.url if not entry.error else "",
                synset_id if not entry.error else None,
                entry.query[:255],
                status,
                str(reason),
                message,
                None,
                False,
                False,
            )
        )
        if len(self.rows) >= PLAN_FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            bulk_insert_rows(IngestItem, ITEM_COLUMNS, self.rows)
            self.rows = []


def _merge_result(job_id: int, extra: dict[str, Any]) -> None:
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job_id)
        job.result = {**job.result, **extra}
        job.save(update_fields=["result"])


def source_entries(job: Job, counters: dict[str, int]) -> Iterator[Entry]:
    """The source's entries; a broken archive ends with one error entry saying where it broke."""
    params = job.params
    info = SourceInfo(params["kind"], Path(params["source"]), params.get("source_name", ""))
    per_synset = not params.get("synset_id")

    def ignored() -> None:
        counters["ignored"] = counters.get("ignored", 0) + 1

    if info.kind == "folder":
        yield from iter_folder(info.path, per_synset=per_synset, on_ignored=ignored)
    elif info.kind == "image":
        yield from iter_single_image(info.path)
    elif info.kind == "url_list":
        yield from iter_url_list(info.path)
    elif info.kind == "manifest":
        yield from iter_manifest(info.path, trusted=bool(params.get("trusted")))
    elif info.is_archive:
        work = ingest_work_dir(job) / "extracted"
        remove_tree(work)  # a re-plan starts from scratch
        work.mkdir(parents=True, exist_ok=True)
        reader = iter_zip if info.kind == "zip" else iter_tar
        limits = Limits.from_settings()
        try:
            yield from reader(info.path, work, limits, per_synset=per_synset, on_ignored=ignored)
        except ArchiveBroken as exc:
            yield Entry(uri=info.path.name, error=(exc.reason, exc.message))
    else:
        raise ValueError(f"unknown source kind {info.kind!r}")


class IngestHandler:
    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        # A re-plan (the planner died) starts over: nothing has run yet.
        IngestItem.objects.filter(job=job).delete()
        JobChunk.objects.filter(job=job).delete()
        resolver = SynsetResolver(job.params.get("synset_id"))
        writer = _ItemWriter(job)
        counters: dict[str, int] = {}
        file_chunk = max(1, settings.INGEST_CHUNK_SIZE)
        url_chunk = max(1, settings.INGEST_URL_CHUNK_SIZE)
        seq = first = urls = 0
        job_progress(job.pk, message="reading the source")
        for entry in source_entries(job, counters):
            synset_id = None
            if entry.error is None:
                synset_id, problem = resolver(entry.synset_key)
                if problem:
                    entry.error = problem
            writer.add(seq, entry, synset_id)
            seq += 1
            urls += bool(entry.url and not entry.error)
            if seq - first >= file_chunk or urls >= url_chunk:
                yield ChunkSpec(payload={"first": first, "last": seq - 1}, size=seq - first)
                first, urls = seq, 0
            if seq % 20_000 == 0:
                writer.flush()
                job_progress(job.pk, message=f"reading the source: {seq:,} items so far")
        writer.flush()
        if seq > first:
            yield ChunkSpec(payload={"first": first, "last": seq - 1}, size=seq - first)
        _merge_result(job.pk, {"ignored": counters.get("ignored", 0), "items": seq})
        job_progress(job.pk, message=f"{seq:,} items to ingest")

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        from curation.services.ingest.chunk import ingest_chunk_run

        ingest_chunk_run(
            job=job, first=chunk.payload["first"], last=chunk.payload["last"], progress=progress
        )

    def finalize(self, job: Job) -> dict[str, Any]:
        from curation.selectors.ingest import ingest_summary

        summary = ingest_summary(job)
        if job.params.get("kind") in ("zip", "tar"):
            remove_tree(ingest_work_dir(job) / "extracted")
        if job.params.get("cleanup"):
            _remove_staged_source(Path(job.params["source"]))
        message = (
            f"{summary['seen']:,} seen · {summary['new_images']:,} new images · "
            f"{summary['new_candidates']:,} new candidates · "
            f"{summary['already_known']:,} already known · {summary['errors']:,} errors"
        )
        Job.objects.filter(pk=job.pk).update(message=message)
        return {"summary": summary, "report_url": f"/curate/ingest/{job.pk}/errors.csv"}


def _remove_staged_source(source: Path) -> None:
    """Remove a staged upload's whole staging area (only ever under DATA_ROOT/ingest/uploads)."""
    uploads = (Path(settings.DATA_ROOT) / "ingest" / "uploads").resolve()
    target = source.resolve()
    while target.parent != uploads and uploads in target.parents:
        target = target.parent
    if target.parent == uploads:
        shutil.rmtree(target, ignore_errors=True)
