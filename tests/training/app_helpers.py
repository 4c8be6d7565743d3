"""App-side helpers: a DatasetVersion row pointing at a sample export written under DATA_ROOT."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from curation.models import DatasetVersion
from tests.training.export_fixture import make_export

FAST_CONFIG = {"batch_size": 8, "workers": 0, "image_size": 32, "seed": 1}


def make_version(name: str = "sample-v1", **kwargs: object) -> DatasetVersion:
    path = make_export(Path(settings.DATA_ROOT) / "exports" / name, name=name, **kwargs)  # type: ignore[arg-type]
    meta = json.loads((path / "dataset.json").read_text())
    return DatasetVersion.objects.create(
        name=name,
        status=DatasetVersion.Status.READY,
        config=meta["config"],
        path=str(path),
        counts=meta["counts"],
        num_classes=len(meta["classes"]),
        num_images=sum(sum(c.values()) for c in meta["counts"].values()),
        manifest_sha256="0" * 64,
    )
