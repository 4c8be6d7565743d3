"""Exports: immutable, reproducible, leak-free DatasetVersions (layout: training/EXPORT_FORMAT.md).

`export_preview` counts without writing; `export_create` validates, records the version and runs
the `export` job (here with inline=True, else on the `cpu` queue); `export_verify` re-hashes a
version's files. The job writes into DATA_ROOT/exports/.tmp-<name>-<uuid>, verifies, and renames
the directory into place; any failure leaves no version directory and the version `failed`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from curation.models import DatasetVersion, Job
from curation.services.audit import audit_record
from curation.services.exports.checks import verify_directory
from curation.services.exports.config import (
    ExportConfigError,
    export_config_normalize,
    export_validate_name,
    export_validate_seed,
)
from curation.services.exports.job import (
    ExportHandler,
    export_sync_status,
    exports_sweep_temp,
    version_dir,
)
from curation.services.exports.selection import SPLITS, select_export, split_totals
from curation.services.jobs import job_create, job_dispatch_on_commit, job_run_inline

SPLITS_ORDER = SPLITS

__all__ = [
    "SPLITS_ORDER",
    "ExportConfigError",
    "ExportHandler",
    "export_create",
    "export_preview",
    "export_sync_status",
    "export_verify",
    "exports_sweep_temp",
    "version_dir",
]


def export_preview(*, config: dict[str, Any], seed: Any = None) -> dict[str, Any]:
    """Counts per class and split for a config (nothing written)."""
    cfg = export_config_normalize(config)
    seed_value = export_validate_seed(seed if seed is not None else config.get("seed"))
    sel = select_export(cfg, seed_value)
    return {
        "config": cfg,
        "seed": seed_value,
        "classes": [
            {"index": i, "wnid": w, "lemma": lemma, **sel.counts[w]}
            for i, (w, lemma) in enumerate(zip(sel.wnids, sel.lemmas, strict=True))
        ],
        "totals": {**split_totals(sel.counts), "images": sel.total},
        "splits": list(SPLITS),
        "report": sel.report,
    }


def export_create(
    *,
    name: Any,
    config: dict[str, Any],
    seed: Any = 0,
    created_by: Any = None,
    inline: bool = False,
) -> DatasetVersion:
    """Validate (specific errors per field), record the version and start its job."""
    errors: dict[str, str] = {}
    for check in (
        lambda: export_validate_name(name),
        lambda: export_config_normalize(config),
        lambda: export_validate_seed(seed),
    ):
        try:
            check()
        except ExportConfigError as exc:
            errors.update(exc.errors)
    if errors:
        raise ExportConfigError(errors)
    cfg = export_config_normalize(config)
    seed_value = export_validate_seed(seed)
    with transaction.atomic():
        version, job = _record(name, cfg, seed_value, created_by, dispatch=not inline)
    if inline:
        job_run_inline(job=job)
    version.refresh_from_db()
    return version


def _record(
    name: str, cfg: dict[str, Any], seed_value: int, created_by: Any, *, dispatch: bool
) -> tuple[DatasetVersion, Job]:
    version = DatasetVersion.objects.create(
        name=name,
        config=cfg,
        seed=seed_value,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    job = job_create(
        kind="export",
        params={"version": version.pk},
        title=f"Export {name}",
        created_by=created_by,
    )
    DatasetVersion.objects.filter(pk=version.pk).update(job=job)
    version.job = job
    audit_record(
        actor=created_by,
        action="export.create",
        target=version,
        summary=f"export {name} (seed {seed_value})",
        details={"config": cfg, "seed": seed_value, "job": job.pk},
    )
    if dispatch:
        job_dispatch_on_commit(job=job)
    return version, job


def export_verify(*, version: DatasetVersion, full: bool = True) -> dict[str, Any]:
    """Re-hash a version's files against dataset.json and the manifest."""
    directory = version_dir(version.name)
    if not directory.is_dir():
        return {"ok": False, "missing": [str(directory)], "extra": [], "changed": [], "checked": 0}
    return verify_directory(directory, full=full)


def export_job_for(version: DatasetVersion) -> Job | None:
    return Job.objects.filter(pk=version.job_id).first() if version.job_id else None
