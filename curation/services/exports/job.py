"""The `export` job: select, write into a temporary directory, verify, rename atomically.

One chunk does the whole version (a version is all or nothing); progress is reported per image.
A re-run chunk (its worker was killed) removes its predecessor's temporary directory and starts
over, so the outcome is a complete version or none. Stale temporary directories of finished or
vanished versions are removed by the next export.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone

from curation.models import Candidate, DatasetVersion, Job, JobChunk
from curation.services.exports.checks import leakage_report, verify_directory
from curation.services.exports.selection import SPLITS, select_export, split_totals
from curation.services.exports.writer import exports_root, sha256_file, write_files, write_json
from curation.services.jobs import ChunkSpec, Progress, job_fail, job_progress

ACTIVE = (DatasetVersion.Status.QUEUED, DatasetVersion.Status.RUNNING)


def version_dir(name: str) -> Path:
    return exports_root() / name


def _software_version() -> str:
    try:
        from importlib.metadata import version

        return version("synsetlab")
    except Exception:
        return "0.1.0"


def _git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except Exception:
        return ""


def exports_sweep_temp(*, name: str | None = None) -> list[str]:
    """Remove temporary directories of `name`, and of versions no longer being written."""
    root = exports_root()
    if not root.is_dir():
        return []
    active = set(DatasetVersion.objects.filter(status__in=ACTIVE).values_list("name", flat=True))
    removed = []
    for entry in os.scandir(root):
        if not entry.name.startswith(".tmp-"):
            continue
        owner = entry.name[len(".tmp-") :].rsplit("-", 1)[0]
        if owner == name or owner not in active:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def export_sync_status(version: DatasetVersion) -> DatasetVersion:
    """A version whose job failed or was cancelled outside the handler (worker lost) is failed."""
    if version.status in ACTIVE and version.job_id:
        job = Job.objects.filter(pk=version.job_id).first()
        if job is not None and job.status in (Job.Status.FAILED, Job.Status.CANCELLED):
            _fail(version.pk, job.error or f"the export job was {job.status}")
            version.refresh_from_db()
    return version


def _fail(version_id: int, error: str) -> None:
    version = DatasetVersion.objects.get(pk=version_id)
    exports_sweep_temp(name=version.name)
    final = version_dir(version.name)
    marker = final / "dataset.json"
    if final.is_dir() and marker.is_file():
        try:
            if json.loads(marker.read_text()).get("version_id") == version.pk:
                shutil.rmtree(final, ignore_errors=True)
        except (OSError, ValueError):
            pass
    DatasetVersion.objects.filter(pk=version_id).exclude(status=DatasetVersion.Status.READY).update(
        status=DatasetVersion.Status.FAILED, error=error[:10_000], finished_at=timezone.now()
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"disk full while writing the export: {exc}"
    if isinstance(exc, OSError):
        return f"file system error while writing the export: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _provenance(version: DatasetVersion) -> dict[str, Any]:
    """Which decisions and votes the exported classes rest on (accepted candidates)."""
    methods = dict(
        Candidate.objects.filter(
            state=Candidate.State.ACCEPTED,
            synset__wnid__in=list(version.counts),
        )
        .values_list("decided_by")
        .annotate(n=Count("id"))
        .order_by("decided_by")
    )
    votes = Candidate.objects.filter(
        state=Candidate.State.ACCEPTED, synset__wnid__in=list(version.counts)
    ).aggregate(yes=Sum("votes_yes"), no=Sum("votes_no"))
    yes, no = votes["yes"] or 0, votes["no"] or 0
    return {
        "accepted_by_method": {k or "unknown": v for k, v in methods.items()},
        "votes_yes": yes,
        "votes_no": no,
        "created_by": version.created_by.username if version.created_by else "",
        "software": {"synsetlab": _software_version(), "git_rev": _git_rev()},
    }


class ExportHandler:
    def plan(self, job: Job) -> Iterable[ChunkSpec]:
        yield ChunkSpec(payload={"version": job.params["version"]}, size=1)

    def run_chunk(self, job: Job, chunk: JobChunk, progress: Progress) -> None:
        version = DatasetVersion.objects.select_related("created_by").get(
            pk=chunk.payload["version"]
        )
        if version.status == DatasetVersion.Status.READY:
            return
        try:
            self._export(job, version, progress)
        except Exception as exc:
            from curation.services.jobs import JobCancelled

            if isinstance(exc, JobCancelled):
                _fail(version.pk, "cancelled")
                raise
            message = _describe(exc)
            _fail(version.pk, message)
            job_fail(job_id=job.pk, error=message)

    def finalize(self, job: Job) -> dict[str, Any]:
        version = DatasetVersion.objects.get(pk=job.params["version"])
        return {"version": version.name, "status": version.status, "path": version.path}

    def _export(self, job: Job, version: DatasetVersion, progress: Progress) -> None:
        root = exports_root()
        root.mkdir(parents=True, exist_ok=True)
        exports_sweep_temp(name=version.name)
        final = version_dir(version.name)
        if final.exists():  # a previous attempt renamed it, then died before recording it
            meta = final / "dataset.json"
            ours = meta.is_file() and json.loads(meta.read_text()).get("version_id") == version.pk
            if not ours:
                raise FileExistsError(f"{final} exists and is not this version's directory")
            shutil.rmtree(final)
        DatasetVersion.objects.filter(pk=version.pk).update(
            status=DatasetVersion.Status.RUNNING, error=""
        )
        cfg, started = version.config, time.monotonic()
        progress(0, message="selecting images and splits")
        sel = select_export(cfg, version.seed)
        job_progress(job.pk, total=sel.total)
        version.counts = sel.counts
        tmp = root / f".tmp-{version.name}-{uuid.uuid4().hex}"
        tmp.mkdir()
        progress(0, message=f"writing {sel.total:,} images")
        stats = write_files(tmp=tmp, sel=sel, cfg=cfg, progress=lambda n: progress(n))
        files = {
            name: sha256_file(tmp / name)
            for name in ("manifest.jsonl", "manifest.csv", "synsets.txt")
        }
        for shard in stats.shards:
            files[f"webdataset/{shard}"] = sha256_file(tmp / "webdataset" / shard)
        totals = split_totals(sel.counts)
        meta: dict[str, Any] = {
            "name": version.name,
            "version_id": version.pk,
            "config": cfg,
            "seed": version.seed,
            "classes": [
                {"index": i, "wnid": w, "lemma": lemma}
                for i, (w, lemma) in enumerate(zip(sel.wnids, sel.lemmas, strict=True))
            ],
            "counts": sel.counts,
            "totals": {**totals, "images": sel.total},
            "splits": [s for s in SPLITS if s != "test" or totals["test"]],
            "formats": cfg["formats"],
            "files": files,
            "manifest_sha256": files["manifest.jsonl"],
            "selection": sel.report,
            "write": {
                "hardlinks": stats.hardlinks,
                "copies": stats.copies,
                "shards": len(stats.shards),
                "shard_bytes": stats.bytes,
            },
            "provenance": _provenance(version),
            "created_at": timezone.now().isoformat(),
        }
        del sel
        progress(0, message="verifying (re-hashing) the written files")
        write_json(tmp / "dataset.json", meta)
        check = verify_directory(tmp, full=cfg.get("verify", "full") == "full")
        if not check["ok"]:
            raise RuntimeError(f"verification failed: {json.dumps(check)[:2000]}")
        progress(0, message="leakage check")
        leakage = leakage_report(tmp)
        meta["leakage"] = leakage
        write_json(tmp / "dataset.json", meta)
        hard = leakage["by_source"]["sha256"] + leakage["by_source"]["duplicate_groups"]
        if hard:  # pHash-only pairs are reported (not grouped by dedup yet); these never happen
            raise RuntimeError(
                f"leakage check found {hard} duplicate pairs across splits: "
                f"{json.dumps(leakage['by_source'])}"
            )
        os.replace(tmp, final)
        DatasetVersion.objects.filter(pk=version.pk).update(
            status=DatasetVersion.Status.READY,
            path=str(final),
            counts=meta["counts"],
            leakage=leakage,
            manifest_sha256=files["manifest.jsonl"],
            num_classes=len(meta["classes"]),
            num_images=meta["totals"]["images"],
            finished_at=timezone.now(),
            error="",
        )
        progress(0, message=f"ready in {time.monotonic() - started:.1f} s: {final}")
