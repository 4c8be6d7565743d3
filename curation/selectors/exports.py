"""Reads for exports: versions with their job, downloadable files, a streamed tar, chart rows."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse

from curation.models import DatasetVersion
from curation.services.exports import SPLITS_ORDER, export_sync_status, version_dir

DOWNLOADS = {
    "manifest.jsonl": "application/x-ndjson",
    "manifest.csv": "text/csv",
    "synsets.txt": "text/plain",
    "dataset.json": "application/json",
}
TAR_NAME = "tar"


def export_versions() -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.select_related("job", "created_by").order_by("-created_at", "-id")


def export_version(name: str) -> DatasetVersion:
    version = export_versions().filter(name=name).first()
    if version is None:
        raise Http404("no such export")
    return export_sync_status(version)


def tar_stream(root: Path, prefix: str) -> Iterator[bytes]:
    """A tar of every file under root, file by file in 1 MiB blocks (never all in memory)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.stat()
            info = tarfile.TarInfo(f"{prefix}/{rel}")
            info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o644
            yield info.tobuf(format=tarfile.PAX_FORMAT)
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    yield block
            if st.st_size % 512:
                yield b"\0" * (512 - st.st_size % 512)
    yield b"\0" * 1024


def export_download(version: DatasetVersion, file: str) -> HttpResponse:
    """One of the version's small files, or (file == "tar") the whole version as a streamed tar."""
    if version.status != DatasetVersion.Status.READY:
        raise Http404("this export is not ready")
    root = version_dir(version.name)
    if file == TAR_NAME:
        response = StreamingHttpResponse(
            tar_stream(root, version.name), content_type="application/x-tar"
        )
        response["Content-Disposition"] = f'attachment; filename="{version.name}.tar"'
        return response
    if file not in DOWNLOADS:
        raise Http404("no such file")
    path = root / file
    if not path.is_file():
        raise Http404("file missing")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{version.name}-{file}",
        content_type=DOWNLOADS[file],
    )


def chart_rows(counts: dict[str, dict[str, int]], limit: int = 200) -> dict[str, Any]:
    """Rows for the stacked bar chart of counts per class and split (server-side SVG)."""
    rows = []
    peak = max((sum(r.values()) for r in counts.values()), default=0) or 1
    for i, (wnid, row) in enumerate(sorted(counts.items())[:limit]):
        x = 0.0
        segs = []
        for split in SPLITS_ORDER:
            n = row.get(split, 0)
            width = 420.0 * n / peak
            if n:
                segs.append({"split": split, "n": n, "x": round(x, 1), "w": round(width, 1)})
            x += width
        rows.append(
            {
                "wnid": wnid,
                "y": i * 22,
                "segs": segs,
                "total": sum(row.values()),
                "end": round(x, 1),
            }
        )
    return {"rows": rows, "height": len(rows) * 22 + 4, "more": max(0, len(counts) - limit)}
