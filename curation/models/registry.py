"""Model registry: classifiers that can pre-label images (pretrained or trained here)."""

from __future__ import annotations

from django.db import models


class ModelArtifact(models.Model):
    class Kind(models.TextChoices):
        PRETRAINED = "pretrained", "pretrained (ImageNet-1k)"
        TRAINED = "trained", "trained in SynsetLab"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.PRETRAINED)
    architecture = models.CharField(max_length=64, help_text="e.g. efficientnet_lite0, resnet18")
    classes = models.JSONField(default=list, help_text="class index -> wnid")
    weights = models.CharField(
        max_length=500, blank=True, help_text="weights location: a path under DATA_ROOT or pkg:..."
    )
    input_size = models.PositiveSmallIntegerField(default=224)
    mean = models.JSONField(default=list, blank=True)
    std = models.JSONField(default=list, blank=True)
    embedding_dim = models.PositiveIntegerField(default=0)
    provenance = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=False, help_text="the pre-label model in use")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-active", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="one_active_model"
            ),
        ]

    def __str__(self) -> str:
        return self.name
